"""The engine walks a question through the steps once each, in the order the data flows
(index/query/engine.py): plan, read the question, find passages, read them, compose."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import index.query.engine as engine_module
from index.ingest.embedding import HashingEmbedder
from index.pipeline import Pipeline
from index.query.engine import Engine
from tests.helpers import make_settings


@pytest.fixture
def engine(tmp_path: Path, write_article: Callable[..., Path]) -> Engine:
    write_article("orchard.md", "Farmers pick ripe apples in the valley orchards every autumn.")
    write_article("cider.md", "Storms damaged the old cider presses in town last winter.")
    footnote = Pipeline(
        make_settings(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "i", abstain_threshold=0.0),
        HashingEmbedder(),
    )
    footnote.build_index()
    return footnote.open_engine()


def _record(steps: list[str], name: str, step: Callable[..., Any]) -> Callable[..., Any]:
    def recorded(*args: Any, **kwargs: Any) -> Any:
        steps.append(name)
        return step(*args, **kwargs)

    return recorded


@pytest.mark.parametrize("vague", [False, True])
def test_a_question_visits_each_step_once_in_order(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, *, vague: bool
) -> None:
    steps: list[str] = []
    monkeypatch.setattr(engine_module, "plan", _record(steps, "plan", engine_module.plan))
    lexical = engine.retriever.lexical
    monkeypatch.setattr(lexical, "read_question", _record(steps, "lexical", lexical.read_question))
    monkeypatch.setattr(lexical, "search_text", _record(steps, "lexical", lexical.search_text))
    monkeypatch.setattr(engine.retriever, "find", _record(steps, "find", engine.retriever.find))
    monkeypatch.setattr(engine.reader, "read", _record(steps, "read", engine.reader.read))
    monkeypatch.setattr(engine.composer, "compose", _record(steps, "compose", engine.composer.compose))
    engine.params = engine.params if not vague else _with_floor(engine)
    previous = engine.turn("When do farmers pick ripe apples?")
    steps.clear()
    answer = engine.ask("What was damaged by storms in town last winter?", previous=previous)
    assert answer.quotes
    # A vague question (it names nothing) is also read alone, in case it starts a new subject: the
    # reader reads twice in a row, nothing goes back to an earlier step.
    read = ["read", "read"] if vague else ["read"]
    walked = [step for i, step in enumerate(steps) if i == 0 or step != steps[i - 1] or step == "read"]
    assert walked == ["plan", "lexical", "find", *read, "compose"], (
        f"each step once, in order (the lexical step reads the question before retrieval): {steps}"
    )


def _with_floor(engine: Engine) -> Any:
    from dataclasses import replace

    return replace(engine.params, vague_follow_up_floor=-1e9)
