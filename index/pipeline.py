"""Settings -> the pipeline's plain parameters, in one place the CLI, the chat and the bot share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from config import Settings
from index.build.chunking import ChunkingParams
from index.build.embedding import Embedder, make_embedder
from index.build.indexing import IndexReport, Progress, build
from index.query.answer import AnswerParams
from index.query.engine import Engine, EngineParams
from index.sources.feeds import SyncReport, sync
from index.sources.fetch import FetchPolicy
from index.storage.vectors import VectorStore

# The reader's log-odds below which no sentence answers, calibrated on the dev split for MiniLM only;
# with other embedders Footnote abstains on passage relevance alone (docs/answers.md).
ANSWER_THRESHOLDS = {"minilm": -3.5}


@dataclass(frozen=True)
class Footnote:
    """One configured Footnote: builds its index and opens engines on it, sharing one embedder."""

    settings: Settings
    embedder: Embedder = field(default=None)  # type: ignore[assignment]
    vector_store: VectorStore = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.embedder is None:
            object.__setattr__(self, "embedder", make_embedder(self.settings.embedder))
        if self.vector_store is None:
            object.__setattr__(self, "vector_store", make_vector_store(self.settings))

    @property
    def chunking(self) -> ChunkingParams:
        """Chunking parameters from the settings."""
        s = self.settings
        return ChunkingParams(
            target_words=s.chunk_target_words,
            max_words=s.chunk_max_words,
            overlap_words=s.chunk_overlap_words,
        )

    @property
    def engine_params(self) -> EngineParams:
        """Retrieval and answer parameters from the settings."""
        s = self.settings
        threshold = (
            s.abstain_threshold if s.abstain_threshold is not None else self.embedder.abstain_threshold
        )
        return EngineParams(
            top_k=s.top_k,
            rrf_k=s.rrf_k,
            retrieval=s.retrieval,
            answer=AnswerParams(
                abstain_threshold=threshold,
                abstain_lexical_weight=self.embedder.abstain_lexical_weight,
                max_quotes=s.max_quotes,
                answer_threshold=ANSWER_THRESHOLDS.get(s.embedder, -math.inf),
            ),
            max_question_chars=s.max_question_chars,
        )

    def build_index(
        self, *, full: bool = False, progress: Progress | None = None, wait: bool = True
    ) -> IndexReport:
        """Bring the index up to date with the seeds folder."""
        s = self.settings
        return build(
            s.seeds_dir,
            s.index_dir,
            self.embedder,
            self.chunking,
            self.vector_store,
            full=full,
            progress=progress,
            wait=wait,
        )

    @property
    def fetch_policy(self) -> FetchPolicy:
        """Limits for fetching article pages and feeds."""
        s = self.settings
        return FetchPolicy(
            timeout=s.fetch_timeout, max_bytes=s.fetch_max_bytes, allow_private=s.fetch_allow_private
        )

    def sync_feeds(self) -> SyncReport:
        """Fetch new and updated articles from FOOTNOTE_FEEDS into the seeds folder (nothing is removed)."""
        s = self.settings
        return sync(s.feeds, s.seeds_dir, s.data_dir / "feeds.json", self.fetch_policy)

    def open_engine(self) -> Engine:
        """Load the current index for answering."""
        return Engine.open(
            self.settings.index_dir, self.embedder, self.chunking, self.engine_params, self.vector_store
        )


def make_vector_store(settings: Settings) -> VectorStore:
    """The vector store the settings name (FOOTNOTE_VECTOR_STORE)."""
    if settings.vector_store == "milvus":
        from index.storage.milvus_store import MilvusStore

        return MilvusStore(
            settings.milvus_uri,
            settings.milvus_token.get_secret_value() if settings.milvus_token else None,
            settings.milvus_collection,
            settings.milvus_consistency,
            settings.milvus_index,
            settings.milvus_ef,
            settings.ivf_nprobe,
            settings.milvus_timeout,
        )
    from index.storage.faiss_store import FaissStore

    return FaissStore(settings.faiss_index, settings.faiss_flat_max, settings.ivf_nprobe)
