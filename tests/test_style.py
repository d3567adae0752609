"""Conventions STYLE.md asks for that a reviewer would otherwise have to spot by eye."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

SOURCES = sorted(p for package in ("config", "index", "bot", "cli") for p in (ROOT / package).rglob("*.py"))


def _is_bool(annotation: ast.expr | None) -> bool:
    return annotation is not None and ast.unparse(annotation) in {"bool", "bool | None"}


def positional_booleans(source: str) -> list[str]:
    """Functions taking a `bool` positionally (`f(x, True)` reads as a riddle), and dataclasses whose
    `bool` fields come before a `KW_ONLY` marker or a `kw_only=True`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found += [
                f"{node.name}({arg.arg})"
                for arg in [*node.args.posonlyargs, *node.args.args]
                if _is_bool(arg.annotation)
            ]
        elif isinstance(node, ast.ClassDef):
            decorators = [ast.unparse(d) for d in node.decorator_list]
            if not any("dataclass" in d for d in decorators) or any("kw_only=True" in d for d in decorators):
                continue
            for statement in node.body:
                if isinstance(statement, ast.AnnAssign) and ast.unparse(statement.annotation) == "KW_ONLY":
                    break
                if isinstance(statement, ast.AnnAssign) and _is_bool(statement.annotation):
                    found.append(f"{node.name}.{ast.unparse(statement.target)}")
    return found


# Dataclasses only ever built from keywords or internal state, never `X(..., True, ...)`.
_BUILT_BY_NAME = {"Added.renamed", "Added.unchanged", "FetchPolicy.allow_private", "Page.not_modified"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_booleans_are_keyword_only(path: Path) -> None:
    found = set(positional_booleans(path.read_text(encoding="utf-8"))) - _BUILT_BY_NAME
    assert not found, f"{path.relative_to(ROOT)}: make these keyword-only (after `*`): {sorted(found)}"


def test_the_check_finds_positional_booleans() -> None:
    source = (
        "def build(a: int, full: bool = False) -> None: ...\n"
        "def ok(a: int, *, full: bool = False) -> None: ...\n"
        "@dataclass(frozen=True)\nclass A:\n    x: int\n    abstained: bool\n"
        "@dataclass(frozen=True, kw_only=True)\nclass B:\n    abstained: bool\n"
    )
    assert positional_booleans(source) == ["build(full)", "A.abstained"]


def test_no_type_arg_ignores() -> None:
    """Generic types get their parameters (bot.app.FootnoteApp for the application), not an ignore."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in [*SOURCES, *(ROOT / "tests").glob("*.py")]
        if "ignore[" + "type-arg]" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
