"""The defaults a setting shares with the library are written once (config/defaults.py). What is left to
check: the names a setting accepts are the library's, and every such setting reaches the parameter it
sets (index/pipeline.py)."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from index import pipeline as pipeline_module
from index.ingest.chunking import ChunkingParams
from index.ingest.embedding import EMBEDDERS, HashingEmbedder
from index.pipeline import Pipeline, make_vector_store
from index.sources.fetch import FetchPolicy
from index.storage.faiss_store import FaissStore
from index.storage.milvus_store import MilvusStore
from tests.helpers import make_settings


def test_every_embedder_setting_names_an_embedder() -> None:
    allowed = typing.get_args(Settings.model_fields["embedder"].annotation)
    assert set(allowed) == set(EMBEDDERS) | {"auto"}  # auto picks one of them per corpus


def test_each_shared_setting_reaches_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values other than the defaults, so a setting the pipeline forgets to pass shows."""
    settings = make_settings(
        data_dir=tmp_path,
        chunk_target_words=120,
        chunk_max_words=180,
        chunk_overlap_words=30,
        top_k=7,
        rrf_k=30,
        retrieval="dense",
        max_quotes=3,
        max_question_chars=600,
        faiss_index="ivf",
        faiss_flat_max=1000,
        ivf_nprobe=16,
        fetch_timeout=5.0,
        fetch_max_bytes=100_000,
        fetch_deadline=30.0,
        feeds_deadline=300.0,
        fetch_allow_private=True,
        feeds_keep_days=7.0,
        watches_per_user=3,
    )
    footnote = Pipeline(settings, HashingEmbedder())
    assert footnote.chunking == ChunkingParams(target_words=120, max_words=180, overlap_words=30)
    params = footnote.params_for(footnote.embedder)
    assert (params.top_k, params.rrf_k, params.retrieval, params.max_question_chars) == (7, 30, "dense", 600)
    assert params.answer.max_quotes == 3
    store = footnote.vector_store
    assert isinstance(store, FaissStore) and (store.kind, store.flat_max, store.nprobe) == ("ivf", 1000, 16)
    assert footnote.fetch_policy == FetchPolicy(
        timeout=5.0, max_bytes=100_000, page_deadline=30.0, feed_deadline=300.0, allow_private=True
    )
    assert footnote.watch_store().per_owner == 3
    synced: list[Any] = []
    monkeypatch.setattr(pipeline_module, "sync", lambda *args: synced.append(args))
    footnote.sync_feeds()
    assert synced[0][-1] == 7.0

    milvus = make_vector_store(
        make_settings(
            vector_store="milvus",
            milvus_collection="other",
            milvus_consistency="Strong",
            milvus_index="IVF_FLAT",
            milvus_ef=32,
            ivf_nprobe=16,
            milvus_timeout=5.0,
        )
    )
    assert isinstance(milvus, MilvusStore)
    assert (milvus.collection, milvus.consistency, milvus.index_type) == ("other", "Strong", "IVF_FLAT")
    assert (milvus.ef, milvus.nprobe, milvus.timeout) == (32, 16, 5.0)
