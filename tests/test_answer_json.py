"""The one answer serialiser (index/query/answer_json.py) and the one catalogue that words answers
(index/wording.py)."""

from __future__ import annotations

import json
import typing
from dataclasses import fields

import pytest

from index.query.answer_json import (
    PASSAGE_FIELDS,
    QUOTE_FIELDS,
    answer_from_json,
    answer_json,
    dump,
)
from index.types import Answer, Explanation, Note, Passage, Quote, Reason, ReasonKind
from index.wording import EN, RU, WORDINGS, note_text, reason_text


def test_the_json_writes_every_field_of_the_dataclasses() -> None:
    """A field added to Quote or Passage must reach the JSON (and come back): the lists cannot lag."""
    assert sorted(QUOTE_FIELDS) == sorted(f.name for f in fields(Quote))
    assert sorted(PASSAGE_FIELDS) == sorted(f.name for f in fields(Passage))


def _answer() -> Answer:
    quote = Quote(1, "a.md", "Title", None, 3, 9, "Quoted", -1.25, None)
    passage = Passage(
        1, 0, "a.md", "Title", "https://x.example/a", 0, 40, "Passage text", 0.1234567891, 0.7, 1.5
    )
    return Answer(
        question="Why?",
        abstained=False,
        text="Quoted [1]",
        quotes=(quote,),
        passages=(passage,),
        timings_ms={"answer": 1.23456},
        explanations=(Explanation(1, -1.25, (("cosine", 0.5, 0.25), ("reader_probability", 0.2, -1.4))),),
    )


def test_an_answer_is_written_in_the_contracts_shape() -> None:
    data = json.loads(dump(answer_json(_answer(), "q1", explain=True)))
    assert list(data) == [
        "id",
        "question",
        "abstained",
        "answer",
        "quotes",
        "passages",
        "nearest_titles",
        "notes",
        "note_codes",
        "timings_ms",
        "reason",
        "reason_code",
        "reason_terms",
        "explain",
    ]
    assert data["answer"] == "Quoted [1]" and data["id"] == "q1" and data["reason"] is None
    assert list(data["quotes"][0]) == list(QUOTE_FIELDS)
    assert data["passages"][0]["score"] == 0.123457
    assert data["timings_ms"] == {"answer": 1.235}
    assert data["explain"] == [
        {
            "n": 1,
            "score": -1.25,
            "features": {"cosine": 0.5, "reader_probability": 0.2},
            "contributions": {"cosine": 0.25, "reader_probability": -1.4},
        }
    ]
    assert "explain" not in answer_json(_answer())


def test_an_abstention_is_worded_in_english_and_read_back_as_codes() -> None:
    abstention = Answer(
        question="Who?",
        abstained=True,
        text="",
        quotes=(),
        passages=(),
        nearest_titles=("A",),
        notes=(Note.FOREIGN_SCRIPT,),
        reason=Reason("missing_slot", ("money",)),
    )
    data = answer_json(abstention)
    assert data["answer"] == "I don't find this in the articles."
    assert data["reason"] == "The nearest articles do not give the sum asked for."
    assert (data["reason_code"], data["reason_terms"]) == ("missing_slot", ["money"])
    assert data["notes"] == [note_text(Note.FOREIGN_SCRIPT)] and data["note_codes"] == ["foreign_script"]
    assert answer_from_json(json.loads(dump(data))) == abstention


def test_an_answer_round_trips() -> None:
    back = answer_from_json(json.loads(dump(answer_json(_answer()))))
    assert back.quotes == _answer().quotes
    assert back.passages[0].score == 0.123457 and back.text == "Quoted [1]"


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"question": "q"},
        {"question": "q", "abstained": False, "answer": "a", "quotes": [{"n": "one"}]},
        {"question": "q", "abstained": True, "answer": "a", "quotes": [], "reason_code": "no_such_kind"},
        {"abstained": False},
    ],
)
def test_a_foreign_shape_is_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError):
        answer_from_json(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("language", sorted(WORDINGS))
def test_every_code_is_worded_in_every_language(language: typing.Literal["en", "ru"]) -> None:
    kinds = typing.get_args(ReasonKind)
    for kind in kinds:
        assert reason_text(Reason(kind, ("x",)), language)
    for note in Note:
        assert note_text(note, language)
    assert set(WORDINGS[language].slots) == {"number", "money", "name"}


def test_terms_are_listed_and_marked() -> None:
    reason = Reason("missing_terms", ("Minsk", "Kyiv", "Oslo"))
    assert reason_text(reason) == "The nearest articles do not mention Minsk, Kyiv or Oslo."
    assert reason_text(reason, "ru", lambda t: f"«{t}»") == (
        "В ближайших статьях нет упоминаний: «Minsk», «Kyiv» или «Oslo»."
    )
    assert (
        reason_text(Reason("missing_slot", ("name",)), "ru")
        == "В ближайших статьях нет имени, о котором спрошено."
    )
    assert EN.abstain != RU.abstain
