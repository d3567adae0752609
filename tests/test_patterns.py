"""Every regular expression of `index/` runs in linear time on hostile text (issue 25).

`re` holds the GIL, so one pattern that backtracks quadratically on a 20,000-character run of "1,1,1,…" in an
article stops every chat of the bot. The property: each compiled pattern of every module under `index/`
(module-level, or inside a module-level tuple or dict), searched and scanned with `finditer` over adversarial
strings, takes about as much longer on 50,000 characters as the text is longer than 12,500: four times for a
linear pattern, sixteen for a quadratic one. The check is that ratio, measured in the same run (a loaded
machine slows both sides alike), and only above a floor of time that no linear pattern reaches here: it
is not a speed target.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
from collections.abc import Callable, Iterator

import pytest

import index

SIZE = 50_000
SMALL = SIZE // 4
# A pattern backtracks when four times the text takes more than this many times as long (linear: about
# 4, quadratic: about 16) and longer than FLOOR_S (below it, timer noise decides the ratio).
MAX_RATIO = 10.0
FLOOR_S = 0.2


def _seconds(work: Callable[[str], object], text: str) -> float:
    started = time.perf_counter()
    work(text)
    return time.perf_counter() - started


def backtracks(work: Callable[[str], object], text: str) -> str | None:
    """Why `work` is not linear on `text` (None: it is): its time on the whole text against a quarter,
    timed first (so that a one-time load, such as a word list's, is not counted against the whole)."""
    small = max(_seconds(work, text[:SMALL]), 1e-6)
    large = _seconds(work, text)
    if large <= FLOOR_S:
        return None
    return (
        f"{large:.2f} s for {len(text)} characters, {small:.3f} s for {SMALL}"
        if large / small > MAX_RATIO
        else None
    )


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
    assert {"index.query.reader._SLOT_PATTERNS", "index.query.lexical._SPEAKER_QUESTION"} <= names


@pytest.mark.slow  # about 15 s in all: the full suite holds it, the inner loop skips it
@pytest.mark.parametrize(("where", "pattern"), PATTERNS, ids=[f"{n}:{p.pattern[:30]}" for n, p in PATTERNS])
def test_every_index_pattern_is_linear_on_hostile_text(where: str, pattern: re.Pattern[str]) -> None:
    def scan(text: str) -> None:
        pattern.search(text)
        for _ in pattern.finditer(text):
            pass

    slow = [f"{name}: {why}" for name, text in hostile_strings().items() if (why := backtracks(scan, text))]
    assert slow == [], f"{where} /{pattern.pattern[:60]}/ backtracks: {slow}"


def test_the_reader_checks_are_linear_on_hostile_questions_and_sentences() -> None:
    """The functions that run the patterns, on a question at the allowed maximum (4,000 characters) and
    an article sentence of 50,000: "how much " repeated, a digit run under a money question (the report)."""
    from index.query import reader

    def check(text: str) -> None:
        question = text[:4_000]
        reader.slot_kinds(question)
        reader.question_types(question)
        reader.counted_nouns.__wrapped__(question)
        for kind in ("number", "money", "age", "duration", "share", "name"):
            reader.fills_slot(kind, text, "How much bonus did the port pay the striking dockworkers?", text)
        for kind in ("number", "date", "person", "reason", "place"):
            reader.has_cue(kind, text)

    slow = [f"{name}: {why}" for name, text in hostile_strings().items() if (why := backtracks(check, text))]
    assert slow == []
