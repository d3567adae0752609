"""Step 4a: where the chunk vectors live, behind one small protocol.

Two stores implement it:

- `index/storage/faiss_store.py` (the default): a FAISS file inside each index generation, loaded into the
  process that answers;
- `index/storage/milvus_store.py`: one Milvus collection shared by every generation and every bot replica.

Footnote's own store (`index/storage/store.py`: articles, chunk and unit spans, unit vectors, the manifest)
stays the source of truth either way, so the vectors can always be rebuilt into either backend.

Every chunk has a content-addressed key, a 63-bit hash of (embedder, article, the article's content
hash, span). The same chunk of the same article version embedded by the same model always has the same
key, so a shared collection only gains what is new, loses what is gone, and a key never points at
another text. Articles have such a key too (`doc_key`), which is how a store deletes an article's
vectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from index.types import Article, Chunk, Vectors

Keys = NDArray[np.int64]

_KEY_MASK = (1 << 63) - 1


def _hash63(*parts: object) -> int:
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & _KEY_MASK


def doc_key(embedder_id: str, doc_id: str, content_hash: str) -> int:
    """The key of one article version's vectors (deleting an article deletes by it)."""
    return _hash63("doc", embedder_id, doc_id, content_hash)


def chunk_keys(embedder_id: str, articles: dict[str, Article], chunks: Sequence[Chunk]) -> Keys:
    """The content-addressed key of every chunk, in chunk order."""
    return np.fromiter(
        (
            _hash63("chunk", embedder_id, c.doc_id, articles[c.doc_id].content_hash, c.start, c.end)
            for c in chunks
        ),
        dtype=np.int64,
        count=len(chunks),
    )


def doc_keys_of(embedder_id: str, documents: Iterable[tuple[str, str]]) -> set[int]:
    """The doc keys of (doc_id, content_hash) pairs."""
    return {doc_key(embedder_id, doc_id, content_hash) for doc_id, content_hash in documents}


class ChunkSearch(Protocol):
    """The chunk vectors of one loaded generation: positions are chunk positions in that generation."""

    @property
    def count(self) -> int:
        """How many chunks the generation holds."""
        ...

    def search(self, query: Vectors, k: int) -> list[tuple[int, float]]:
        """(chunk position, inner product) of the k nearest chunks, best first."""
        ...

    def vectors(self, positions: Sequence[int]) -> Vectors:
        """The vectors at these chunk positions (zeros for any the store no longer holds)."""
        ...

    def describe(self) -> str:
        """What kind of index answers searches, for `footnote stats` and logs."""
        ...


@dataclass(frozen=True, slots=True)
class VectorPlan:
    """A new generation's chunk vectors: fresh from the model, or kept from the previous generation."""

    dim: int
    keys: Keys
    doc_keys: Keys
    fresh_rows: NDArray[np.intp]
    fresh_vectors: Vectors
    kept_rows: NDArray[np.intp]
    kept_from: NDArray[np.intp]
    previous: ChunkSearch | None

    @property
    def count(self) -> int:
        """Chunks in the new generation."""
        return len(self.keys)

    def all_vectors(self) -> Vectors:
        """Every chunk's vector in chunk order (reads the kept ones back from the previous generation)."""
        out = np.zeros((self.count, self.dim), dtype=np.float32)
        if len(self.fresh_rows):
            out[self.fresh_rows] = self.fresh_vectors
        if len(self.kept_rows):
            assert self.previous is not None
            out[self.kept_rows] = self.previous.vectors([int(i) for i in self.kept_from])
        return out


class VectorStore(Protocol):
    """Writes each generation's chunk vectors and opens them for search.

    A build calls, with the index's write lock held: `recover` first (undo what a crashed build left
    behind), `write` while the new generation is staged, then `retire` once the new generation is current
    (drop the vectors of articles that are gone).
    """

    @property
    def id(self) -> str:
        """What the manifest records ("faiss", "milvus:<collection>"); another store means a rebuild."""
        ...

    @property
    def files(self) -> tuple[str, ...]:
        """Files this store writes into every generation directory."""
        ...

    def recover(self, index_dir: Path, live: set[int]) -> None:
        """Remove vectors a crashed build wrote for articles not in `live` (the current doc keys)."""
        ...

    def write(self, index_dir: Path, staging: Path, plan: VectorPlan) -> None:
        """Store the new generation's vectors; nothing serving may see a change until it is current."""
        ...

    def retire(self, index_dir: Path, live: set[int], candidates: set[int], *, sweep: bool) -> None:
        """After the swap: drop the vectors of `candidates` not in `live` (all non-live ones when `sweep`)."""
        ...

    def open(self, generation: Path, keys: Keys, dim: int) -> ChunkSearch:
        """The searchable vectors of one generation, whose chunks have these keys."""
        ...
