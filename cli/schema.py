"""The JSON shapes of the CLI contract (`footnote ask --json/--jsonl`), kept stable for other tools."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from index.types import Answer


class QuoteOut(BaseModel):
    """A quote of the answer; `text == file_text[start:end]`."""

    n: int
    text: str
    doc_id: str
    start: int
    end: int
    title: str
    source: str | None


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


class AnswerOut(BaseModel):
    """One output line of `footnote ask --jsonl`."""

    model_config = ConfigDict(extra="forbid")

    id: str | int | None
    question: str
    abstained: bool
    answer: str
    quotes: list[QuoteOut]
    passages: list[PassageOut]
    nearest_titles: list[str]
    notes: list[str]
    timings_ms: dict[str, float]


class QuestionIn(BaseModel):
    """One input line of `footnote ask --jsonl`."""

    model_config = ConfigDict(extra="allow")

    id: str | int | None = None
    question: str


def answer_out(answer: Answer, question_id: str | int | None = None) -> AnswerOut:
    """The contract's JSON form of an answer."""
    return AnswerOut(
        id=question_id,
        question=answer.question,
        abstained=answer.abstained,
        answer=answer.text,
        quotes=[
            QuoteOut(
                n=q.n, text=q.text, doc_id=q.doc_id, start=q.start, end=q.end, title=q.title, source=q.source
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
            )
            for p in answer.passages
        ],
        nearest_titles=list(answer.nearest_titles),
        notes=list(answer.notes),
        timings_ms={k: round(v, 3) for k, v in answer.timings_ms.items()},
    )
