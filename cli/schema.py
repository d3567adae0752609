"""The JSON shapes of the CLI contract (`footnote ask --json/--jsonl`), kept stable for other tools.

Answers go out through the one serialiser the bot also stores its answers with (index/query/answer_json.py).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from index.query.answer_json import AnswerOut, ExplanationOut, PassageOut, QuoteOut, answer_out, dump

__all__ = ["AnswerOut", "ExplanationOut", "PassageOut", "QuestionIn", "QuoteOut", "answer_out", "dump"]


class QuestionIn(BaseModel):
    """One input line of `footnote ask --jsonl`."""

    model_config = ConfigDict(extra="allow")

    id: str | int | None = None
    question: str
