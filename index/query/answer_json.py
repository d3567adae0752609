"""Answer <-> JSON, the one serialiser: `footnote ask --json/--jsonl` prints it, `footnote sync --json` uses
it for the watches' quotes, and the bot stores answers in it (data/answers/) so their buttons work on any
replica.

It reads the dataclasses of index/types.py directly: a quote or a passage is written field by field in the
contract's order, and read back through pydantic's validation of the same dataclasses. The words
(`answer` of an abstention, `reason`, `notes`) are the English of index/wording.py.

The CLI contract only grows: the fields other tools read (`answer`, `quotes[].text/start/end`,
`passages[].rank/score`, `notes` in English...) keep their names and meaning; the fields needed to read an
answer back (`quotes[].score/date`, `passages[].chunk_no/dense/lexical`, `note_codes`) were added beside them.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from functools import cache
from typing import Any

from pydantic import TypeAdapter

from index.types import Answer, Explanation, Note, Passage, Quote, Reason
from index.wording import EN, note_text, reason_text

# Each dataclass's fields in the order the JSON has always given them (tests hold these to the dataclasses).
QUOTE_FIELDS = ("n", "text", "doc_id", "start", "end", "title", "source", "score", "date")
PASSAGE_FIELDS = (
    "rank",
    "doc_id",
    "title",
    "source",
    "start",
    "end",
    "text",
    "score",
    "chunk_no",
    "dense",
    "lexical",
)


def _finite(value: object) -> object:
    """JSON has no infinity: a non-finite score is written as null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def quote_json(quote: Quote) -> dict[str, Any]:
    """A quote as JSON data; `text == file_text[start:end]`."""
    return {name: _finite(getattr(quote, name)) for name in QUOTE_FIELDS}


def passage_json(passage: Passage) -> dict[str, Any]:
    """A retrieved passage as JSON data (its score to 6 digits); `text == file_text[start:end]`."""
    data = {name: _finite(getattr(passage, name)) for name in PASSAGE_FIELDS}
    data["score"] = round(passage.score, 6) if math.isfinite(passage.score) else None
    return data


def explanation_json(why: Explanation) -> dict[str, Any]:
    """Why quote [n] was chosen (`--explain`): the score (log-odds), each feature's value in `features`
    and what it added to the score in `contributions`. A follow-up's quote next to the previous answer's
    quotes carries `near_previous_answer`; the trained reader's quotes carry `reader_probability` and
    `answer_threshold` (index/query/answer.py)."""
    return {
        "n": why.n,
        "score": round(why.score, 4),
        "features": {name: round(value, 4) for name, value, _ in why.features},
        "contributions": {name: round(part, 4) for name, _, part in why.features},
    }


def answer_json(
    answer: Answer, question_id: str | int | None = None, *, explain: bool = False
) -> dict[str, Any]:
    """An answer as JSON data (one output line of `footnote ask --jsonl`). `reason` says in English why an
    abstention abstained (null when answered); `reason_code` and `reason_terms` are the same as data;
    `explain` only when asked for."""
    reason = answer.reason
    data: dict[str, Any] = {
        "id": question_id,
        "question": answer.question,
        "abstained": answer.abstained,
        "answer": EN.abstain if answer.abstained else answer.text,
        "quotes": [quote_json(q) for q in answer.quotes],
        "passages": [passage_json(p) for p in answer.passages],
        "nearest_titles": list(answer.nearest_titles),
        "notes": [note_text(note) for note in answer.notes],
        "note_codes": [str(note) for note in answer.notes],
        "timings_ms": {k: round(v, 3) for k, v in answer.timings_ms.items()},
        "reason": reason_text(reason) if reason else None,
        "reason_code": reason.kind if reason else None,
        "reason_terms": list(reason.terms) if reason else [],
    }
    if explain:
        data["explain"] = [explanation_json(why) for why in answer.explanations]
    return data


def dump(data: dict[str, Any]) -> str:
    """One JSON line, compact, UTF-8 text as is."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@cache
def _adapter(kind: type) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _read(kind: type, data: object) -> Any:
    """A dataclass from its JSON data, its fields' types checked (pydantic's ValidationError, a
    ValueError, on a foreign shape)."""
    if not isinstance(data, dict):
        raise ValueError(f"a {kind.__name__} must be an object")
    names = {f.name for f in fields(kind)}
    return _adapter(kind).validate_python({k: v for k, v in data.items() if k in names})


def answer_from_json(data: dict[str, Any]) -> Answer:
    """The answer `answer_json` wrote (passage scores are rounded to 6 digits; the explanations are not
    kept). Raises ValueError on a foreign shape."""
    if not isinstance(data, dict) or not isinstance(data.get("abstained"), bool):
        raise ValueError("an answer must be an object with `abstained`")
    try:
        code = data.get("reason_code")
        terms = data.get("reason_terms") or []
        return Answer(
            question=str(data["question"]),
            abstained=data["abstained"],
            text="" if data["abstained"] else str(data["answer"]),
            quotes=tuple(_read(Quote, q) for q in data.get("quotes", [])),
            passages=tuple(_read(Passage, p) for p in data.get("passages", [])),
            nearest_titles=tuple(str(t) for t in data.get("nearest_titles", [])),
            notes=tuple(Note(code) for code in data.get("note_codes", [])),
            timings_ms={str(k): float(v) for k, v in dict(data.get("timings_ms", {})).items()},
            reason=_read(Reason, {"kind": code, "terms": tuple(str(t) for t in terms)}) if code else None,
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not an answer: {exc}") from None
