"""The trained reader's first cut: which of a question's candidates the cross-encoder reads (model-free
plumbing; its effect on answers is measured by `benchmarks.reader`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from index.ingest.chunking import ChunkingParams
from index.ingest.embedding import HashingEmbedder
from index.ingest.indexing import build
from index.query.answer import AnswerParams
from index.query.engine import Engine, EngineParams
from index.query.reader import FEATURES
from index.query.reader_model import FirstCut
from index.storage.faiss_store import FaissStore
from index.training.first_cut import Candidates, all_gold_within, candidates, fit_first_cut


def test_each_feature_is_taken_as_it_is_less_the_best_and_less_the_mean() -> None:
    features = np.array([[1.0, 4.0], [3.0, 0.0]])
    assert FirstCut.inputs(features).tolist() == [[1, 4, -2, 0, -1, 2], [3, 0, 0, -4, 1, -2]]
    assert FirstCut.inputs(np.zeros((0, 2))).shape == (0, 6)


def test_logits_read_their_columns_by_name_and_survive_json() -> None:
    cut = FirstCut(("b",), (0.0, 0.0, 0.0), (1.0, 1.0, 2.0), (1.0, 0.0, 1.0), 0.5)
    features = np.array([[9.0, 1.0], [9.0, 3.0]])
    # b as it is, plus half of b less the mean (-1, +1)
    assert cut.logits(features, ("a", "b")).tolist() == [1.0, 4.0]
    assert FirstCut.from_json(json.loads(json.dumps(cut.to_json()))) == cut


def synthetic(split: str, rng: np.random.Generator, golds: int = 1) -> Candidates:
    """A question whose gold sentences have the highest focus of its candidates, at a level that varies
    from question to question; every other feature is noise."""
    n, level = 8, rng.uniform(0.0, 5.0)
    features = rng.normal(size=(n, len(FEATURES)))
    focus = level + rng.uniform(0.0, 1.0, n)
    gold = rng.choice(n, size=golds, replace=False)
    focus[gold] = level + 1.5
    features[:, FEATURES.index("focus")] = focus
    texts = [f"Sentence {chr(65 + i)} says something." for i in range(n)]
    return Candidates(split, texts, np.ones(n, dtype=bool), features, tuple(texts[g] for g in gold))


def test_the_fitted_first_cut_puts_the_gold_sentences_first() -> None:
    rng = np.random.default_rng(7)
    cut = fit_first_cut([synthetic("train", rng) for _ in range(300)])
    held_out = [synthetic("dev", rng) for _ in range(100)]
    order: Callable[[np.ndarray], np.ndarray] = lambda f: cut.logits(f, FEATURES)  # noqa: E731
    assert all_gold_within(held_out, order, 1) >= 0.95
    noise = FEATURES.index("length")
    assert all_gold_within(held_out, lambda f: f[:, noise], 1) < 0.4, "a noise feature does not"
    two = [synthetic("dev", rng, golds=2) for _ in range(100)]
    assert all_gold_within(two, order, 1) == 0.0, "a two-fact question needs both of its sentences"
    assert all_gold_within(two, order, 2) >= 0.95


class Recording:
    """A stand-in for the cross-encoder that records which sentences it was given."""

    name, hash = "recording", "0"

    def __init__(self, first_cut: FirstCut | None) -> None:
        self.first_cut = first_cut
        self.read: list[str] = []

    def probabilities(self, question: str, sentences: list[str]) -> np.ndarray:
        self.read.extend(sentences)
        return np.full(len(sentences), 0.9)


@pytest.fixture
def engine(write_article: Callable[..., Path], tmp_path: Path) -> Engine:
    write_article(
        "apples.md",
        "Apples grow on trees in orchards across the valley. Farmers pick ripe apples in autumn every year. "
        "The valley's cider mill presses apples through the cold months. Orchards need pruning in winter "
        "before the buds open.",
        title="Apples",
    )
    build(tmp_path / "seeds", tmp_path / "index", HashingEmbedder(), ChunkingParams(), FaissStore())
    params = EngineParams(answer=AnswerParams(abstain_threshold=0.2, model_candidates=1))
    return Engine.open(tmp_path / "index", HashingEmbedder(), ChunkingParams(), params, FaissStore())


def test_the_model_reads_the_candidates_its_first_cut_ranks_best(engine: Engine) -> None:
    question = "When do farmers pick ripe apples in the valley?"
    rows, features = candidates(engine, question)
    quotable = [i for i, row in enumerate(rows) if engine.reader.quotable(row, engine.params.answer)]
    cosine = features[:, FEATURES.index("cosine")]
    closest = engine.stored.units[rows[max(quotable, key=lambda i: cosine[i])]].text
    farthest = engine.stored.units[rows[min(quotable, key=lambda i: cosine[i])]].text
    assert closest != farthest
    for sign, expected in ((1.0, closest), (-1.0, farthest)):
        model = Recording(FirstCut(("cosine",), (0.0,) * 3, (1.0,) * 3, (sign, 0.0, 0.0), 0.0))
        engine.model = model  # type: ignore[assignment]
        engine.ask(question)
        assert model.read == [expected], "one candidate read: the one the first cut ranks best"
