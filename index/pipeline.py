"""Settings -> the pipeline: `Pipeline`, the one place the CLI, the chat and the bot turn settings into
the embedder, the vector store, the index builder and the engines that answer (`index.query.engine`)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from config import Settings
from index.ingest.chunking import ChunkingParams
from index.ingest.embedding import EMBEDDERS, Embedder, make_embedder
from index.ingest.indexing import EmbedderChoice, IndexReport, Progress, build
from index.languages import LanguageMix, choose_embedder
from index.query import reader_model
from index.query.answer import AnswerParams
from index.query.engine import Engine, EngineParams
from index.query.reader import Calibration, ReaderWeights
from index.query.watches import WatchStore
from index.sources.feeds import SyncReport, sync
from index.sources.fetch import FetchPolicy
from index.storage import store
from index.storage.vectors import VectorStore

# A question that names nothing is taken for a follow-up when its best sentence in the previous answer's
# articles scores within this much below the answer threshold (placed on the dev follow-ups and new-subject
# questions asked after another one: docs/answers.md). Not for a model without a calibrated threshold.
VAGUE_FOLLOW_UP_MARGIN = 1.5


@dataclass(frozen=True)
class Pipeline:
    """The factory: settings turned into Footnote's parts once. It builds the index (`build_index`) and
    opens `Engine`s on it (`open_engine`), sharing its embedders between them; it answers nothing itself.

    With FOOTNOTE_EMBEDDER=auto the embedder is chosen per corpus: by its languages when indexing, by
    the manifest (what built the index) when answering. An `embedder` given here is always used."""

    settings: Settings
    embedder: Embedder = field(default=None)  # type: ignore[assignment]
    vector_store: VectorStore = field(default=None)  # type: ignore[assignment]
    # Embedders already made, by setting name (shared between indexes, and by tests with loaded models)
    models: dict[str, Embedder] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.embedder is None and self.settings.embedder != "auto":
            object.__setattr__(self, "embedder", make_embedder(self.settings.embedder))
        if self.vector_store is None:
            object.__setattr__(self, "vector_store", make_vector_store(self.settings))

    def model(self, name: str) -> Embedder:
        """The embedder a setting names, made once and shared (a model loads once per process)."""
        with self._lock:
            if name not in self.models:
                self.models[name] = make_embedder(name)
            return self.models[name]

    def choose(self, mix: LanguageMix, previous: str | None) -> EmbedderChoice:
        """The embedder an index of a corpus with this language mix is built with, and why."""
        if self.embedder is not None:
            name = None if self.settings.embedder == "auto" else self.settings.embedder
            reason = f"set: FOOTNOTE_EMBEDDER={name}" if name else f"given: {self.embedder.id}"
            return EmbedderChoice(self.embedder, name, reason)
        choice = choose_embedder(mix, previous)
        return EmbedderChoice(self.model(choice.name), choice.name, choice.reason, auto=True)

    def serving_embedder(self) -> Embedder:
        """The embedder questions to the current index are embedded with."""
        if self.embedder is not None:
            return self.embedder
        manifest = store.read_manifest(store.serving_generation(self.settings.index_dir))
        if manifest.embedder_name in EMBEDDERS:
            return self.model(manifest.embedder_name)
        for name in EMBEDDERS:  # an index written before the name was recorded
            if self.model(name).id == manifest.embedder:
                return self.model(name)
        mix = LanguageMix.of((entry.lang, entry.words or 0) for entry in manifest.documents.values())
        return self.model(choose_embedder(mix).name)

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
        """Retrieval and answer parameters from the settings, for the embedder serving the index."""
        return self.params_for(self.embedder or self.serving_embedder())

    def params_for(self, embedder: Embedder) -> EngineParams:
        """Retrieval and answer parameters from the settings, calibrated for `embedder`."""
        s = self.settings
        calibrated = self.calibration(embedder)
        threshold = s.abstain_threshold if s.abstain_threshold is not None else calibrated.abstain_threshold
        model = reader_model.thresholds("minilm") if self.reads_with_model(embedder) else {}
        floor = vague_follow_up_floor(calibrated.answer_threshold)
        if model and model.get("model_follow_ups", True):  # the model reads them: its floor is below its own
            floor = vague_follow_up_floor(math.log(model["model_threshold"] / (1 - model["model_threshold"])))
        return EngineParams(
            top_k=s.top_k,
            rrf_k=s.rrf_k,
            retrieval=s.retrieval,
            answer=AnswerParams(
                abstain_threshold=threshold,
                cosine_offset=calibrated.abstain_threshold,
                abstain_lexical_weight=calibrated.abstain_lexical_weight,
                crosslingual_gap=calibrated.crosslingual_gap,
                max_quotes=s.max_quotes,
                answer_threshold=calibrated.answer_threshold,
                slot_threshold=calibrated.slot_threshold,
                **model,
            ),
            max_question_chars=s.max_question_chars,
            vague_follow_up_floor=floor,
        )

    def calibration(self, embedder: Embedder) -> Calibration:
        """The thresholds calibrated for `embedder` with the reader's weights, looked up by its key
        (CalibrationError when there are none); FOOTNOTE_ABSTAIN_THRESHOLD is applied in `params_for`."""
        return ReaderWeights.load().calibration(embedder.key)

    def calibration_record(self, embedder: Embedder) -> dict[str, str | float | None]:
        """The calibration a new index's manifest records: the embedder's key and its five numbers."""
        return {"embedder": embedder.key, **self.calibration(embedder).to_json()}

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
            choose=self.choose,
            reader_name=self.reader_label,
            calibration=self.calibration_record,
        )

    @property
    def fetch_policy(self) -> FetchPolicy:
        """Limits for fetching article pages and feeds."""
        s = self.settings
        return FetchPolicy(
            timeout=s.fetch_timeout,
            max_bytes=s.fetch_max_bytes,
            page_deadline=s.fetch_deadline,
            feed_deadline=s.feeds_deadline,
            allow_private=s.fetch_allow_private,
        )

    def sync_feeds(self) -> SyncReport:
        """Fetch new and updated articles from FOOTNOTE_FEEDS into the seeds folder (nothing is removed)."""
        s = self.settings
        return sync(s.feeds, s.seeds_dir, s.data_dir / "feeds.json", self.fetch_policy, s.feeds_keep_days)

    def watch_store(self) -> WatchStore:
        """The watches kept in the data folder (`footnote watch`, /watch; index/query/watches.py)."""
        return WatchStore(self.settings.data_dir / "watches", per_owner=self.settings.watches_per_user)

    def open_engine(self) -> Engine:
        """Load the current index for answering."""
        embedder = self.serving_embedder()
        reader = reader_model.shared_reader() if self.reads_with_model(embedder) else None
        return Engine.open(
            self.settings.index_dir,
            embedder,
            self.chunking,
            self.params_for(embedder),
            self.vector_store,
            reader,
        )

    def reads_with_model(self, embedder: Embedder) -> bool:
        """Whether the trained reader answers for this embedder: it reads English, and was calibrated with
        MiniLM's retrieval (FOOTNOTE_READER=rules turns it off)."""
        return (
            self.settings.reader == "model"
            and embedder.id == self.model_id("minilm")
            and reader_model.available()
        )

    def model_id(self, name: str) -> str | None:
        """The id of the embedder a setting names, without loading it when it is not loaded yet."""
        if name == "minilm":
            from index.ingest.embedding import MiniLMEmbedder

            return MiniLMEmbedder().id
        return self.model(name).id

    def reader_label(self, embedder_name: str | None) -> str | None:
        """The reader recorded in a new index's manifest: the model's name and hash, or None (the rules)."""
        if (
            self.settings.reader != "model"
            or embedder_name not in {"minilm", None}
            or not reader_model.available()
        ):
            return None
        if (
            embedder_name is None
            and self.embedder is not None
            and self.embedder.id != self.model_id("minilm")
        ):
            return None
        meta = reader_model.read_meta()
        return f"{meta.get('name', 'reader')} sha256:{reader_model.weights_hash()}"


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


def vague_follow_up_floor(answer_threshold: float) -> float:
    """The score a vague question's answer from the previous articles needs (inf: such questions stand
    alone, as with a model whose answer threshold is not calibrated)."""
    if math.isinf(answer_threshold):
        return math.inf
    return answer_threshold - VAGUE_FOLLOW_UP_MARGIN
