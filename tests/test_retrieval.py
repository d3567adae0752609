"""Fusing dense and BM25 rankings (plumbing with the hashing embedder; quality: benchmarks/hybrid.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from config.defaults import Mode
from index.ingest.chunking import ChunkingParams
from index.ingest.embedding import HashingEmbedder
from index.ingest.indexing import build
from index.query.engine import EngineParams
from index.query.retrieval import Fusion, Retriever, fuse_rrf, fuse_zscore
from index.storage import store
from index.storage.faiss_store import FaissStore
from index.storage.store import StoredIndex

TOPICS = [
    "Bushfires burn across New South Wales as firefighters battle strong winds near Sydney.",
    "The Australian cricket team leads South Africa after the second day of the Boxing Day Test.",
    "Israeli troops enter Palestinian towns in the West Bank after a suicide bombing.",
    "Pakistan and India trade accusations over the attack on the Indian parliament.",
    "The national road toll over the Christmas holidays is lower than last year.",
    "Qantas workers vote on industrial action over pay and job security.",
]


@pytest.fixture
def stored(tmp_path: Path, write_article: Callable[..., Path], hashing: HashingEmbedder) -> StoredIndex:
    for number, topic in enumerate(TOPICS):
        write_article(f"news-{number}.md", f"# News {number}\n\n" + " ".join([topic] * 4) + "\n")
    build(tmp_path / "seeds", tmp_path / "index", hashing, ChunkingParams(), FaissStore())
    return store.load(tmp_path / "index", FaissStore())


def test_zscore_keeps_a_confident_dense_lead_that_rrf_gives_away() -> None:
    # Dense: chunk 0 far ahead of the rest. BM25: chunk 1 first, but barely above 2 and 0.
    dense = {0: 0.9, 1: 0.5, 2: 0.49, 3: 0.48}
    lexical = np.array([9.8, 10.0, 9.9, 1.0], dtype=np.float32)
    rankings = [[0, 1, 2, 3], [1, 2, 0, 3]]

    by_rank = fuse_rrf(rankings, [1.0, 1.0], rrf_k=60)
    by_score = fuse_zscore(
        dict.fromkeys(range(4)), dense, list(dense.values()), lexical, [10.0, 9.9, 9.8, 1.0], (1.0, 0.5)
    )

    assert max(by_rank, key=lambda i: by_rank[i]) == 1
    assert max(by_score, key=lambda i: by_score[i]) == 0


def test_zscore_with_equal_or_missing_scores_does_not_divide_by_zero() -> None:
    fused = fuse_zscore(
        {0: None, 1: None}, {0: 0.5, 1: 0.5}, [0.5, 0.5], np.zeros(2, np.float32), [], (1.0, 0.5)
    )

    assert fused == {0: 0.0, 1: 0.0}


@pytest.mark.parametrize("fusion", ["rrf", "zscore"])
def test_hybrid_passages_carry_the_exact_dense_cosine(
    stored: StoredIndex, hashing: HashingEmbedder, fusion: Fusion
) -> None:
    # One candidate each: BM25's best chunk is not dense's, so its cosine is fetched from the store.
    retriever = Retriever(stored, hashing, candidates=1, fusion=fusion)
    question = "fires near Sydney and the cricket"

    passages = retriever.retrieve(question, 4).passages

    query = hashing.embed_queries([question])[0]
    vectors = stored.chunk_vectors()
    assert {p.doc_id for p in passages} == {"news-3.md", "news-0.md"}
    for passage in passages:
        assert passage.dense == pytest.approx(float(vectors[passage.chunk_no] @ query), abs=1e-5)


@pytest.mark.parametrize("fusion", ["rrf", "zscore"])
def test_a_question_sharing_no_word_with_the_corpus_is_ranked_by_dense_alone(
    stored: StoredIndex, hashing: HashingEmbedder, fusion: Fusion
) -> None:
    question = "Почему сгорели леса возле Сиднея?"
    dense = Retriever(stored, hashing, mode="dense").retrieve(question, 5).passages

    hybrid = Retriever(stored, hashing, fusion=fusion).retrieve(question, 5).passages

    assert [p.chunk_no for p in hybrid] == [p.chunk_no for p in dense]


@pytest.mark.parametrize("mode", ["dense", "lexical"])
def test_single_method_modes_do_not_depend_on_the_fusion(
    stored: StoredIndex, hashing: HashingEmbedder, mode: Mode
) -> None:
    question = "cricket test against South Africa"

    by_rank = Retriever(stored, hashing, mode=mode, fusion="rrf").retrieve(question, 5).passages
    by_score = Retriever(stored, hashing, mode=mode, fusion="zscore").retrieve(question, 5).passages

    assert [p.chunk_no for p in by_rank] == [p.chunk_no for p in by_score]


def test_reciprocal_rank_fusion_stays_the_default() -> None:
    assert EngineParams().fusion == "rrf"
