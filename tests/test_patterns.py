"""Every regular expression of `index/` runs in linear time on hostile text (issue 25).

`re` holds the GIL, so one pattern that backtracks quadratically on a 20,000-character run of "1,1,1,…" in an
article stops every chat of the bot. The property: each compiled pattern of every module under `index/`
(module-level, or inside a module-level tuple or dict), searched and scanned with `finditer` over adversarial
strings of 50,000 characters, finishes in well under a second. A quadratic pattern takes 5-60 s on these
strings, a linear one milliseconds: the margin is over a hundredfold, so the budget is not a speed target.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from collections.abc import Iterator

import pytest

import index

SIZE = 50_000
BUDGET_S = 1.0


def hostile_strings() -> dict[str, str]:
    """Runs that make a backtracking pattern retry from every position."""
    unit = {
        "digits and commas": "1,",
        "digits and dots": "1.",
        "digits": "1",
        "digits and spaces": "1 ",
        "dashes": "1-",
        "how much": "how much ",
        "how many": "how many more ",
        "what": "what ",
        "what did": "what did ",
        "words": "word ",
        "capitalised": "Word ",
        "who was the": "who was the ",
        "name of": "what is the name of the ",
        "hyphen words": "a-",
        "apostrophes": "a'",
        "since": "since ",
        "letters": "a",
        "spaces": " ",
        "newlines": "\n",
        "hashes": "#",
        "bullets": "- ",
        "dashes front matter": "---\n",
    }
    return {name: (text * (SIZE // len(text) + 1))[:SIZE] for name, text in unit.items()}


def _patterns_in(value: object, seen: set[int]) -> Iterator[re.Pattern[str]]:
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
        yield value
    elif isinstance(value, tuple | list | frozenset | set):
        for item in value:
            yield from _patterns_in(item, seen)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _patterns_in(item, seen)


def index_patterns() -> list[tuple[str, re.Pattern[str]]]:
    """(module.name, pattern) for every compiled pattern a module of `index/` holds at module level."""
    found: list[tuple[str, re.Pattern[str]]] = []
    seen: set[int] = set()
    for module_info in pkgutil.walk_packages(index.__path__, "index."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            for pattern in _patterns_in(value, seen):
                found.append((f"{module_info.name}.{name}", pattern))
    return found


PATTERNS = index_patterns()


def test_the_patterns_are_found() -> None:
    names = {name for name, _ in PATTERNS}
    assert len(PATTERNS) > 40
    assert {"index.query.reader._SLOT_PATTERNS", "index.query.answer._SPEAKER_QUESTION"} <= names


@pytest.mark.slow  # about 15 s in all: the full suite holds it, the inner loop skips it
@pytest.mark.parametrize(("where", "pattern"), PATTERNS, ids=[f"{n}:{p.pattern[:30]}" for n, p in PATTERNS])
def test_every_index_pattern_is_linear_on_hostile_text(where: str, pattern: re.Pattern[str]) -> None:
    slow = []
    for name, text in hostile_strings().items():
        started = time.perf_counter()
        pattern.search(text)
        for _ in pattern.finditer(text):
            pass
        elapsed = time.perf_counter() - started
        if elapsed > BUDGET_S:
            slow.append(f"{name}: {elapsed:.1f} s")
    assert slow == [], f"{where} /{pattern.pattern[:60]}/ backtracks: {slow}"


def test_the_reader_checks_are_linear_on_hostile_questions_and_sentences() -> None:
    """The functions that run the patterns, on a question at the allowed maximum (4,000 characters) and
    an article sentence of 50,000: "how much " repeated, a digit run under a money question (the report)."""
    from index.query import reader

    slow = []
    for name, text in hostile_strings().items():
        question = text[:4_000]
        started = time.perf_counter()
        reader.slot_kinds(question)
        reader.question_types(question)
        reader.counted_nouns.__wrapped__(question)
        for kind in ("number", "money", "age", "duration", "share", "name"):
            reader.fills_slot(kind, text, "How much bonus did the port pay the striking dockworkers?", text)
        for kind in ("number", "date", "person", "reason", "place"):
            reader.has_cue(kind, text)
        elapsed = time.perf_counter() - started
        if elapsed > BUDGET_S:
            slow.append(f"{name}: {elapsed:.1f} s")
    assert slow == []
