"""Answer composition: the verbatim check, abstention, ordering (model-free plumbing)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from index.ingest.chunking import ChunkingParams
from index.ingest.embedding import HashingEmbedder
from index.ingest.indexing import build
from index.query.answer import AnswerParams, is_verbatim
from index.query.engine import Engine, EngineParams, clean_question, mostly_latin
from index.storage import store
from index.storage.faiss_store import FaissStore
from index.types import Answer, Article
from index.wording import reason_text


def test_is_verbatim() -> None:
    article = Article("a.txt", "A", "Hello world. Second sentence.", 0, "h")
    assert is_verbatim(article, 0, 12, "Hello world.")
    assert not is_verbatim(article, 0, 12, "Hello world!")
    assert not is_verbatim(article, 1, 13, "Hello world.")
    assert not is_verbatim(article, 20, 99, "sentence.")
    assert not is_verbatim(article, 0, 0, "")


@pytest.fixture
def engine(write_article: Callable[..., Path], tmp_path: Path) -> Engine:
    write_article(
        "apples.md",
        "Apples grow on trees in orchards across the valley. Farmers pick ripe apples in autumn every year.",
        title="Apples",
    )
    write_article("trains.txt", "Electric trains run quietly on rails between the busy stations of the city.")
    build(tmp_path / "seeds", tmp_path / "index", HashingEmbedder(), ChunkingParams(), FaissStore())
    params = EngineParams(answer=AnswerParams(abstain_threshold=0.2))
    return Engine.open(tmp_path / "index", HashingEmbedder(), ChunkingParams(), params, FaissStore())


def test_quotes_are_checked_and_a_tampered_one_is_dropped(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    assert engine.ask("When do farmers pick ripe apples?").quotes
    units = engine.stored.units
    forged = [dataclasses.replace(u, text=u.text.replace("apples", "pears")) for u in units]
    tampered = store.StoredIndex(
        **{
            **{f.name: getattr(engine.stored, f.name) for f in dataclasses.fields(engine.stored)},
            "units": forged,
        }
    )
    liar = Engine(tampered, engine.embedder, engine.params)
    with caplog.at_level(logging.ERROR):
        answer = liar.ask("When do farmers pick ripe apples?")
    assert all("pears" not in q.text for q in answer.quotes)
    assert "not verbatim" in caplog.text


def test_unrelated_question_abstains_with_nearest_titles(engine: Engine) -> None:
    answer = engine.ask("zebra quantum saxophone")
    assert answer.abstained and not answer.quotes
    assert set(answer.nearest_titles) <= {
        "Apples",
        "Electric trains run quietly on rails between the busy stations of the city.",
    }


def test_quotes_are_numbered_in_article_order(engine: Engine) -> None:
    answer = engine.ask("apples orchards farmers pick ripe apples autumn")
    assert [q.n for q in answer.quotes] == list(range(1, len(answer.quotes) + 1))
    starts = [q.start for q in answer.quotes if q.doc_id == "apples.md"]
    assert starts == sorted(starts)
    assert answer.text.endswith(f"[{len(answer.quotes)}]")


def test_question_cleaning() -> None:
    assert clean_question("  what   about\n apples ?  ", 100) == "what about apples ?"
    assert clean_question("word " * 50, 22) == "word word word word"
    assert clean_question("apples \ud800 and \udcff?", 100) == "apples \ufffd and \ufffd?", "valid Unicode"
    assert mostly_latin("Why did Moscow refuse?") and mostly_latin("Pourquoi Moscou a-t-il refusé ?")
    assert not mostly_latin("Почему Москва отказала?")


def test_empty_question_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="empty"):
        engine.ask("   ")


def test_repeated_questions_reuse_the_query_vector(engine: Engine) -> None:
    calls: list[list[str]] = []
    embed = engine.embedder.embed_queries

    def counting(texts):  # type: ignore[no-untyped-def]
        calls.append(list(texts))
        return embed(texts)

    engine.embedder.embed_queries = counting  # type: ignore[method-assign]
    first = engine.ask("When do farmers pick ripe apples?")
    second = engine.ask("When do farmers pick ripe apples?")
    assert calls == [["When do farmers pick ripe apples?"]]
    assert [q.text for q in first.quotes] == [q.text for q in second.quotes]


def test_bm25_steps_aside_for_questions_in_another_language(engine: Engine) -> None:
    lexical = engine.retriever.lexical
    # 1 of 4 words: "когда" is a Russian stopword, "apples" is stemmed as the English word it is
    assert lexical.known_share("Когда фермеры собирают яблоки? apples") == 0.25
    assert lexical.known_share("Когда фермеры собирают яблоки?") == 0.0
    assert lexical.known_share("When do farmers pick apples?") == 1.0


def test_a_name_no_article_contains_is_the_reason_to_abstain(engine: Engine) -> None:
    answer = engine.ask("What did Lukashenko say about the apples?")
    assert answer.abstained and not answer.quotes and answer.nearest_titles
    assert answer.reason is not None and answer.reason.kind == "unknown_terms"
    assert answer.reason.terms == ("Lukashenko",)
    assert reason_text(answer.reason) == "The articles do not mention Lukashenko."


def unknown_terms(engine: Engine, question: str) -> tuple[str, ...]:
    """The question's names and rare words that no article has, as the lexical step reads them."""
    return engine.retriever.lexical.read_question(question, rare_zipf=engine.params.answer.rare_zipf).unknown


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
def test_common_words_the_articles_lack_are_paraphrase_not_a_reason(engine: Engine) -> None:
    assert unknown_terms(engine, "When do growers gather the ripe apples?") == ()
    assert unknown_terms(engine, "When do farmers pick apples in Zyxland?") == ("Zyxland",)
    assert unknown_terms(engine, "Когда фермеры собирают яблоки?") == (), "another language"


def test_every_quote_is_explained_by_the_models_features(engine: Engine) -> None:
    answer = engine.ask("When do farmers pick ripe apples?")
    weights = engine.composer.weights
    assert answer.quotes and len(answer.explanations) == len(answer.quotes)
    for quote, why in zip(answer.quotes, answer.explanations, strict=True):
        assert why.n == quote.n and why.score == pytest.approx(quote.score)
        assert [name for name, _, _ in why.features] == list(weights.names)
        assert why.score == pytest.approx(sum(part for _, _, part in why.features) + weights.bias)


def test_an_answered_question_has_no_reason(engine: Engine) -> None:
    assert engine.ask("When do farmers pick ripe apples?").reason is None


def slot_engine(write_article: Callable[..., Path], tmp_path: Path, *texts: str) -> Engine:
    """Articles on one subject, the slot check switched on (any sentence stating the slot will do)."""
    for n, text in enumerate(texts):
        write_article(f"a{n}.md", text)
    build(tmp_path / "seeds", tmp_path / "index", HashingEmbedder(), ChunkingParams(), FaissStore())
    params = EngineParams(answer=AnswerParams(abstain_threshold=0.1, slot_threshold=-1000.0))
    return Engine.open(tmp_path / "index", HashingEmbedder(), ChunkingParams(), params, FaissStore())


HARVEST = (
    "Farmers pick ripe apples in the valley orchards every autumn. The harvest keeps whole villages busy."
)


def test_a_question_asking_for_a_number_no_sentence_states_abstains_and_says_so(
    write_article: Callable[..., Path], tmp_path: Path
) -> None:
    engine = slot_engine(write_article, tmp_path, HARVEST)
    answer = engine.ask("How many farmers pick ripe apples in the valley orchards?")
    assert answer.abstained and answer.reason is not None and answer.nearest_titles
    assert (answer.reason.kind, answer.reason.terms) == ("missing_slot", ("number",))
    assert reason_text(answer.reason) == "The nearest articles do not give the number asked for."
    assert not engine.ask("Why do farmers pick ripe apples in the valley orchards?").abstained, "no slot"


def test_a_sentence_stating_the_number_asked_for_answers(
    write_article: Callable[..., Path], tmp_path: Path
) -> None:
    engine = slot_engine(
        write_article, tmp_path, HARVEST, "Each farmer in the valley fills 40 crates of ripe apples a day."
    )
    answer = engine.ask("How many crates of ripe apples does each farmer in the valley fill?")
    assert not answer.abstained and any("40 crates" in q.text for q in answer.quotes)


@pytest.mark.parametrize(
    ("inspector", "named"),
    [
        ("The valley's orchard inspector visited the packing shed at Wollongbar.", False),
        ("The valley's orchard inspector, Mervyn Quattlebaum, visited the packing shed.", True),
    ],
)
def test_a_name_question_is_answered_only_by_a_person_named_in_the_role_asked_about(
    write_article: Callable[..., Path], tmp_path: Path, inspector: str, named: bool
) -> None:
    engine = slot_engine(write_article, tmp_path, f"{HARVEST} {inspector}")
    answer = engine.ask("What is the name of the orchard inspector who visited the valley packing shed?")
    if named:
        assert not answer.abstained and any("Quattlebaum" in q.text for q in answer.quotes)
    else:
        assert answer.abstained and answer.reason is not None
        assert (answer.reason.kind, answer.reason.terms) == ("missing_slot", ("name",))
        assert reason_text(answer.reason) == "The nearest articles do not give the name asked for."


@pytest.mark.parametrize(
    ("between", "named"),
    [
        ("", True),  # the name's sentence follows the one naming the role
        (" Trucks left at dawn for the city markets. Rain closed the roads by noon.", False),
    ],
)
def test_a_name_question_takes_the_role_from_the_sentence_before_or_after(
    write_article: Callable[..., Path], tmp_path: Path, between: str, named: bool
) -> None:
    engine = slot_engine(
        write_article,
        tmp_path,
        f"{HARVEST} The orchard inspector visited the valley packing shed on Monday.{between}"
        " Mervyn Quattlebaum said the ripe apples looked fine.",
    )
    answer = engine.ask("What is the name of the orchard inspector who visited the valley packing shed?")
    assert answer.abstained is not named, answer.reason


def test_a_name_must_come_from_a_likelier_sentence_than_a_number(
    write_article: Callable[..., Path], tmp_path: Path
) -> None:
    engine = slot_engine(
        write_article,
        tmp_path,
        "Mervyn Quattlebaum, the orchard inspector, counted 40 crates of ripe apples.",
    )
    params = dataclasses.replace(engine.params.answer, slot_threshold=0.0, name_slot_lift=1.5)
    number, name = "How many crates did he count?", "Who is the orchard inspector?"
    assert unfilled(engine, number, 0.5, params) is None
    assert unfilled(engine, name, 0.5, params) == "name"
    assert unfilled(engine, name, 2.0, params) is None


def unfilled(engine: Engine, question: str, score: float, params: AnswerParams) -> str | None:
    """The slot the reader finds unfilled when every unit scores `score`."""
    rows = range(len(engine.stored.units))
    quotable = frozenset(r for r in rows if engine.reader.quotable(r, params))
    return engine.reader._unfilled_slot(question, {r: (score, np.zeros(1)) for r in rows}, quotable, params)


def test_a_stating_sentence_scoring_below_the_slot_threshold_does_not_answer(
    write_article: Callable[..., Path], tmp_path: Path
) -> None:
    engine = slot_engine(
        write_article, tmp_path, "Each farmer in the valley fills 40 crates of ripe apples a day."
    )
    params = dataclasses.replace(engine.params.answer, slot_threshold=0.0)
    assert unfilled(engine, "How many crates?", -0.5, params) == "number"
    assert unfilled(engine, "How many crates?", 0.5, params) is None


def test_a_speaker_no_quoted_article_names_is_the_reason_to_abstain(
    write_article: Callable[..., Path], tmp_path: Path
) -> None:
    engine = slot_engine(
        write_article,
        tmp_path,
        HARVEST + " Mayor Ellen Jones said the valley harvest of ripe apples came early this autumn.",
        "Tom Briggs coaches the town's football team on Saturdays.",
    )
    answer = engine.ask("What did Mayor Tom Briggs say about the valley harvest of ripe apples?")
    assert answer.abstained and answer.reason is not None
    assert (answer.reason.kind, answer.reason.terms) == ("missing_terms", ("Mayor Tom Briggs",))
    assert reason_text(answer.reason) == "The nearest articles do not mention Mayor Tom Briggs."
    named = engine.ask("What did Mayor Ellen Jones say about the valley harvest of ripe apples?")
    assert not named.abstained and any("Jones" in q.text for q in named.quotes)


def test_a_follow_up_gets_one_quote_more_than_a_question_asked_alone(
    write_article: Callable[..., Path], tmp_path: Path
) -> None:
    orchard = " ".join(
        f"Farmers in the valley orchard number {n} pick ripe apples every autumn day." for n in range(1, 9)
    )
    engine = slot_engine(write_article, tmp_path, orchard)
    question = "Who picks ripe apples in the valley orchards every autumn?"
    composer = engine.composer
    composer.params = dataclasses.replace(composer.params, margin=100.0, max_words=1000)
    retrieval = engine.retriever.retrieve(question, 10)
    alone = engine.answer_from(question, retrieval)
    assert len(alone.quotes) == composer.params.max_quotes == 4
    words = engine.retriever.lexical.read_question(question, question, rare_zipf=composer.params.rare_zipf)
    reading = engine.reader.read(words, retrieval, composer.params, composer.weights, follows=True)
    assert len(composer.compose(reading).quotes) == 5


PARK = (
    "Власти продлили льготный режим Парка высоких технологий. Налоговые поступления парка сократились "
    "после отъезда программистов в Польшу и Литву."
)


def test_a_russian_word_of_the_question_is_looked_up_in_the_question_s_language(
    write_article: Callable[..., Path], tmp_path: Path
) -> None:
    engine = slot_engine(write_article, tmp_path, PARK)
    # Alone, "Парка" reads as Ukrainian and was not stemmed as Russian: the articles "did not mention" it.
    assert (
        unknown_terms(engine, "Как руководство Парка высоких технологий оценивает отъезд программистов?")
        == ()
    )
    assert unknown_terms(engine, "Как Зеленский оценивает отъезд программистов в Польшу?") == ("Зеленский",)


def _answer_near(engine: Engine, question: str, *docs: str) -> Answer:
    """The answer when the question's passages are narrowed to the given articles, each close to it."""
    retrieval = engine.retriever.retrieve(question, 5)
    passages = tuple(dataclasses.replace(p, dense=0.9) for p in retrieval.passages if p.doc_id in docs)
    return engine.answer_from(question, dataclasses.replace(retrieval, passages=passages))


def test_the_slot_check_is_skipped_when_a_candidate_is_in_another_language(
    write_article: Callable[..., Path], tmp_path: Path
) -> None:
    engine = slot_engine(write_article, tmp_path, PARK, HARVEST)
    question = "How many farmers pick ripe apples in the valley orchards?"
    english = _answer_near(engine, question, "a1.md")
    assert english.reason is not None and english.reason.kind == "missing_slot"
    # A Russian sentence may state the number in words the English patterns do not read ("сорок").
    both = _answer_near(engine, question, "a0.md", "a1.md")
    assert both.reason is None or both.reason.kind != "missing_slot"


def test_a_common_belarusian_word_is_not_taken_for_a_rare_one(
    write_article: Callable[..., Path], tmp_path: Path
) -> None:
    text = (
        Path(__file__).resolve().parent.parent / "eval" / "corpora" / "be" / "it-relakacyja.md"
    ).read_text()
    engine = slot_engine(write_article, tmp_path, text)
    assert engine.stored.articles["a0.md"].lang == "be"
    # "Колькі" (how many) is common in Belarusian, rare in wordfreq's Russian list (not its language).
    assert unknown_terms(engine, "Колькі праграмістаў пакінулі краіну?") == ()
    assert unknown_terms(engine, "Колькі праграмістаў пакінулі краіну паводле Лукашэнкі?") == ("Лукашэнкі",)


def test_names_are_not_looked_up_when_the_nearest_passage_is_in_another_language(
    write_article: Callable[..., Path], tmp_path: Path
) -> None:
    engine = slot_engine(write_article, tmp_path, PARK, HARVEST)
    question = "Как Кремль оценивает налоговые поступления парка?"
    russian = _answer_near(engine, question, "a0.md")
    assert russian.reason is not None and (russian.reason.kind, russian.reason.terms) == (
        "unknown_terms",
        ("Кремль",),
    )
    # Nearest to an English article, which would spell it "Kremlin": not said to be missing.
    english = _answer_near(engine, question, "a1.md")
    assert english.reason is None or english.reason.kind not in {"unknown_terms", "missing_terms"}
