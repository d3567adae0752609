"""Answer <-> JSON, the one serialiser: `footnote ask --json/--jsonl` prints it, and the bot stores answers
in it (data/answers/) so their buttons work on any replica.

The CLI contract only grows: the fields other tools read (`answer`, `quotes[].text/start/end`,
`passages[].rank/score`, `notes` in English...) keep their names and meaning; the fields needed to read an
answer back (`quotes[].score/date`, `passages[].chunk_no/dense/lexical`, `note_codes`) were added beside them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from index.query.engine import NOTE_TEXTS
from index.types import Answer, Note, Passage, Quote, Reason, ReasonKind


class QuoteOut(BaseModel):
    """A quote of the answer; `text == file_text[start:end]`."""

    n: int
    text: str
    doc_id: str
    start: int
    end: int
    title: str
    source: str | None
    score: float = 0.0
    date: str | None = None


class PassageOut(BaseModel):
    """A retrieved passage, best first; `text == file_text[start:end]`."""

    rank: int
    doc_id: str
    title: str
    source: str | None
    start: int
    end: int
    text: str
    score: float
    chunk_no: int = -1
    dense: float = 0.0
    lexical: float = 0.0


class ExplanationOut(BaseModel):
    """Why quote [n] was chosen (`footnote ask --explain`): the reader's score and its parts.

    `features` holds each feature's value; `contributions` what it added to the score (the model's
    weight times the standardised value); `score` is their sum plus the model's bias (log-odds). A
    follow-up's quote next to the previous answer's quotes carries `near_previous_answer` (value 1, its
    contribution the follow-up bonus)."""

    n: int
    score: float
    features: dict[str, float]
    contributions: dict[str, float]


class AnswerOut(BaseModel):
    """An answer as JSON (one output line of `footnote ask --jsonl`). `reason` says in English why an
    abstention abstained (null when answered); `reason_code` and `reason_terms` are the same as data;
    `explain` appears with `--explain` only."""

    model_config = ConfigDict(extra="forbid")

    id: str | int | None
    question: str
    abstained: bool
    answer: str
    quotes: list[QuoteOut]
    passages: list[PassageOut]
    nearest_titles: list[str]
    notes: list[str]
    note_codes: list[Note] = Field(default_factory=list)
    timings_ms: dict[str, float]
    reason: str | None = None
    reason_code: ReasonKind | None = None
    reason_terms: list[str] = Field(default_factory=list)
    explain: list[ExplanationOut] | None = None


def answer_out(answer: Answer, question_id: str | int | None = None, *, explain: bool = False) -> AnswerOut:
    """An answer in its JSON form (with the reader's explanations when `explain`)."""
    return AnswerOut(
        id=question_id,
        question=answer.question,
        abstained=answer.abstained,
        answer=answer.text,
        quotes=[
            QuoteOut(
                n=q.n,
                text=q.text,
                doc_id=q.doc_id,
                start=q.start,
                end=q.end,
                title=q.title,
                source=q.source,
                score=q.score,
                date=q.date,
            )
            for q in answer.quotes
        ],
        passages=[
            PassageOut(
                rank=p.rank,
                doc_id=p.doc_id,
                title=p.title,
                source=p.source,
                start=p.start,
                end=p.end,
                text=p.text,
                score=round(p.score, 6),
                chunk_no=p.chunk_no,
                dense=p.dense,
                lexical=p.lexical,
            )
            for p in answer.passages
        ],
        nearest_titles=list(answer.nearest_titles),
        notes=[NOTE_TEXTS[note] for note in answer.notes],
        note_codes=list(answer.notes),
        timings_ms={k: round(v, 3) for k, v in answer.timings_ms.items()},
        reason=answer.reason.text if answer.reason else None,
        reason_code=answer.reason.kind if answer.reason else None,
        reason_terms=list(answer.reason.terms) if answer.reason else [],
        explain=[
            ExplanationOut(
                n=e.n,
                score=round(e.score, 4),
                features={name: round(value, 4) for name, value, _ in e.features},
                contributions={name: round(part, 4) for name, _, part in e.features},
            )
            for e in answer.explanations
        ]
        if explain
        else None,
    )


def dump(out: AnswerOut) -> str:
    """One JSON line; `explain` only when it was asked for."""
    return out.model_dump_json(exclude={"explain"} if out.explain is None else None)


def answer_in(data: AnswerOut) -> Answer:
    """The answer an `AnswerOut` was made from (passage scores are rounded to 6 digits)."""
    return Answer(
        question=data.question,
        abstained=data.abstained,
        text=data.answer,
        quotes=tuple(
            Quote(
                n=q.n,
                doc_id=q.doc_id,
                title=q.title,
                source=q.source,
                start=q.start,
                end=q.end,
                text=q.text,
                score=q.score,
                date=q.date,
            )
            for q in data.quotes
        ),
        passages=tuple(
            Passage(
                rank=p.rank,
                chunk_no=p.chunk_no,
                doc_id=p.doc_id,
                title=p.title,
                source=p.source,
                start=p.start,
                end=p.end,
                text=p.text,
                score=p.score,
                dense=p.dense,
                lexical=p.lexical,
            )
            for p in data.passages
        ),
        nearest_titles=tuple(data.nearest_titles),
        notes=tuple(data.note_codes),
        timings_ms=dict(data.timings_ms),
        reason=Reason(data.reason_code, tuple(data.reason_terms), data.reason or "")
        if data.reason_code
        else None,
    )
