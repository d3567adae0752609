"""Follow-up questions: "and the informal ones?", "why?", "what about China?".

A short question that leans on the one before it (it opens with a connective such as "and" or "what
about", points back with a pronoun, or is only a word or two, like "why?") is searched together with
the previous question of the same reader; so is a longer one (up to `MAX_PERSONAL_WORDS` words) that
points back with a personal pronoun ("What did he say would happen next to the suspended midwives?").
A question that names nothing ("Was anybody hurt overnight?", `names_nothing`) is answered from the
previous answer's articles when a sentence there answers it well enough (the engine checks, so that
"What causes earthquakes?" after a question on insurers still stands alone). A question that stands on
its own starts afresh. The reader still sees their own words; only retrieval and quote
selection use the combined text.

A follow-up is answered from the articles the previous answer quoted (the reader is reading them), and
its quotes are chosen by its own meaning more than by its predecessor's: retrieval moves its vector away
from the previous question's (`retrieval.away_from`), so that the sentence that answered that question
does not win again merely for being closest to the conversation's topic. `plan` decides, once, how a
question is asked (`Plan`); the engine's later steps follow it.
"""

from __future__ import annotations

import re
from dataclasses import KW_ONLY, dataclass

from index.types import Answer

MAX_FOLLOW_UP_WORDS = 8
MAX_PERSONAL_WORDS = 14

_OPENERS = (
    # English
    "and", "but", "or", "so", "also", "then", "what about", "how about", "what else", "which ones",
    "anything else",
    # Russian and Belarusian
    "а", "и", "но", "или", "тогда", "а что", "а как", "что ещё", "что еще",
    "і", "ці", "а што", "а як",
)  # fmt: skip
_POINTER_LINES = (
    "it its they them their this that these those he she his her such latter former",
    "он она оно они его её ее их это этот эта эти тот та те там такой",
    "ён яна яно яны яго яе іх гэта гэты гэтыя той тая",
)
_POINTERS = frozenset(word for line in _POINTER_LINES for word in line.split())
# Personal pronouns point back even in a longer question; "that" or "this" there is often a relative
# pronoun or a determiner of the question's own subject.
_PERSONAL_LINES = (
    "it its they them their he she his her him",
    "он она они его её ее их",
    "ён яна яны яго яе іх",
)
_PERSONAL = frozenset(word for line in _PERSONAL_LINES for word in line.split())
_WORD = re.compile(r"\w+", re.UNICODE)


def is_follow_up(question: str) -> bool:
    """Whether a question probably continues the previous one rather than standing alone."""
    words = _WORD.findall(question.lower())
    if not words or len(words) > MAX_PERSONAL_WORDS:
        return False
    if len(words) > MAX_FOLLOW_UP_WORDS:
        return any(word in _PERSONAL for word in words)
    if len(words) <= 2:
        return True
    text = " ".join(words)
    if any(text == opener or text.startswith(opener + " ") for opener in _OPENERS):
        return True
    return any(word in _POINTERS for word in words)


def combine(question: str, previous: str | None) -> str:
    """The text to search for: the previous question joined to a follow-up, else the question alone."""
    if previous and is_follow_up(question):
        return f"{previous} {question}"
    return question


@dataclass(frozen=True, slots=True)
class Conversation:
    """The reader's previous turn, which a follow-up continues: the question as it was searched (a chain
    of follow-ups keeps its topic), where the answer's quotes were (`quoted`: doc_id and start of each; the
    engine answers a follow-up from those articles, next to those quotes, without answering again), and
    when (wall-clock seconds). The bot and the terminal chat both keep one per reader; an evaluation
    asks a question's context first (`Engine.turn`), as its reader did."""

    question: str
    quoted: tuple[tuple[str, int], ...] = ()
    at: float = 0.0

    def continues(self, now: float, window: float) -> bool:
        """Whether a question asked at `now` can still lean on this turn (the one definition of it)."""
        return now - self.at <= window

    def then(self, question: str, answer: Answer, now: float) -> Conversation:
        """The turn after this one: `question`, answered by `answer`."""
        return Conversation.start(question, answer, now, self)

    @staticmethod
    def start(
        question: str, answer: Answer, now: float, previous: Conversation | None = None
    ) -> Conversation:
        """A turn: `question` (joined to `previous` when it follows up), answered by `answer`."""
        searched = combine(question, previous.question if previous else None)
        quoted = tuple((quote.doc_id, quote.start) for quote in answer.quotes)
        return Conversation(searched, quoted, now)


def names_nothing(question: str) -> bool:
    """Whether a question names nothing: no capitalised word after its first and no digit ("What is the
    company doing tomorrow?"). Such a question is vague alone and may continue a conversation; the
    engine takes it for a follow-up only when the previous answer's articles answer it well enough."""
    words = question.split()
    named = any(word[:1].isupper() for word in words[1:]) or any(c.isdigit() for c in question)
    return bool(words) and not named


@dataclass(frozen=True, slots=True)
class Plan:
    """How a question is asked: alone, or continuing the previous turn. A continuation is searched as
    `search` (the previous question joined to it), narrowed to the articles of the previous answer's
    quotes (`quoted`), with its own vector moved away from the `previous` question's. `vague`: taken for
    a continuation only because it names nothing (it is read alone too, in case it starts afresh)."""

    question: str
    search: str | None = None
    previous: str | None = None
    quoted: tuple[tuple[str, int], ...] = ()
    _: KW_ONLY
    vague: bool = False


def plan(question: str, previous: Conversation | None, *, vague: bool) -> Plan:
    """Whether a question continues `previous` (the one definition of a follow-up); `vague`: whether a
    question that names nothing may continue it too."""
    follows = is_follow_up(question)
    unnamed = not follows and vague and names_nothing(question)
    if previous is None or not previous.question or not (follows or unnamed):
        return Plan(question)
    search = f"{previous.question} {question}"
    return Plan(question, search, previous.question, previous.quoted, vague=unnamed)
