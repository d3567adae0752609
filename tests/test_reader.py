"""The reader's slot check: what a question asks a sentence to state, and what states it."""

from __future__ import annotations

import pytest

from index.query.reader import fills_slot, slot_kinds


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("How many detainees were charged?", ("number",)),
        ("Who else picks up the topic?", ()),  # answered by "Polish media" as well as by names
        ("What was the name of the midwife?", ()),
        ("When did the talks start?", ()),  # dates are worded too many ways to check
        ("Why did Moscow refuse?", ()),
    ],
)
def test_slot_kinds_are_what_the_question_itself_asks_for(question: str, kinds: tuple[str, ...]) -> None:
    assert slot_kinds(question) == kinds


def test_a_slot_is_filled_only_by_something_the_question_does_not_already_hold() -> None:
    assert fills_slot("number", "About 4,000 workers have been paid.", "How many workers were paid?")
    assert not fills_slot(
        "number", "About 4,000 workers have been paid.", "How many of the 4,000 workers left?"
    )
    assert fills_slot("number", "Seven others remain barricaded.", "How many fighters remain?")


def test_a_question_asking_how_much_was_paid_needs_a_sum_of_money() -> None:
    question = "How much did the company pay its auditors?"
    assert slot_kinds(question) == ("number", "money")
    assert not fills_slot("money", "The auditors met the board 3 times.", question)
    assert fills_slot("money", "The auditors were paid $2.5 million.", question)
    assert fills_slot("money", "The fee came to 40 million dollars.", question)
    assert slot_kinds("How much rain fell overnight?") == ("number",)
