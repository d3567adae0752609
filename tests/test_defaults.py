"""Each default and each set of allowed values is written twice: in `Settings` (what users set) and in the
pipeline's parameters (what library code and tests use without settings). These tests tie every copy to
its twin, so changing one without the other fails here rather than drifting silently."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Any

import pytest

from config import Settings
from index.ingest.chunking import ChunkingParams
from index.ingest.embedding import EMBEDDERS
from index.query.answer import AnswerParams
from index.query.engine import EngineParams
from index.query.retrieval import Mode, Retriever
from index.sources.fetch import FetchPolicy
from index.storage.faiss_store import FaissStore, IndexKind
from index.storage.milvus_store import Consistency, IndexType, MilvusStore


def default_of(owner: Callable[..., Any], name: str) -> Any:
    """The default of a dataclass field or of a constructor's parameter."""
    if dataclasses.is_dataclass(owner):
        [found] = [f for f in dataclasses.fields(owner) if f.name == name]
        return found.default
    return inspect.signature(owner).parameters[name].default


# setting -> (where its twin lives, the twin's name)
TWINS: dict[str, tuple[Callable[..., Any], str]] = {
    "chunk_target_words": (ChunkingParams, "target_words"),
    "chunk_max_words": (ChunkingParams, "max_words"),
    "chunk_overlap_words": (ChunkingParams, "overlap_words"),
    "top_k": (EngineParams, "top_k"),
    "rrf_k": (EngineParams, "rrf_k"),
    "retrieval": (EngineParams, "retrieval"),
    "max_question_chars": (EngineParams, "max_question_chars"),
    "max_quotes": (AnswerParams, "max_quotes"),
    "faiss_index": (FaissStore, "kind"),
    "faiss_flat_max": (FaissStore, "flat_max"),
    "ivf_nprobe": (FaissStore, "nprobe"),
    "milvus_collection": (MilvusStore, "collection"),
    "milvus_consistency": (MilvusStore, "consistency"),
    "milvus_index": (MilvusStore, "index_type"),
    "milvus_ef": (MilvusStore, "ef"),
    "milvus_timeout": (MilvusStore, "timeout"),
    "fetch_timeout": (FetchPolicy, "timeout"),
    "fetch_max_bytes": (FetchPolicy, "max_bytes"),
    "fetch_allow_private": (FetchPolicy, "allow_private"),
}


@pytest.mark.parametrize("setting", sorted(TWINS))
def test_each_default_equals_its_twin(setting: str) -> None:
    owner, name = TWINS[setting]
    assert Settings.model_fields[setting].default == default_of(owner, name), (
        f"FOOTNOTE_{setting.upper()} and {owner.__name__}.{name} have different defaults"
    )


def test_milvus_nprobe_is_the_faiss_one() -> None:
    """FOOTNOTE_IVF_NPROBE sets both stores' nprobe."""
    assert default_of(MilvusStore, "nprobe") == default_of(FaissStore, "nprobe")


def _allowed(setting: str) -> tuple[object, ...]:
    return typing.get_args(Settings.model_fields[setting].annotation)


@pytest.mark.parametrize(
    ("setting", "twin"),
    [
        ("retrieval", Mode),
        ("faiss_index", IndexKind),
        ("milvus_consistency", Consistency),
        ("milvus_index", IndexType),
    ],
)
def test_allowed_values_equal_their_twins(setting: str, twin: object) -> None:
    assert _allowed(setting) == typing.get_args(twin)


def test_every_embedder_setting_names_an_embedder() -> None:
    assert set(_allowed("embedder")) == set(EMBEDDERS) | {"auto"}  # auto picks one of them per corpus


def test_the_retriever_defaults_to_the_settings_mode() -> None:
    assert default_of(Retriever, "mode") == Settings.model_fields["retrieval"].default


def test_every_twin_is_a_real_parameter() -> None:
    """A renamed parameter fails here by name, not as a confusing default mismatch."""
    for setting, (owner, name) in TWINS.items():
        assert setting in Settings.model_fields, setting
        default_of(owner, name)
