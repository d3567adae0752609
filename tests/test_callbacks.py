"""Callback data of the inline buttons (bot/callbacks.py): what render builds, handlers parse back."""

from __future__ import annotations

import pytest

from bot import callbacks
from bot.callbacks import Button

ANSWER_ID = "0123456789abcdef"


def test_every_button_parses_back_to_what_built_it() -> None:
    assert callbacks.parse(callbacks.passage(ANSWER_ID, 3)) == Button(callbacks.PASSAGE, ANSWER_ID, 3)
    assert callbacks.parse(callbacks.more(ANSWER_ID)) == Button(callbacks.MORE, ANSWER_ID)
    assert callbacks.parse(callbacks.feedback(ANSWER_ID, helpful=True)) == Button(
        callbacks.FEEDBACK, ANSWER_ID, 1
    )
    assert callbacks.parse(callbacks.feedback(ANSWER_ID, helpful=False)) == Button(
        callbacks.FEEDBACK, ANSWER_ID, 0
    )
    assert callbacks.parse(callbacks.sources(4)) == Button(callbacks.SOURCES, number=4)


def test_the_wire_format_is_unchanged() -> None:
    """Buttons under answers sent before an upgrade keep working."""
    assert callbacks.passage(ANSWER_ID, 2) == f"p:{ANSWER_ID}:2"
    assert callbacks.more(ANSWER_ID) == f"m:{ANSWER_ID}"
    assert callbacks.feedback(ANSWER_ID, helpful=True) == f"f:{ANSWER_ID}:1"
    assert callbacks.sources(1) == "s:1"


@pytest.mark.parametrize("data", ["", "x:1", "p:", "p:abc", "p:abc:", "p:abc:one", "f:abc:-1", "m:", "::"])
def test_data_no_button_carries_is_none(data: str) -> None:
    assert callbacks.parse(data) is None


def test_a_page_that_is_not_a_number_is_the_first() -> None:
    assert callbacks.parse("s:x") == Button(callbacks.SOURCES, number=0)


def test_data_never_exceeds_telegrams_64_bytes() -> None:
    assert len(callbacks.passage(ANSWER_ID, 999).encode()) <= callbacks.MAX_BYTES
    with pytest.raises(ValueError, match="64 bytes"):
        callbacks.more("x" * 70)
