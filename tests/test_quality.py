"""Answer quality with the real models on the seed article (marked `model`: loads MiniLM and e5 once)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from index.evaluation import contains
from index.ingest.chunking import ChunkingParams
from index.ingest.embedding import E5Embedder, MiniLMEmbedder, PassageVectors, Span
from index.ingest.indexing import build
from index.pipeline import Pipeline
from index.query.engine import Engine, mostly_latin
from index.storage.faiss_store import FaissStore
from index.types import Note, Vectors
from index.wording import note_text, reason_text
from tests.helpers import ROOT, SEEDS, make_settings, read_questions

pytestmark = pytest.mark.model

PARAMS = ChunkingParams()
OFFTOPIC = ROOT / "eval" / "offtopic.jsonl"


def open_engine(embedder: MiniLMEmbedder | E5Embedder, seeds: Path, index_dir: Path) -> Engine:
    footnote = Pipeline(make_settings(seeds_dir=seeds, index_dir=index_dir), embedder)
    footnote.build_index()
    return footnote.open_engine()


@pytest.fixture(scope="module")
def seed_engine(minilm: MiniLMEmbedder, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return open_engine(minilm, SEEDS, tmp_path_factory.mktemp("minilm") / "index")


@pytest.fixture(scope="module")
def e5_engine(e5: E5Embedder, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    footnote = Pipeline(
        make_settings(embedder="e5-multilingual", index_dir=tmp_path_factory.mktemp("e5") / "i"), e5
    )
    footnote.build_index()
    return footnote.open_engine()


def _questions(latin: bool) -> list[dict[str, object]]:
    return [
        q
        for q in read_questions()
        if q.get("expect") != "abstain" and mostly_latin(str(q["question"])) == latin and q["gold"]
    ]


@pytest.mark.parametrize("item", _questions(latin=True), ids=lambda q: str(q["id"]))
def test_every_english_seed_question_finds_its_gold_in_the_top_5(
    seed_engine: Engine, item: dict[str, object]
) -> None:
    answer = seed_engine.ask(str(item["question"]))
    assert not answer.abstained
    top = [p.text for p in answer.passages[:5]]
    for gold in item["gold"]:  # type: ignore[attr-defined]
        assert any(contains(text, gold) for text in top), f"{gold!r} not in the top 5 passages"


@pytest.mark.parametrize("item", _questions(latin=False), ids=lambda q: str(q["id"]))
def test_questions_in_russian_find_their_gold_with_the_multilingual_model(
    e5_engine: Engine, item: dict[str, object]
) -> None:
    answer = e5_engine.ask(str(item["question"]))
    top = [p.text for p in answer.passages[:5]]
    for gold in item["gold"]:  # type: ignore[attr-defined]
        assert any(contains(text, gold) for text in top)
    assert not answer.abstained


def test_the_english_model_says_it_cannot_read_russian_instead_of_quoting(seed_engine: Engine) -> None:
    answer = seed_engine.ask("Что думает Китай о российском влиянии на постсоветском пространстве?")
    assert answer.abstained and not answer.quotes
    assert answer.notes == (Note.FOREIGN_SCRIPT,)
    assert "e5-multilingual" in note_text(answer.notes[0])


def test_off_topic_questions_abstain_with_nearest_titles(seed_engine: Engine) -> None:
    questions = [q["question"] for q in (read_questions() + _read(OFFTOPIC)) if q.get("expect") == "abstain"]
    assert len(questions) >= 20
    for question in questions:
        answer = seed_engine.ask(str(question))
        assert answer.abstained, f"answered an off-topic question: {question!r} with {answer.text[:80]!r}"
        assert not answer.quotes
        assert answer.nearest_titles == ("“Iskander” in Belarus: never ever",)


def test_a_name_no_article_has_is_said_of_all_articles_even_in_a_mostly_unknown_question(
    seed_engine: Engine,
) -> None:
    # Most of this question's words are not in the corpus, so the name is found missing only once the
    # nearest articles are read; it is missing from every article, and the reason says so.
    answer = seed_engine.ask("What did Lukashenko say about the weather?")
    assert answer.abstained and not answer.quotes
    assert (
        answer.reason is not None and reason_text(answer.reason) == "The articles do not mention Lukashenko."
    )


def test_why_did_moscow_refuse_brings_both_motivations(seed_engine: Engine) -> None:
    answer = seed_engine.ask("Why did Moscow refuse?")
    quoted = " ".join(q.text for q in answer.quotes)
    assert "The official motivation:" in quoted and "Systems are too expensive" in quoted
    assert "The informal motivation included:" in quoted and "Fear of technology leaks" in quoted


def test_every_quote_is_verbatim_at_its_offsets_in_the_file(seed_engine: Engine) -> None:
    for item in read_questions():
        answer = seed_engine.ask(str(item["question"]))
        for quote in answer.quotes:
            file_text = (SEEDS / quote.doc_id).read_text(encoding="utf-8")
            assert file_text[quote.start : quote.end] == quote.text
        for passage in answer.passages:
            file_text = (SEEDS / passage.doc_id).read_text(encoding="utf-8")
            assert file_text[passage.start : passage.end] == passage.text


class CrashingMiniLM:
    """The real model, crashing after a number of texts (a build killed half-way)."""

    def __init__(self, real: MiniLMEmbedder, after: int) -> None:
        self.real, self.after, self.done = real, after, 0
        self.id, self.dim = real.id, real.dim
        self.multilingual, self.key = real.multilingual, real.key
        self.unit_vectors = real.unit_vectors

    def _count(self, texts: int) -> None:
        if self.done + texts > self.after:
            raise RuntimeError("killed mid-build")
        self.done += texts

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self._count(len(texts))
        return self.real.embed_passages(texts)

    def embed_with_units(self, texts: Sequence[str], spans: Sequence[Span]) -> PassageVectors:
        self._count(len(texts) + len(spans))
        return self.real.embed_with_units(texts, spans)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.real.embed_queries(texts)


def test_incremental_add_change_delete_with_the_real_model(minilm: MiniLMEmbedder, tmp_path: Path) -> None:
    seeds, index_dir = tmp_path / "seeds", tmp_path / "index"
    shutil.copytree(SEEDS, seeds)
    (seeds / "bees.md").write_text(
        "---\ntitle: Urban beekeeping\n---\nUrban beekeeping is growing in Minsk. "
        "Rooftop hives produce honey with a distinctive taste of lime trees.\n",
        encoding="utf-8",
    )
    engine = open_engine(minilm, seeds, index_dir)
    answer = engine.ask("Where do urban bees make honey?")
    assert answer.quotes and answer.quotes[0].doc_id == "bees.md"

    (seeds / "bees.md").write_text(
        "---\ntitle: Urban beekeeping\n---\nUrban beekeeping is shrinking in Minsk after two cold winters.\n",
        encoding="utf-8",
    )
    report = build(seeds, index_dir, minilm, PARAMS, FaissStore())
    assert report.changed == ("bees.md",) and report.unchanged == ("iskander-in-belarus-never-ever.txt",)
    answer = (
        Pipeline(make_settings(seeds_dir=seeds, index_dir=index_dir), minilm)
        .open_engine()
        .ask("What happened to urban beekeeping in Minsk?")
    )
    assert "shrinking" in answer.quotes[0].text

    (seeds / "notes.txt").write_text("Tractors are assembled in Minsk at a large plant.\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="killed mid-build"):
        build(seeds, index_dir, CrashingMiniLM(minilm, after=1), PARAMS, FaissStore())
    survivor = Pipeline(make_settings(seeds_dir=seeds, index_dir=index_dir), minilm).open_engine()
    assert sorted(survivor.stored.articles) == ["bees.md", "iskander-in-belarus-never-ever.txt"]
    assert not survivor.ask("Why did Moscow refuse?").abstained

    (seeds / "bees.md").unlink()
    (seeds / "notes.txt").unlink()
    report = build(seeds, index_dir, minilm, PARAMS, FaissStore())
    assert report.removed == ("bees.md",)
    after = Pipeline(make_settings(seeds_dir=seeds, index_dir=index_dir), minilm).open_engine()
    for question in ("What happened to urban beekeeping in Minsk?", "honey from rooftop hives", "bees"):
        answer = after.ask(question, k=20)
        assert all(p.doc_id != "bees.md" for p in answer.passages), "a deleted article is never returned"
        assert all(q.doc_id != "bees.md" for q in answer.quotes)


def _read(path: Path) -> list[dict[str, object]]:
    import json

    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_minilm_pools_sentences_in_the_chunk_pass_and_keeps_its_chunk_vectors(minilm: MiniLMEmbedder) -> None:
    short = "Rooftop hives produce honey. The bees fly to lime trees in June."
    long = "Bees " + "buzz and hum all day long in the park. " * 60 + "The last sentence is cut off."
    out = minilm.embed_with_units(
        [short, long], [(0, 0, 28), (0, 29, len(short)), (1, 0, 44), (1, len(long) - 29, len(long))]
    )
    np.testing.assert_array_equal(out.passages, minilm.embed_passages([short, long]))
    assert out.pooled.tolist() == [True, True, True, False], "a sentence past the 256 tokens is not pooled"
    own = minilm.embed_passages([short[:28], short[29:]])
    cosines = np.sum(out.spans[:2] * own, axis=1)
    assert np.allclose(np.linalg.norm(out.spans[:3], axis=1), 1.0, atol=1e-5)
    assert (cosines > 0.5).all(), "a pooled sentence vector is near the sentence's own"
    assert float(out.spans[0] @ own[0]) > float(out.spans[0] @ own[1]), "nearer its own than the next one's"
