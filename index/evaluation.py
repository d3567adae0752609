"""Measuring answers against question files: recall of gold sentences, MRR, abstention accuracy.

A question file has one JSON object per line: `{"id", "question", "gold": [sentences], "expect"?}`;
`"expect": "abstain"` marks a question the articles cannot answer. A gold sentence counts as found in
a passage or an answer when it appears there, compared with whitespace folded and case ignored.
Instead of sentences, `"gold_docs": [doc_id]` judges at article level (any passage of that article);
`"context"` is the previous question of a conversation, for follow-up questions.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass
from pathlib import Path

from index.errors import FootnoteError, InputError
from index.types import Answer

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

    def metrics(self) -> dict[str, float]:
        """recall@k (gold sentences in the top k passages), hit@k, MRR@10, answer recall, abstention."""
        answerable = self._answerable()
        out: dict[str, float] = {"questions": float(len(self.results)), "answerable": float(len(answerable))}
        for k in self.ks:
            out[f"recall@{k}"] = _mean(r.gold_in_top[k] for r in answerable)
            out[f"hit@{k}"] = _mean(float(r.gold_in_top[k] > 0) for r in answerable)
        out["mrr@10"] = _mean(
            (1.0 / r.first_gold_rank if r.first_gold_rank and r.first_gold_rank <= 10 else 0.0)
            for r in answerable
        )
        out["answer_recall"] = _mean(r.answer_recall for r in answerable if r.answer_recall is not None)
        out["abstention_accuracy"] = _mean(float(r.abstention_correct) for r in self.results)
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
            )
        )
    return questions


def normalise(text: str) -> str:
    """Case-folded text with whitespace runs folded, for gold matching."""
    return _SPACE.sub(" ", text).strip().casefold()


def contains(haystack: str, needle: str) -> bool:
    """Whether a gold sentence appears in a text."""
    return normalise(needle) in normalise(haystack)


def judge(question: EvalQuestion, answer: Answer, seconds: float, ks: Iterable[int]) -> EvalResult:
    """Score one answer."""
    texts = [p.text for p in answer.passages]
    if question.gold_docs and not question.gold:
        docs = [p.doc_id for p in answer.passages]
        first = next((i for i, d in enumerate(docs, 1) if d in question.gold_docs), None)
        gold_in_top = {k: float(first is not None and first <= k) for k in ks}
        return EvalResult(question, first, gold_in_top, None, seconds, abstained=answer.abstained)
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
    return EvalResult(question, first, gold_in_top, recall, seconds, abstained=answer.abstained)


def evaluate(
    questions: list[EvalQuestion], ask: Callable[[str, str | None], Answer], ks: tuple[int, ...] = (1, 5)
) -> EvalReport:
    """Ask every question (with its conversation context, if any) and judge the answers."""
    import time

    results = []
    for question in questions:
        clock = time.perf_counter()
        answer = ask(question.question, question.context)
        results.append(judge(question, answer, time.perf_counter() - clock, ks))
    return EvalReport(tuple(results), ks)


def _mean(values: Iterable[float | None]) -> float:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else 0.0
