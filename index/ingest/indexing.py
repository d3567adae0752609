"""Step 5: seeds folder -> a new index generation, incrementally.

Unchanged articles (same content hash, same embedder and chunking) keep their vectors; changed ones are
re-chunked and re-embedded; removed ones disappear with all their chunks. When nothing changed, nothing is
written and the model is never loaded. A file that fails to load is reported by name and skipped; if an
earlier version of it is in the index, that version stays (bad input loses nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from index import languages
from index.errors import CorpusError, FootnoteError, IndexCorruptError, IndexMismatchError
from index.ingest import chunking
from index.ingest.embedding import Embedder, Span
from index.languages import LanguageMix
from index.sources import corpus
from index.storage import store
from index.storage.vectors import VectorPlan, VectorStore, chunk_keys, doc_key
from index.types import Article, Chunk, Unit, Vectors

Progress = Callable[[int, int], None]
"""Called as progress(done, total) while chunks and units are embedded."""

_EMBED_BATCH = 512  # texts per encode call; sentence-transformers sorts each call by length
_S = TypeVar("_S", Chunk, Unit)


@dataclass(frozen=True, slots=True)
class EmbedderChoice:
    """The embedder an index is built with, its setting name, and why it was chosen."""

    embedder: Embedder
    name: str | None
    reason: str
    _: KW_ONLY
    auto: bool = False  # chosen by `auto`, not set


Chooser = Callable[[LanguageMix, str | None], EmbedderChoice]
"""Called as choose(the corpus's language mix, the setting name the current index was built with)."""


@dataclass(frozen=True, slots=True)
class IndexReport:
    """What one `footnote index` run did."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    problems: tuple[CorpusError, ...] = field(default=(), compare=False)
    chunks: int = 0
    seconds: float = 0.0
    rebuild_reason: str | None = None
    generation: str | None = None
    embedder: str | None = None
    embedder_reason: str | None = None
    detect_seconds: float = 0.0

    @property
    def wrote(self) -> bool:
        """Whether a new generation was written."""
        return self.generation is not None

    def summary(self) -> str:
        """One line for humans: added, changed, removed, unchanged, chunks, seconds."""
        return (
            f"added {len(self.added)}, changed {len(self.changed)}, removed {len(self.removed)}, "
            f"unchanged {len(self.unchanged)}; {self.chunks} chunks; {self.seconds:.1f} s"
        )


def build(
    seeds_dir: Path,
    index_dir: Path,
    embedder: Embedder | None,
    params: chunking.ChunkingParams,
    vector_store: VectorStore,
    *,
    full: bool = False,
    progress: Progress | None = None,
    wait: bool = True,
    choose: Chooser | None = None,
    reader_name: Callable[[str | None], str | None] | None = None,
    calibration: Callable[[Embedder], Mapping[str, object]] | None = None,
) -> IndexReport:
    """Bring the index in `index_dir` up to date with `seeds_dir` (chunk vectors in `vector_store`),
    embedded by `embedder` or, with `choose`, by the embedder it picks for the corpus's languages.
    `reader_name` names, for the chosen embedder setting, the trained reader that will answer, and
    `calibration` gives the thresholds calibrated for the chosen embedder (both recorded in the manifest)."""
    began = time.perf_counter()
    with store.writer_lock(index_dir, wait=wait):
        store.recover(index_dir, vector_store)
        sources = corpus.scan(seeds_dir)
        built = store.current_manifest(index_dir)
        reader = _Reader()
        mix = _language_mix(sources, built, reader)
        if choose is not None:
            choice = choose(mix, built.embedder_name if built else None)
        elif embedder is not None:
            choice = EmbedderChoice(embedder, None, f"{embedder.id} was given")
        else:
            raise ValueError("build needs an embedder or a way to choose one")
        embedder = choice.embedder
        # Looked up before any embedding: an embedder without calibrated thresholds fails at once.
        calibrated = calibration(embedder) if calibration else None
        previous, reason = _previous(
            index_dir,
            (embedder.id, embedder.unit_vectors),
            chunking.chunking_record(params),
            vector_store,
            full=full,
        )
        if choice.auto and built is not None and built.embedder != embedder.id and not full:
            reason = f"the corpus's languages call for another embedder ({choice.reason})"
        old_docs = previous.manifest.documents if previous else {}
        chosen = choice.name or embedder.id

        current = {s.doc_id: s for s in sources}
        removed = tuple(sorted(set(old_docs) - set(current)))
        unchanged_ids = [
            d for d, s in current.items() if d in old_docs and old_docs[d].content_hash == s.content_hash
        ]
        to_load = [s for d, s in current.items() if d not in unchanged_ids]

        if previous is not None and not to_load and not removed:
            return IndexReport(
                unchanged=tuple(unchanged_ids),
                chunks=previous.manifest.chunk_count,
                seconds=time.perf_counter() - began,
                detect_seconds=reader.detect_seconds,
                embedder=chosen,
                embedder_reason=choice.reason,
            )

        loaded: list[Article] = []
        problems: list[CorpusError] = []
        kept_broken: list[str] = []
        for source in to_load:
            try:
                loaded.append(reader.load(source))
            except CorpusError as exc:
                problems.append(exc)
                if source.doc_id in old_docs:
                    kept_broken.append(source.doc_id)

        added = tuple(a.doc_id for a in loaded if a.doc_id not in old_docs)
        changed = tuple(a.doc_id for a in loaded if a.doc_id in old_docs)
        keep_ids = sorted(unchanged_ids + kept_broken)
        if previous is not None and not loaded and not removed:
            # Only broken edits of indexed articles: the old versions keep serving, nothing to write.
            return IndexReport(
                unchanged=tuple(keep_ids),
                problems=tuple(problems),
                chunks=previous.manifest.chunk_count,
                seconds=time.perf_counter() - began,
                rebuild_reason=reason,
                detect_seconds=reader.detect_seconds,
                embedder=chosen,
                embedder_reason=choice.reason,
            )

        pieces = _reuse(previous, keep_ids) if previous else _Pieces()
        fresh = _embed_new(loaded, embedder, params, progress)
        merged = pieces.merge(fresh, embedder, previous)
        generation = store.write_generation(
            index_dir,
            vector_store,
            embedder.id,
            embedder.dim,
            chunking.chunking_record(params),
            merged.articles,
            merged.chunks,
            merged.plan,
            merged.units,
            merged.unit_vectors,
            full=full,
            embedder_name=choice.name,
            embedder_reason=choice.reason,
            unit_method=embedder.unit_vectors,
            reader=reader_name(choice.name) if reader_name else None,
            calibration=calibrated,
        )
        return IndexReport(
            added=added,
            changed=changed,
            removed=removed,
            unchanged=tuple(keep_ids),
            problems=tuple(problems),
            chunks=len(merged.chunks),
            seconds=time.perf_counter() - began,
            rebuild_reason=reason,
            generation=generation.name,
            detect_seconds=reader.detect_seconds,
            embedder=chosen,
            embedder_reason=choice.reason,
        )


class _Reader:
    """Loads each article at most once per build and gives it its language (front matter or detected)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Article | CorpusError] = {}
        self.detect_seconds = 0.0

    def load(self, source: corpus.SourceFile) -> Article:
        """The article with its language code; CorpusError when the file cannot be loaded."""
        found = self._loaded.get(source.doc_id)
        if found is None:
            try:
                article = corpus.load(source)
                clock = time.perf_counter()
                found = replace(article, lang=languages.article_language(article))
                self.detect_seconds += time.perf_counter() - clock
            except CorpusError as exc:
                found = exc
            self._loaded[source.doc_id] = found
        if isinstance(found, CorpusError):
            raise found
        return found


def _language_mix(
    sources: Sequence[corpus.SourceFile], current: store.Manifest | None, reader: _Reader
) -> LanguageMix:
    """Words per language over the corpus: recorded in the manifest for unchanged articles, read (and
    detected) for the others."""
    known = current.documents if current is not None else {}
    pairs: list[tuple[str | None, int]] = []
    for source in sources:
        entry = known.get(source.doc_id)
        recorded = entry is not None and entry.lang is not None and entry.words is not None
        if recorded and entry is not None and entry.content_hash == source.content_hash:
            pairs.append((entry.lang, entry.words or 0))
            continue
        try:
            article = reader.load(source)
        except CorpusError:
            if recorded and entry is not None:  # its earlier version stays in the index
                pairs.append((entry.lang, entry.words or 0))
            continue
        pairs.append((article.lang, languages.words_of(article)))
    return LanguageMix.of(pairs)


def _previous(
    index_dir: Path,
    embedder: tuple[str, str],
    chunking_params: dict[str, int],
    vector_store: VectorStore,
    *,
    full: bool,
) -> tuple[store.StoredIndex | None, str | None]:
    """The generation to build on, or None with the reason a full build is needed; `embedder` is the
    embedder's id and how it makes unit vectors."""
    if full:
        return None, "--full was asked for"
    try:
        generation = store.current_generation(index_dir)
        if generation is None:
            return None, None
        manifest = store.read_manifest(generation)
        reason = store.mismatch_reason(manifest, embedder[0], chunking_params, vector_store.id, embedder[1])
        if reason:
            return None, f"the index was built with {reason}"
        return store.load_generation(generation, vector_store), None
    except (IndexCorruptError, IndexMismatchError) as exc:
        return None, f"the old index is unusable ({exc})"


@dataclass(slots=True)
class _Pieces:
    """Articles with their chunks and units. A chunk's vector is either fresh (`origin` -1-i: row i of
    `fresh_vectors`) or kept in the previous generation (`origin` >= 0: its position there)."""

    articles: list[Article] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)
    fresh_vectors: Vectors = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    units: list[Unit] = field(default_factory=list)
    unit_vectors: list[Vectors] = field(default_factory=list)

    def merge(self, other: _Pieces, embedder: Embedder, previous: store.StoredIndex | None) -> _Merged:
        """Kept pieces (self) and fresh ones (other), ordered by doc_id so the index layout is
        deterministic, with the plan that tells the vector store which vectors are new."""
        articles = sorted(self.articles + other.articles, key=lambda a: a.doc_id)
        order = {a.doc_id: i for i, a in enumerate(articles)}
        chunks = self.chunks + other.chunks
        origins = self.origins + other.origins
        positions = _order(chunks, order)
        chunks = [chunks[i] for i in positions]
        origins_array = np.asarray([origins[i] for i in positions], dtype=np.intp)
        units = self.units + other.units
        unit_vectors = np.concatenate(self.unit_vectors + other.unit_vectors) if units else None
        unit_positions = _order(units, order)
        by_id = {a.doc_id: a for a in articles}
        kept = np.flatnonzero(origins_array >= 0)
        fresh = np.flatnonzero(origins_array < 0)
        plan = VectorPlan(
            dim=embedder.dim,
            keys=chunk_keys(embedder.id, by_id, chunks),
            doc_keys=np.fromiter(
                (doc_key(embedder.id, c.doc_id, by_id[c.doc_id].content_hash) for c in chunks),
                dtype=np.int64,
                count=len(chunks),
            ),
            fresh_rows=fresh,
            fresh_vectors=other.fresh_vectors[-1 - origins_array[fresh]],
            kept_rows=kept,
            kept_from=origins_array[kept],
            previous=previous.search if previous is not None else None,
        )
        return _Merged(
            articles,
            chunks,
            plan,
            [units[i] for i in unit_positions],
            unit_vectors[unit_positions]
            if unit_vectors is not None
            else np.zeros((0, embedder.dim), dtype=np.float32),
        )


@dataclass(frozen=True, slots=True)
class _Merged:
    articles: list[Article]
    chunks: list[Chunk]
    plan: VectorPlan
    units: list[Unit]
    unit_vectors: Vectors


def _order(spans: Sequence[_S], order: dict[str, int]) -> list[int]:
    return sorted(range(len(spans)), key=lambda i: (order[spans[i].doc_id], spans[i].start, spans[i].end))


def _reuse(previous: store.StoredIndex, doc_ids: Sequence[str]) -> _Pieces:
    keep = set(doc_ids)
    chunk_rows = [i for i, c in enumerate(previous.chunks) if c.doc_id in keep]
    unit_rows = [i for i, u in enumerate(previous.units) if u.doc_id in keep]
    return _Pieces(
        articles=[previous.articles[d] for d in doc_ids],
        chunks=[previous.chunks[i] for i in chunk_rows],
        origins=chunk_rows,
        units=[previous.units[i] for i in unit_rows],
        unit_vectors=[previous.unit_vectors[unit_rows]],
    )


def _embed_new(
    articles: list[Article], embedder: Embedder, params: chunking.ChunkingParams, progress: Progress | None
) -> _Pieces:
    """Chunk the new articles, then embed their chunks in large batches with each unit pooled in the same
    pass from the first chunk that holds it; a unit that cannot be pooled is encoded on its own."""
    pieces = _Pieces(articles=list(articles))
    for article in articles:
        units, chunks = chunking.split(article, params)
        pieces.chunks += chunks
        pieces.units += units
    home = _home_chunks(pieces.chunks, pieces.units)
    chunk_vectors = np.zeros((len(pieces.chunks), embedder.dim), dtype=np.float32)
    unit_vectors = np.zeros((len(pieces.units), embedder.dim), dtype=np.float32)
    pooled = np.zeros(len(pieces.units), dtype=bool)
    pooling = embedder.unit_vectors == "pooled"
    alone = len(pieces.units) if not pooling else int(np.count_nonzero(home < 0))
    for begin in range(0, len(pieces.chunks), _EMBED_BATCH):
        end = min(begin + _EMBED_BATCH, len(pieces.chunks))
        rows = np.flatnonzero((home >= begin) & (home < end)) if pooling else np.zeros(0, dtype=np.intp)
        spans = [_span_in(pieces.chunks, home[r] - begin, pieces.units[r], begin) for r in rows]
        out = embedder.embed_with_units([c.text for c in pieces.chunks[begin:end]], spans)
        chunk_vectors[begin:end] = out.passages
        unit_vectors[rows[out.pooled]] = out.spans[out.pooled]
        pooled[rows[out.pooled]] = True
        alone += int(np.count_nonzero(~out.pooled))
        if progress:
            progress(end, len(pieces.chunks) + alone)
    rest = np.flatnonzero(~pooled)
    for begin in range(0, len(rest), _EMBED_BATCH):
        batch = rest[begin : begin + _EMBED_BATCH]
        unit_vectors[batch] = embedder.embed_passages([pieces.units[r].text for r in batch])
        if progress:
            progress(len(pieces.chunks) + begin + len(batch), len(pieces.chunks) + len(rest))
    pieces.origins = [-1 - i for i in range(len(pieces.chunks))]
    pieces.fresh_vectors = chunk_vectors
    pieces.unit_vectors = [unit_vectors]
    return pieces


def _home_chunks(chunks: Sequence[Chunk], units: Sequence[Unit]) -> npt.NDArray[np.intp]:
    """For each unit, the first chunk of its article that wholly holds it (-1: none does)."""
    by_doc: dict[str, list[int]] = {}
    for number, chunk in enumerate(chunks):
        by_doc.setdefault(chunk.doc_id, []).append(number)
    home = np.full(len(units), -1, dtype=np.intp)
    for row, unit in enumerate(units):
        for number in by_doc.get(unit.doc_id, ()):
            if chunks[number].start <= unit.start and unit.end <= chunks[number].end:
                home[row] = number
                break
    return home


def _span_in(chunks: Sequence[Chunk], row: int, unit: Unit, first: int) -> Span:
    """The unit's span inside the text of chunk `first + row`, as row `row` of a batch from `first`."""
    chunk = chunks[first + row]
    return (int(row), unit.start - chunk.start, unit.end - chunk.start)


__all__ = ["Chooser", "EmbedderChoice", "FootnoteError", "IndexReport", "Progress", "build"]
