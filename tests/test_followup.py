"""Follow-up detection: short questions leaning on the previous one; self-contained ones start afresh."""

from __future__ import annotations

import pytest

from index.query.followup import combine, is_follow_up


@pytest.mark.parametrize(
    "question",
    [
        "and the informal ones?",
        "why?",
        "what about China?",
        "Why is that?",
        "And Russia?",
        "а неофициальные?",
        "а что Китай?",
        "почему?",
        "чаму так?",
        "What did they discuss?",
        "What did he say would happen next to the suspended midwives?",
        "Who is going to follow it, and for how long?",
    ],
)
def test_follow_ups(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize(
    "question",
    [
        "Why did Moscow refuse?",
        "What is the tallest mountain in Africa?",
        "Who visited Belarus in May?",
        "What reasons are given against a Russian base in Belarus and why do they matter today?",
        "Почему Москва отказалась передать Искандеры?",
        "What is the range of the missile that Russia offered to Belarus?",
        "",
    ],
)
def test_self_contained_questions(question: str) -> None:
    assert not is_follow_up(question)


def test_combine() -> None:
    assert (
        combine("and the informal ones?", "Why did Moscow refuse?")
        == "Why did Moscow refuse? and the informal ones?"
    )
    assert combine("Who visited Belarus in May?", "Why did Moscow refuse?") == "Who visited Belarus in May?"
    assert combine("why?", None) == "why?"


def test_chat_follow_up_uses_the_previous_question(tmp_path, write_article) -> None:  # type: ignore[no-untyped-def]
    import io

    from cli.main import chat
    from index.build.embedding import HashingEmbedder
    from index.pipeline import Footnote
    from tests.helpers import make_settings

    write_article(
        "apples.md", "Farmers pick ripe apples in autumn.\n\nCider is pressed from apples in winter."
    )
    footnote = Footnote(
        make_settings(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "i", abstain_threshold=0.1),
        HashingEmbedder(),
    )
    footnote.build_index()
    engine = footnote.open_engine()
    asked: list[str | None] = []
    original = engine.ask

    def spy(question: str, k: int | None = None, previous: str | None = None):  # type: ignore[no-untyped-def]
        asked.append(previous)
        return original(question, k, previous)

    engine.ask = spy  # type: ignore[method-assign]
    chat(
        engine,
        io.StringIO("When do farmers pick apples?\nand cider?\nWhere is cider pressed from apples?\n"),
        io.StringIO(),
    )
    assert asked == [None, "When do farmers pick apples?", "When do farmers pick apples? and cider?"]
