"""Follow-up detection: short questions leaning on the previous one; self-contained ones start afresh."""

from __future__ import annotations

import math

import numpy as np
import pytest

from index.query.followup import combine, is_follow_up, names_nothing
from index.query.retrieval import away_from


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

    from cli.chat import chat
    from index.ingest.embedding import HashingEmbedder
    from index.pipeline import Pipeline
    from tests.helpers import make_settings

    write_article(
        "apples.md", "Farmers pick ripe apples in autumn.\n\nCider is pressed from apples in winter."
    )
    footnote = Pipeline(
        make_settings(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "i", abstain_threshold=0.1),
        HashingEmbedder(),
    )
    footnote.build_index()
    engine = footnote.open_engine()
    asked: list[str | None] = []
    original = engine.ask

    def spy(question: str, k: int | None = None, previous=None):  # type: ignore[no-untyped-def]
        asked.append(None if previous is None else previous.question)
        if previous is not None:
            assert previous.quoted, "the chat passes where the last answer's quotes were"
        return original(question, k, previous)

    engine.ask = spy  # type: ignore[method-assign]
    chat(
        engine,
        io.StringIO("When do farmers pick apples?\nand cider?\nWhere is cider pressed from apples?\n"),
        io.StringIO(),
    )
    assert asked == [None, "When do farmers pick apples?", "When do farmers pick apples? and cider?"]


@pytest.mark.parametrize(
    ("question", "vague"),
    [
        ("Was anybody hurt overnight?", True),
        ("How will members decide whether to escalate?", True),
        ("What is the company doing tomorrow?", True),
        ("What did Ruddock say about the fires?", False),
        ("How many were hurt in 2001?", False),
        ("", False),
    ],
)
def test_names_nothing(question: str, vague: bool) -> None:
    assert names_nothing(question) is vague


def test_vague_follow_up_floor_only_for_a_calibrated_model() -> None:
    from index.pipeline import VAGUE_FOLLOW_UP_MARGIN, vague_follow_up_floor

    assert vague_follow_up_floor(-3.5) == -3.5 - VAGUE_FOLLOW_UP_MARGIN
    assert vague_follow_up_floor(-math.inf) == math.inf


def test_away_from_moves_off_the_previous_question() -> None:
    own = np.array([[0.8, 0.6, 0.0]], dtype=np.float32)
    previous = np.array([[0.0, 1.0, 0.0]], dtype=np.float32)
    moved = away_from(own, previous, 1.0)
    assert float(moved[0] @ previous[0]) < float(own[0] @ previous[0])
    assert float(moved[0] @ own[0]) > float(own[0] @ own[0])
    assert np.array_equal(away_from(own, previous, 0.0), own)


def _engine_over(tmp_path, write_article, **articles: str):  # type: ignore[no-untyped-def]
    """An engine (hashing embedder, no abstention threshold) over the given articles."""
    from index.ingest.embedding import HashingEmbedder
    from index.pipeline import Pipeline
    from tests.helpers import make_settings

    for name, text in articles.items():
        write_article(f"{name}.md", text)
    footnote = Pipeline(
        make_settings(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "i", abstain_threshold=0.0),
        HashingEmbedder(),
    )
    footnote.build_index()
    return footnote.open_engine()


def _orchard_engine(tmp_path, write_article):  # type: ignore[no-untyped-def]
    return _engine_over(
        tmp_path,
        write_article,
        orchard="Farmers pick ripe apples in the valley orchards every autumn.\n\n"
        "Hail storms damaged many of the apple trees there this year.",
        cider="Storms damaged the old cider presses in town last winter.\n\n"
        "The damaged presses were repaired by the storms' next season.",
    )


def test_follow_up_is_answered_from_the_previous_answers_article(tmp_path, write_article) -> None:  # type: ignore[no-untyped-def]
    engine = _orchard_engine(tmp_path, write_article)
    first = engine.ask("When do farmers pick ripe apples in the valley?")
    assert {q.doc_id for q in first.quotes} == {"orchard.md"}
    follow_up = "Were they damaged by storms in town last winter?"
    assert "cider.md" in {q.doc_id for q in engine.ask(follow_up).quotes}
    follow = engine.ask(follow_up, previous=engine.turn("When do farmers pick ripe apples in the valley?"))
    assert follow.quotes and {q.doc_id for q in follow.quotes} == {"orchard.md"}


def test_within_narrows_a_retrieval_to_articles(tmp_path, write_article) -> None:  # type: ignore[no-untyped-def]
    engine = _orchard_engine(tmp_path, write_article)
    retrieval = engine.retriever.retrieve("storms damaged", 1)
    narrowed = engine.retriever.within(retrieval, ("orchard.md",))
    assert narrowed.passages and {p.doc_id for p in narrowed.passages} == {"orchard.md"}
    assert [p.rank for p in narrowed.passages] == list(range(1, len(narrowed.passages) + 1))
    assert len(narrowed.passages) == sum(c.doc_id == "orchard.md" for c in engine.stored.chunks)


def test_vague_question_answered_from_previous_article_only_when_good_enough(tmp_path, write_article) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from index.query.engine import Engine

    engine = _orchard_engine(tmp_path, write_article)
    before = "When do farmers pick ripe apples in the valley?"
    vague = "What was damaged by storms in town last winter?"
    assert names_nothing(vague) and not is_follow_up(vague)

    def docs(floor: float) -> set[str]:
        tuned = Engine(engine.stored, engine.embedder, replace(engine.params, vague_follow_up_floor=floor))
        return {q.doc_id for q in tuned.ask(vague, previous=tuned.turn(before)).quotes}

    alone = {q.doc_id for q in engine.ask(vague).quotes}
    assert "cider.md" in alone
    assert docs(math.inf) == alone, "no floor: a vague question stands alone"
    assert docs(-1e9) == {"orchard.md"}, "any answer from the previous article is good enough"
    assert docs(1e9) == alone, "nothing there answers well enough: a new subject after all"


def _harvest_engine(tmp_path, write_article):  # type: ignore[no-untyped-def]
    return _engine_over(
        tmp_path,
        write_article,
        harvest="Farmers pick ripe apples in the valley orchards every autumn. "
        "The pickers come from three neighbouring towns each season. "
        "Most of them stay in the old wool shed by the river crossing. "
        "Hail storms damaged many of the apple trees there this year. "
        "The council paid for new nets over the young trees in spring. "
        "A cider festival closes the season in the town hall.",
    )


def test_the_sentences_next_to_the_previous_answer_are_near_it(tmp_path, write_article) -> None:  # type: ignore[no-untyped-def]

    engine = _harvest_engine(tmp_path, write_article)
    rows = sorted(
        (i for i, u in enumerate(engine.stored.units) if u.doc_id == "harvest.md"),
        key=lambda i: engine.stored.units[i].start,
    )
    assert len(rows) == 6

    def quote_of(row: int) -> tuple[str, int]:
        unit = engine.stored.units[row]
        return (unit.doc_id, unit.start)

    def near(quotes: list[tuple[str, int]]) -> frozenset[int]:
        return engine.reader.near_quotes(quotes, engine.params.answer.follow_up_near_sentences)

    assert near([quote_of(rows[3])]) == {rows[1], rows[2], rows[4], rows[5]}, "two either side, not the quote"
    assert near([quote_of(rows[0])]) == {rows[1], rows[2]}, "an article's first sentence has none before it"
    assert near([quote_of(rows[0]), quote_of(rows[1])]) == {rows[2], rows[3]}, (
        "quotes are not near each other"
    )


def test_a_follow_up_favours_sentences_next_to_the_previous_answer(tmp_path, write_article) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from index.query.engine import Engine
    from index.query.reader import NEAR_PREVIOUS

    engine = _harvest_engine(tmp_path, write_article)
    before = "What damaged the apple trees in the valley orchards this year?"
    follow_up = "What did they pay for after that?"
    assert is_follow_up(follow_up)
    plain = Engine(
        engine.stored,
        engine.embedder,
        replace(engine.params, answer=replace(engine.params.answer, follow_up_near_bonus=0.0)),
    )

    def quotes(engine: Engine) -> dict[str, tuple[float, float]]:
        """Each quote's score and the bonus part of its explanation."""
        answer = engine.ask(follow_up, previous=engine.turn(before))
        return {
            q.text: (q.score, sum(part for name, _, part in why.features if name == NEAR_PREVIOUS))
            for q, why in zip(answer.quotes, answer.explanations, strict=True)
        }

    favoured, alone = quotes(engine), quotes(plain)
    council = [t for t in favoured if t.startswith("The council")]
    assert council and council[0] in alone, (favoured, alone)
    score, bonus = favoured[council[0]]
    assert bonus == 0.5 and score - alone[council[0]][0] == pytest.approx(0.5), "the score carries the bonus"
    assert all(b == 0.0 for t, (_, b) in favoured.items() if t.startswith(("Hail", "Farmers"))), favoured
    assert not any(b for _, b in alone.values()), "no bonus, no such part in the explanation"
