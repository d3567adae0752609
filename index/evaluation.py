"""Measuring answers against question files: recall of gold sentences, MRR, quote precision, abstention.

A question file has one JSON object per line: `{"id", "question", "gold": [sentences], "expect"?}`;
`"expect": "abstain"` marks a question the articles cannot answer. A gold sentence counts as found in
a passage or an answer when it appears there, compared with whitespace folded and case ignored.
Instead of sentences, `"gold_docs": [doc_id]` judges at article level (any passage of that article);
`"context"` is the previous question of a conversation, for follow-up questions; `"split"` ("dev" or
"test") puts the question in a split, and every metric is then also reported per split; `"doc"` names
the article the question was written from (information only).

A quote is precise when it holds a gold sentence (or is part of one) or sits directly before or after
one in its article: the reader may quote the sentence that completes the answer, not a stray one.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass
from pathlib import Path

from index.errors import FootnoteError, InputError
from index.query.followup import Conversation
from index.types import Answer, Quote
from index.wording import reason_text

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    """One line of a question file."""

    id: str
    question: str
    gold: tuple[str, ...]
    _: KW_ONLY
    expect_abstain: bool
    gold_docs: tuple[str, ...] = ()
    context: str | None = None
    split: str | None = None
    doc: str | None = None


@dataclass(frozen=True, slots=True)
class EvalResult:
    """How Footnote did on one question."""

    question: EvalQuestion
    first_gold_rank: int | None
    gold_in_top: dict[int, float]
    answer_recall: float | None
    seconds: float
    _: KW_ONLY
    abstained: bool
    quote_precision: float | None = None
    reason: str | None = None
    # Whether the answer's first quote [1] holds (or is part of) a gold sentence; None without gold.
    first_quote_gold: bool | None = None

    @property
    def abstention_correct(self) -> bool:
        """Abstained exactly when the question expects it."""
        return self.abstained == self.question.expect_abstain


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Aggregates over a question file."""

    results: tuple[EvalResult, ...]
    ks: tuple[int, ...]

    def _answerable(self) -> list[EvalResult]:
        return [
            r
            for r in self.results
            if not r.question.expect_abstain and (r.question.gold or r.question.gold_docs)
        ]

    def splits(self) -> list[str]:
        """The splits the questions name, in first-seen order (empty when the file has none)."""
        return list(dict.fromkeys(r.question.split for r in self.results if r.question.split))

    def split(self, name: str) -> EvalReport:
        """The report restricted to one split."""
        return EvalReport(tuple(r for r in self.results if r.question.split == name), self.ks)

    def metrics(self) -> dict[str, float]:
        """recall@k (gold sentences in the top k passages), hit@k, MRR@10, answer recall, abstention,
        quote precision, the share of unanswerable questions abstained on and of answerable ones
        wrongly abstained on."""
        answerable = self._answerable()
        unanswerable = [r for r in self.results if r.question.expect_abstain]
        out: dict[str, float] = {"questions": float(len(self.results)), "answerable": float(len(answerable))}
        for k in self.ks:
            out[f"recall@{k}"] = _mean(r.gold_in_top[k] for r in answerable)
            out[f"hit@{k}"] = _mean(float(r.gold_in_top[k] > 0) for r in answerable)
        out["mrr@10"] = _mean(
            (1.0 / r.first_gold_rank if r.first_gold_rank and r.first_gold_rank <= 10 else 0.0)
            for r in answerable
        )
        out["answer_recall"] = _mean(r.answer_recall for r in answerable if r.answer_recall is not None)
        out["all_gold_quoted"] = _mean(
            float(r.answer_recall == 1.0) for r in answerable if r.answer_recall is not None
        )
        out["first_quote_gold"] = _mean(
            float(bool(r.first_quote_gold)) for r in answerable if r.first_quote_gold is not None
        )
        out["abstention_accuracy"] = _mean(float(r.abstention_correct) for r in self.results)
        out["quote_precision"] = _mean(r.quote_precision for r in self.results)
        out["unanswerable"] = float(len(unanswerable))
        out["abstention_rate"] = _mean(float(r.abstained) for r in unanswerable)
        out["false_abstention"] = _mean(float(r.abstained) for r in answerable)
        out["median_ms"] = statistics.median(r.seconds * 1000 for r in self.results) if self.results else 0.0
        return out


def read_questions(path: Path) -> list[EvalQuestion]:
    """Parse a question file, naming the line of any malformed entry."""
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({exc})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            question = str(row["question"]).strip()
            gold = tuple(str(g) for g in row.get("gold") or ())
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise FootnoteError(f"{path}: line {number} is not a question object ({exc})") from None
        if not question:
            raise FootnoteError(f"{path}: line {number} has an empty question")
        questions.append(
            EvalQuestion(
                str(row.get("id", number)),
                question,
                gold,
                expect_abstain=row.get("expect") == "abstain",
                gold_docs=tuple(str(d) for d in row.get("gold_docs") or ()),
                context=str(row["context"]) if row.get("context") else None,
                split=str(row["split"]) if row.get("split") else None,
                doc=str(row["doc"]) if row.get("doc") else None,
            )
        )
    return questions


def normalise(text: str) -> str:
    """Case-folded text with whitespace runs folded, for gold matching."""
    return _SPACE.sub(" ", text).strip().casefold()


def contains(haystack: str, needle: str) -> bool:
    """Whether a gold sentence appears in a text."""
    return normalise(needle) in normalise(haystack)


Neighbours = Callable[[Quote], tuple[str, ...]]
"""The texts of the units directly before and after a quote in its article."""


def judge(
    question: EvalQuestion,
    answer: Answer,
    seconds: float,
    ks: Iterable[int],
    neighbours: Neighbours | None = None,
) -> EvalResult:
    """Score one answer."""
    reason = reason_text(answer.reason) if answer.reason else None
    texts = [p.text for p in answer.passages]
    if question.gold_docs and not question.gold:
        docs = [p.doc_id for p in answer.passages]
        first = next((i for i, d in enumerate(docs, 1) if d in question.gold_docs), None)
        gold_in_top = {k: float(first is not None and first <= k) for k in ks}
        return EvalResult(
            question, first, gold_in_top, None, seconds, abstained=answer.abstained, reason=reason
        )
    first = next((i for i, t in enumerate(texts, 1) if any(contains(t, g) for g in question.gold)), None)
    gold_in_top = {
        k: (sum(any(contains(t, g) for t in texts[:k]) for g in question.gold) / len(question.gold))
        if question.gold
        else 0.0
        for k in ks
    }
    recall = None
    if question.gold:
        quoted = " ".join(q.text for q in answer.quotes)
        recall = sum(contains(quoted, g) for g in question.gold) / len(question.gold)
    precision = None
    if answer.quotes and (question.gold or question.expect_abstain):
        precise = [_is_gold(q.text, question.gold) for q in answer.quotes]
        if neighbours is not None:
            precise = [
                hit or any(_is_gold(text, question.gold) for text in neighbours(q))
                for q, hit in zip(answer.quotes, precise, strict=True)
            ]
        precision = sum(precise) / len(precise)
    return EvalResult(
        question,
        first,
        gold_in_top,
        recall,
        seconds,
        abstained=answer.abstained,
        quote_precision=precision,
        reason=reason,
        first_quote_gold=bool(answer.quotes) and _is_gold(answer.quotes[0].text, question.gold)
        if question.gold
        else None,
    )


def _is_gold(text: str, gold: tuple[str, ...]) -> bool:
    """Whether a text holds a gold sentence or is a piece of one."""
    return bool(normalise(text)) and any(contains(text, g) or contains(g, text) for g in gold)


def evaluate(
    questions: list[EvalQuestion],
    ask: Callable[[str, Conversation | None], Answer],
    ks: tuple[int, ...] = (1, 5),
    neighbours: Neighbours | None = None,
) -> EvalReport:
    """Ask every question and judge the answers. A question with a context (the previous question of a
    conversation) is asked after its context was: `ask` gets that turn."""
    import time

    results = []
    turns: dict[str, Conversation] = {}
    for question in questions:
        previous = None
        if question.context:
            # The reader asked the context first: its answer is what the follow-up continues.
            previous = turns.get(question.context)
            if previous is None:
                previous = Conversation.start(question.context, ask(question.context, None), 0.0)
                turns[question.context] = previous
        clock = time.perf_counter()
        answer = ask(question.question, previous)
        results.append(judge(question, answer, time.perf_counter() - clock, ks, neighbours))
    return EvalReport(tuple(results), ks)


def _mean(values: Iterable[float | None]) -> float:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else 0.0
