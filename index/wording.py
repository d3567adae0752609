"""The one catalogue of how an answer is told, in English and Russian.

The core decides in codes: an abstention's `Reason` (a kind and the question's words it is about) and an
answer's `Note`s. This module words them, for every front end: `footnote ask` and `footnote chat`, the
`--json` fields `answer`, `reason` and `notes` (always English: the CLI contract), `--explain`, and the bot
(in the reader's language, with its own marks around the terms). The bot's own interface (greetings,
buttons, admin replies) is worded in bot/messages.py; nothing else words an answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from index.types import Note, Reason, ReasonKind

Language = Literal["en", "ru"]


@dataclass(frozen=True, slots=True)
class Wording:
    """An answer's words in one language. Reason templates take `{terms}` (the question's words, joined
    with `terms_or`) or `{what}` (the slot's noun)."""

    abstain: str
    reasons: dict[ReasonKind, str]
    slots: dict[str, str]
    terms_or: str
    notes: dict[Note, str]
    nearest: str
    sources: str
    note: str
    explain_header: str


EN = Wording(
    abstain="I don't find this in the articles.",
    reasons={
        "unknown_terms": "The articles do not mention {terms}.",
        "missing_terms": "The nearest articles do not mention {terms}.",
        "missing_slot": "The nearest articles do not give the {what} asked for.",
        "no_answer": (
            "The nearest articles are on this subject, but no sentence in them answers the question."
        ),
        "off_topic": "No article is close to this question.",
        "foreign_script": "The current model cannot read this question's language.",
    },
    slots={"number": "number", "money": "sum", "name": "name"},
    terms_or=" or ",
    notes={
        Note.FOREIGN_SCRIPT: (
            "The current model reads English only, so this question cannot be matched reliably. Ask in "
            "English, or ask an admin to switch to the multilingual model "
            "(FOOTNOTE_EMBEDDER=e5-multilingual)."
        ),
    },
    nearest="Nearest articles:",
    sources="Sources:",
    note="Note:",
    explain_header="Why these quotes (feature value, its part of the score):",
)

RU = Wording(
    abstain="Я не нахожу этого в статьях.",
    reasons={
        "unknown_terms": "В статьях нет упоминаний: {terms}.",
        "missing_terms": "В ближайших статьях нет упоминаний: {terms}.",
        "missing_slot": "В ближайших статьях нет {what}.",
        "no_answer": "Ближайшие статьи на эту тему, но ни одно предложение в них не отвечает на вопрос.",
        "off_topic": "Ни одна статья не близка к этому вопросу.",
        "foreign_script": "Текущая модель не читает язык этого вопроса.",
    },
    slots={
        "number": "числа, о котором спрошено",
        "money": "суммы, о которой спрошено",
        "name": "имени, о котором спрошено",
    },
    terms_or=" или ",
    notes={
        Note.FOREIGN_SCRIPT: (
            "Текущая модель понимает только английский, поэтому этот вопрос нельзя надёжно сопоставить "
            "со статьями. Спросите по-английски или попросите администратора включить многоязычную модель "
            "(FOOTNOTE_EMBEDDER=e5-multilingual)."
        ),
    },
    nearest="Ближайшие статьи:",
    sources="Источники:",
    note="Примечание:",
    explain_header="Почему эти цитаты (значение признака, его доля в оценке):",
)

WORDINGS: dict[Language, Wording] = {"en": EN, "ru": RU}


def wording(language: Language = "en") -> Wording:
    """The catalogue of one language."""
    return WORDINGS[language]


def reason_text(reason: Reason, language: Language = "en", mark: Callable[[str], str] = str) -> str:
    """Why an answer abstained, in one language; `mark` dresses each of the question's words (the bot
    quotes and escapes them)."""
    words = wording(language)
    shown = [mark(term) for term in reason.terms]
    listed = words.terms_or.join((", ".join(shown[:-1]), shown[-1])) if len(shown) > 1 else "".join(shown)
    what = words.slots.get(reason.terms[0], reason.terms[0]) if reason.terms else ""
    return words.reasons[reason.kind].format(terms=listed, what=what)


def note_text(note: Note, language: Language = "en") -> str:
    """An answer's note in one language."""
    return wording(language).notes[note]
