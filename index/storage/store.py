"""Step 4: the index on disk, a directory of generations with a manifest each.

    data/index/
      CURRENT              name of the generation being served, replaced atomically
      .lock                held (flock) by the one process writing the index
      gen-20261125T101500-1a2b/
        manifest.json      format version, embedder id and dimension, chunking parameters, documents + hashes
        articles.jsonl     each article's text and metadata (the source of truth for quotes)
        chunks.jsonl       chunk spans (doc_id, start, end), in vector order
        units.jsonl        quotable unit spans, in units.npy order
        chunks.faiss       the chunk vectors (FAISS store only; Milvus keeps them in its collection)
        units.npy          the unit vectors (numpy format, loaded with allow_pickle=False)

A new generation is written beside the current one and becomes current by replacing CURRENT, so a crash
at any point leaves the previous generation serving. Nothing is ever loaded with pickle. Where the chunk
vectors live is the vector store's business (`index/storage/vectors.py`); everything else here is the source
of truth for texts and metadata, whichever store holds the vectors.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from index import languages
from index.errors import (
    FootnoteError,
    IndexBusyError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    IndexWriteError,
)
from index.storage.vectors import (
    ChunkSearch,
    Keys,
    VectorPlan,
    VectorStore,
    chunk_keys,
    doc_keys_of,
)
from index.types import Article, Chunk, Unit, Vectors

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
LOCK = ".lock"
_KEEP_PREVIOUS = 1
_T = TypeVar("_T", Chunk, Unit)


class DocumentEntry(BaseModel):
    """What the manifest records of one article."""

    content_hash: str
    title: str
    chunks: int
    # Absent from manifests written before languages were recorded.
    lang: str | None = None
    words: int | None = None


class CalibrationRecord(BaseModel):
    """The thresholds calibrated for the embedder that built an index, as the reader's weights held them
    then (index/query/reader_weights.json; null: -inf, not calibrated)."""

    embedder: str
    abstain_threshold: float | None
    abstain_lexical_weight: float | None
    crosslingual_gap: float | None
    answer_threshold: float | None
    slot_threshold: float | None


class Manifest(BaseModel):
    """What built an index; checked against the current settings on load."""

    format_version: int
    embedder: str
    dim: int
    chunking: dict[str, int]
    created_at: str
    documents: dict[str, DocumentEntry]
    chunk_count: int
    unit_count: int
    # Absent from manifests written before the vector store became a setting: those are FAISS indexes.
    vector_store: str = "faiss"
    files: list[str] | None = None
    # The embedder setting's name ("minilm", "e5-multilingual"), each language's share of the words,
    # and why this embedder was chosen (absent from manifests written before `auto` existed).
    embedder_name: str | None = None
    languages: dict[str, float] = {}
    embedder_reason: str | None = None
    # How the unit vectors were made: "pooled" from their chunks' token embeddings or "encoded" alone
    # (absent from manifests written before pooling: those encoded every unit alone).
    unit_vectors: str = "encoded"
    # The trained reader that answers from this index ("name sha256:…"; absent: the rules, or a manifest
    # written before the reader was a model).
    reader: str | None = None
    # The embedder's key and the thresholds calibrated for it that answers from this index use (absent
    # from manifests written before they were recorded; FOOTNOTE_ABSTAIN_THRESHOLD is not recorded).
    calibration: CalibrationRecord | None = None

    def live_doc_keys(self) -> set[int]:
        """The doc keys (see index/storage/vectors.py) of the articles this generation serves."""
        return doc_keys_of(self.embedder, ((d, e.content_hash) for d, e in self.documents.items()))


@dataclass(frozen=True, slots=True)
class StoredIndex:
    """One generation loaded into memory (its chunk vectors behind the vector store's `search`)."""

    path: Path
    manifest: Manifest
    articles: dict[str, Article]
    chunks: list[Chunk]
    units: list[Unit]
    search: ChunkSearch
    unit_vectors: Vectors
    keys: Keys

    def chunk_vectors(self) -> Vectors:
        """All chunk vectors, in chunk order."""
        if not self.chunks:
            return np.zeros((0, self.manifest.dim), dtype=np.float32)
        return self.search.vectors(range(len(self.chunks)))


# -- reading ----------------------------------------------------------------------------------------


def current_generation(index_dir: Path) -> Path | None:
    """The generation directory CURRENT points to, or None when there is no index yet."""
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"{pointer}: unreadable ({exc}); run `footnote index --full`") from None
    if not name or "/" in name or name.startswith("."):
        raise IndexCorruptError(f"{pointer}: does not name a generation; run `footnote index --full`")
    return index_dir / name


def serving_generation(index_dir: Path) -> Path:
    """The current generation directory; IndexMissingError when there is no index yet."""
    generation = current_generation(index_dir)
    if generation is None:
        raise IndexMissingError(f"no index in {index_dir}; run `footnote index` first")
    return generation


def read_manifest(generation: Path) -> Manifest:
    """Read and validate a generation's manifest.json."""
    path = generation / "manifest.json"
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise IndexCorruptError(f"{path}: missing; run `footnote index --full`") from None
    except (OSError, ValidationError, ValueError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise IndexCorruptError(
            f"{path}: not a valid manifest ({reason}); run `footnote index --full`"
        ) from None
    if manifest.format_version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"{path}: index format {manifest.format_version}, this Footnote reads format {FORMAT_VERSION}; "
            "run `footnote index --full`"
        )
    return manifest


def check_compatible(manifest: Manifest, embedder_id: str, chunking: dict[str, int], store_id: str) -> None:
    """Raise IndexMismatchError when the index was built with another embedder, chunking or vector store."""
    reason = mismatch_reason(manifest, embedder_id, chunking, store_id)
    if reason:
        raise IndexMismatchError(f"the index was built with {reason}; run `footnote index` to rebuild it")


def mismatch_reason(
    manifest: Manifest,
    embedder_id: str,
    chunking: dict[str, int],
    store_id: str,
    unit_vectors: str | None = None,
) -> str | None:
    """Why an index cannot be reused with these settings, or None when it can. `unit_vectors` (how the
    embedder makes unit vectors) is checked only when given: a build rebuilds an index whose unit vectors
    were made another way, but such an index still serves questions."""
    if manifest.embedder != embedder_id:
        return f"embedder {manifest.embedder!r}, not {embedder_id!r}"
    if unit_vectors is not None and manifest.unit_vectors != unit_vectors:
        return f"unit vectors {manifest.unit_vectors}, not {unit_vectors}"
    if manifest.vector_store != store_id:
        return f"vector store {manifest.vector_store!r}, not {store_id!r}"
    if manifest.chunking != chunking:
        changed = sorted(
            k for k in set(manifest.chunking) | set(chunking) if manifest.chunking.get(k) != chunking.get(k)
        )
        return f"other chunking parameters ({', '.join(changed)})"
    return None


BASE_FILES = ("manifest.json", "articles.jsonl", "chunks.jsonl", "units.jsonl", "units.npy")
_LEGACY_FILES = (*BASE_FILES, "chunks.faiss")


def check_files(index_dir: Path) -> Manifest:
    """A cheap health check: the current generation's manifest is valid and all its files are present."""
    generation = serving_generation(index_dir)
    manifest = read_manifest(generation)
    for name in manifest.files or _LEGACY_FILES:
        path = generation / name
        if not path.is_file():
            raise IndexCorruptError(f"{path}: missing; run `footnote index --full`")
    return manifest


def load(index_dir: Path, vector_store: VectorStore) -> StoredIndex:
    """Load the current generation, checking every file against the manifest."""
    generation = serving_generation(index_dir)
    return load_generation(generation, vector_store)


def load_generation(generation: Path, vector_store: VectorStore) -> StoredIndex:
    """Load one generation directory, its chunk vectors opened by `vector_store`."""
    manifest = read_manifest(generation)
    if manifest.vector_store != vector_store.id:
        raise IndexMismatchError(
            f"{generation}: its vectors are in {manifest.vector_store!r}, the settings say "
            f"{vector_store.id!r}; run `footnote index` to rebuild it"
        )
    articles_path = generation / "articles.jsonl"
    articles = {
        a.doc_id: _with_language(a)
        for a in (_article(row, articles_path) for row in _read_jsonl(articles_path))
    }
    chunks = [
        _span(Chunk, articles, row, generation / "chunks.jsonl")
        for row in _read_jsonl(generation / "chunks.jsonl")
    ]
    units = [
        _span(Unit, articles, row, generation / "units.jsonl")
        for row in _read_jsonl(generation / "units.jsonl")
    ]

    npy_path = generation / "units.npy"
    try:
        unit_vectors = np.load(npy_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(
            f"{npy_path}: missing or unreadable ({exc}); run `footnote index --full`"
        ) from None

    expected = (
        (len(articles), len(manifest.documents), "articles.jsonl"),
        (len(chunks), manifest.chunk_count, "chunks.jsonl"),
        (len(units), manifest.unit_count, "units.jsonl"),
        (unit_vectors.shape[0] if unit_vectors.ndim == 2 else -1, manifest.unit_count, "units.npy"),
    )
    for found, wanted, name in expected:
        if found != wanted:
            raise IndexCorruptError(
                f"{generation / name}: holds {found} entries, the manifest says {wanted}; "
                "run `footnote index --full`"
            )
    if len(units) and unit_vectors.shape[1] != manifest.dim:
        raise IndexCorruptError(
            f"{npy_path}: vector dimension differs from the manifest; run `footnote index --full`"
        )
    keys = chunk_keys(manifest.embedder, articles, chunks)
    search = vector_store.open(generation, keys, manifest.dim)
    return StoredIndex(
        generation, manifest, articles, chunks, units, search, unit_vectors.astype(np.float32), keys
    )


def _with_language(article: Article) -> Article:
    """An article with its language code; indexes built before languages were recorded get it detected."""
    lang = languages.normalise(article.lang)
    if lang is None or lang != article.lang:
        return replace(article, lang=lang or languages.article_language(article))
    return article


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    raise IndexCorruptError(
                        f"{path}: line {number} is not valid JSON; run `footnote index --full`"
                    ) from None
                if not isinstance(row, dict):
                    raise IndexCorruptError(
                        f"{path}: line {number} is not an object; run `footnote index --full`"
                    )
                yield row
    except FileNotFoundError:
        raise IndexCorruptError(f"{path}: missing; run `footnote index --full`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"{path}: unreadable ({exc}); run `footnote index --full`") from None


_ARTICLE_TYPES: dict[str, type | tuple[type, ...]] = {
    "doc_id": str,
    "title": str,
    "text": str,
    "body_start": int,
    "content_hash": str,
    "source": (str, type(None)),
    "date": (str, type(None)),
    "author": (str, type(None)),
    "lang": (str, type(None)),
}


def _article(row: dict[str, Any], path: Path) -> Article:
    """An Article from one row of articles.jsonl; IndexCorruptError when a field is missing, unknown or
    of the wrong type (a hand-edited or truncated file)."""
    required = {"doc_id", "title", "text", "body_start", "content_hash"}
    wrong = sorted(
        {*(required - row.keys()), *(row.keys() - _ARTICLE_TYPES.keys())}
        | {k for k, v in row.items() if k in _ARTICLE_TYPES and not _is(v, _ARTICLE_TYPES[k])}
    )
    if wrong:
        raise IndexCorruptError(
            f"{path}: entry {row.get('doc_id')!r:.80} is malformed (fields {', '.join(wrong)[:120]}); "
            "run `footnote index --full`"
        )
    return Article(**row)


def _is(value: object, kinds: type | tuple[type, ...]) -> bool:
    return isinstance(value, kinds) and not isinstance(value, bool)


def _span(kind: type[_T], articles: dict[str, Article], row: dict[str, Any], path: Path) -> _T:
    try:
        article = articles[row["doc_id"]]
        start, end = int(row["start"]), int(row["end"])
    except (KeyError, TypeError, ValueError):
        raise IndexCorruptError(
            f"{path}: entry {row!r:.80} is malformed; run `footnote index --full`"
        ) from None
    if not 0 <= start < end <= len(article.text):
        raise IndexCorruptError(
            f"{path}: span {start}-{end} lies outside {article.doc_id}; run `footnote index --full`"
        )
    extra = {"kind": row.get("kind", "sentence")} if kind is Unit else {}
    return kind(doc_id=article.doc_id, start=start, end=end, text=article.text[start:end], **extra)


# -- writing ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def writer_lock(index_dir: Path, *, wait: bool = True) -> Iterator[None]:
    """Hold the index's write lock; with wait=False raise IndexBusyError if another process has it.

    Bot replicas sharing the index directory share this lock, so one reindex runs at a time among them;
    on a network filesystem it needs working POSIX locks (NFSv4 has them)."""
    with contextlib.ExitStack() as held:
        with writing(index_dir):  # only taking the lock: errors of the caller's block stay theirs
            index_dir.mkdir(parents=True, exist_ok=True)
            held.enter_context(
                file_lock(
                    index_dir / LOCK,
                    wait=wait,
                    busy=f"another `footnote index` is writing {index_dir}; try again when it ends",
                    waiting="another `footnote index` is running; waiting for it to finish",
                )
            )
        yield


@contextlib.contextmanager
def writing(index_dir: Path) -> Iterator[None]:
    """Turn the operating system's refusals (permissions, a full disk) into an IndexWriteError naming
    the index folder; the OSError stays attached as its cause."""
    try:
        yield
    except OSError as exc:
        raise IndexWriteError(
            f"cannot write the index in {index_dir}: {exc}; check the folder's permissions and free space"
        ) from exc


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool, busy: str, waiting: str = "") -> Iterator[None]:
    """Hold an exclusive flock on `path`; when another process holds it, wait (logging `waiting`) or
    raise IndexBusyError(busy)."""
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise IndexBusyError(busy) from None
            if waiting:
                log.warning(waiting)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_generation(
    index_dir: Path,
    vector_store: VectorStore,
    embedder_id: str,
    dim: int,
    chunking: dict[str, int],
    articles: list[Article],
    chunks: list[Chunk],
    plan: VectorPlan,
    units: list[Unit],
    unit_vectors: Vectors,
    *,
    full: bool = False,
    embedder_name: str | None = None,
    embedder_reason: str | None = None,
    unit_method: str = "encoded",
    reader: str | None = None,
    calibration: Mapping[str, object] | None = None,
) -> Path:
    """Write a complete new generation beside the current one and make it current. Caller holds the lock.

    After the swap the vector store drops the vectors of articles the new generation no longer serves
    (with `full`, every vector it holds that is not this generation's). `unit_method` says how the unit
    vectors were made ("pooled" or "encoded"; see index/ingest/embedding.py); `calibration` the embedder's
    thresholds the manifest records (`CalibrationRecord`)."""
    with writing(index_dir):
        index_dir.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(index_dir)
        previous = current_manifest(index_dir)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        name = f"gen-{stamp}-{uuid.uuid4().hex[:6]}"
        staging = index_dir / f".staging-{name}"
        staging.mkdir()
        try:
            per_doc: dict[str, int] = {}
            for chunk in chunks:
                per_doc[chunk.doc_id] = per_doc.get(chunk.doc_id, 0) + 1
            manifest = Manifest(
                format_version=FORMAT_VERSION,
                embedder=embedder_id,
                dim=dim,
                chunking=chunking,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                documents={
                    a.doc_id: DocumentEntry(
                        content_hash=a.content_hash,
                        title=a.title,
                        chunks=per_doc.get(a.doc_id, 0),
                        lang=a.lang,
                        words=languages.words_of(a),
                    )
                    for a in articles
                },
                chunk_count=len(chunks),
                unit_count=len(units),
                vector_store=vector_store.id,
                files=[*BASE_FILES, *vector_store.files],
                embedder_name=embedder_name,
                languages={
                    k: round(v, 4)
                    for k, v in languages.LanguageMix.of((a.lang, languages.words_of(a)) for a in articles)
                    .shares()
                    .items()
                },
                embedder_reason=embedder_reason,
                unit_vectors=unit_method,
                reader=reader,
                calibration=CalibrationRecord.model_validate(calibration) if calibration else None,
            )
            _write_jsonl(staging / "articles.jsonl", (asdict(a) for a in articles))
            _write_jsonl(
                staging / "chunks.jsonl",
                ({"doc_id": c.doc_id, "start": c.start, "end": c.end} for c in chunks),
            )
            _write_jsonl(
                staging / "units.jsonl",
                ({"doc_id": u.doc_id, "start": u.start, "end": u.end, "kind": u.kind} for u in units),
            )
            with (staging / "units.npy").open("wb") as handle:
                np.save(handle, np.ascontiguousarray(unit_vectors, dtype=np.float32).reshape(len(units), dim))
            vector_store.write(index_dir, staging, plan)
            # The manifest goes last: a generation without one is never valid.
            (staging / "manifest.json").write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
            _fsync_tree(staging)
            final = index_dir / name
            staging.rename(final)
            _replace_pointer(index_dir, name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _prune(index_dir, keep=name)
        same_store = previous is not None and previous.vector_store == vector_store.id
        candidates = previous.live_doc_keys() if previous is not None and same_store else set()
        try:
            vector_store.retire(index_dir, manifest.live_doc_keys(), candidates, sweep=full)
        except FootnoteError as exc:
            # The new generation serves already and never returns a retired chunk (its keys are unknown to
            # it); the next build's `recover` finishes the clean-up.
            log.warning("the new index is live, but old vectors could not be removed yet: %s", exc)
        return final


def recover(index_dir: Path, vector_store: VectorStore) -> None:
    """Let the vector store undo what a crashed build left behind (caller holds the lock)."""
    current = current_manifest(index_dir)
    vector_store.recover(index_dir, current.live_doc_keys() if current is not None else set())


def current_manifest(index_dir: Path) -> Manifest | None:
    """The current generation's manifest, or None when there is none or it is unreadable."""
    try:
        generation = current_generation(index_dir)
        return read_manifest(generation) if generation is not None else None
    except (IndexCorruptError, IndexMismatchError):
        return None


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", errors="replace") as handle:  # a lone surrogate becomes "?"
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_pointer(index_dir: Path, name: str) -> None:
    temporary = index_dir / f".{CURRENT}.{uuid.uuid4().hex[:6]}"
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(index_dir / CURRENT)
    _fsync_dir(index_dir)


def _remove_leftovers(index_dir: Path) -> None:
    """Staging directories and pointer temporaries left by a crashed build."""
    for path in index_dir.glob(".staging-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in index_dir.glob(f".{CURRENT}.*"):
        path.unlink(missing_ok=True)


def _prune(index_dir: Path, keep: str) -> None:
    """Keep the new generation and the one before it (a reader may still be loading it)."""
    generations = sorted(
        (p for p in index_dir.glob("gen-*") if p.is_dir() and p.name != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in generations[_KEEP_PREVIOUS:]:
        shutil.rmtree(old, ignore_errors=True)


def age_seconds(manifest: Manifest) -> float:
    """Seconds since a generation was built."""
    built = datetime.fromisoformat(manifest.created_at)
    return max(0.0, time.time() - built.timestamp())


def size_bytes(generation: Path) -> int:
    """Bytes on disk of one generation."""
    return sum(p.stat().st_size for p in generation.iterdir() if p.is_file())
