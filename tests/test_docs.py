"""The documents that name tests name tests that exist (RELIABILITY.md says which test holds each case)."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

from tests.helpers import ROOT

TESTS = ROOT / "tests"
_CODE = re.compile(r"`([^`\n]+)`")
# `test_x.py`, `tests/test_x.py`, `test_x.py::name`, `test_x.py::name[param]`, `test_x.py::prefix…`
_REFERENCE = re.compile(r"^(?:tests/)?(?P<file>test_\w+\.py)(?:::(?P<name>[^\s`]+))?$")
# `…middle…` or `…suffix`: a test of the file named last in the same table cell
_FRAGMENT = re.compile(r"^…(?P<name>\w+)(?P<open>…?)$")


@functools.cache
def defined_tests(path: Path) -> set[str]:
    """Names of the test functions and classes defined in a test module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.name.startswith(("test_", "Test"))
    }


def _matches(pattern: str, names: set[str], *, prefix: bool, suffix: bool) -> bool:
    if prefix and suffix:
        return any(pattern in name for name in names)
    if prefix:
        return any(name.startswith(pattern) for name in names)
    if suffix:
        return any(name.endswith(pattern) for name in names)
    return pattern in names


def missing_tests(markdown: str, tests: Path = TESTS) -> list[str]:
    """Every test reference in `markdown` that names no existing test file or test, as written there.

    Table cells are read separately, so `…fragment…` belongs to the file named before it in its cell.
    A trailing `…` means "a test whose name starts so"; `[params]` are ignored.
    """
    missing: list[str] = []
    for line in markdown.splitlines():
        for cell in line.split("|"):
            current: str | None = None
            for code in _CODE.findall(cell):
                code = code.strip()
                reference, fragment = _REFERENCE.match(code), _FRAGMENT.match(code)
                if reference:
                    current = reference["file"]
                    path = tests / current
                    if not path.is_file():
                        missing.append(code)
                        continue
                    name = reference["name"]
                    if name is None:
                        continue
                    name = name.split("[", 1)[0]
                    open_end = name.endswith("…")
                    if not _matches(name.rstrip("…"), defined_tests(path), prefix=open_end, suffix=False):
                        missing.append(code)
                elif fragment and current is not None:
                    names = defined_tests(tests / current)
                    if not _matches(fragment["name"], names, prefix=bool(fragment["open"]), suffix=True):
                        missing.append(f"{current}::{code}")
    return missing


def references(markdown: str) -> int:
    """How many test references the markdown holds (so a parser that finds none cannot pass)."""
    return sum(1 for code in _CODE.findall(markdown) if _REFERENCE.match(code.strip()))


def test_every_test_named_in_reliability_md_exists() -> None:
    text = (ROOT / "RELIABILITY.md").read_text(encoding="utf-8")
    assert references(text) >= 20, "RELIABILITY.md names its tests as `test_file.py::test_name`"
    assert missing_tests(text) == []


@pytest.mark.parametrize(
    ("reference", "found"),
    [
        ("`test_bot.py::test_admin_gate_on_every_admin_command`", True),
        ("`test_bot.py::test_admin_gate_on_every_admin_command_renamed`", False),
        ("`test_bot.py::test_a_handler_error_reaches…`", True),
        ("`test_bot.py::test_no_such…`", False),
        ("`test_backends.py::test_a_failed_clean_up_is_finished_by_the_next_build[milvus]`", True),
        ("`tests/test_render.py`", True),
        ("`test_gone.py`", False),
        ("`test_indexing.py::test_manifest_from_a_future_format_is_refused`, `…other_chunking…`", True),
        ("`test_indexing.py::test_manifest_from_a_future_format_is_refused`, `…other_knitting…`", False),
        ("| `test_corpus.py::test_missing_seeds_folder_is_a_clear_error` | `…other_chunking…` |", True),
    ],
)
def test_references_are_checked(reference: str, found: bool) -> None:
    assert (missing_tests(reference) == []) is found
