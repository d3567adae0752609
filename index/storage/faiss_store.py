"""Step 4a, embedded: chunk vectors in a FAISS file inside each generation (`chunks.faiss`).

Up to `flat_max` passages (50,000) an exact inner-product index (IndexFlatIP) is both exact and
fast enough. Above it, an inverted-file index (IndexIVFFlat, about 4·√N lists, `nprobe` of them
searched at a time) keeps a search of a million passages to a few milliseconds on two cores;
BENCHMARKS.md has the latency and recall@10 against exact search that chose the defaults. Vectors
stay uncompressed, so they can be read back for incremental builds (a direct map is kept).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np

from config.defaults import FAISS_FLAT_MAX, FAISS_INDEX, IVF_NPROBE, IndexKind
from index.errors import IndexCorruptError
from index.storage.vectors import Keys, VectorPlan
from index.types import Vectors

FILE = "chunks.faiss"
_TRAIN_PER_LIST = 40


def choose(
    count: int, kind: IndexKind = FAISS_INDEX, flat_max: int = FAISS_FLAT_MAX
) -> Literal["flat", "ivf"]:
    """The index type for a corpus of `count` passages."""
    if kind != "auto":
        return kind
    return "flat" if count <= flat_max else "ivf"


def build(
    vectors: Vectors, dim: int, kind: IndexKind = FAISS_INDEX, flat_max: int = FAISS_FLAT_MAX, seed: int = 1
) -> Any:
    """A filled FAISS index over unit vectors (inner product = cosine)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
    count = len(vectors)
    if choose(count, kind, flat_max) == "flat" or count < 2:
        index: Any = faiss.IndexFlatIP(dim)
        if count:
            index.add(vectors)
        return index
    lists = max(1, min(int(4 * math.sqrt(count)), count // 2))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    sample = vectors[rng.choice(count, size=min(count, lists * _TRAIN_PER_LIST), replace=False)]
    index.train(sample)
    index.add(vectors)
    index.make_direct_map()
    index.nprobe = IVF_NPROBE
    return index


def describe(index: Any) -> str:
    """'flat' or 'ivf<lists>' for stats and logs."""
    if isinstance(index, faiss.IndexIVF):
        return f"ivf{index.nlist} (nprobe {index.nprobe})"
    return "flat"


def set_nprobe(index: Any, nprobe: int) -> None:
    """How many inverted lists a search visits (IVF only): more is slower and closer to exact."""
    if isinstance(index, faiss.IndexIVF):
        index.nprobe = nprobe


class FaissSearch:
    """One generation's FAISS index, in memory."""

    def __init__(self, index: Any) -> None:
        self.index = index

    @property
    def count(self) -> int:
        """How many chunks the index holds."""
        return int(self.index.ntotal)

    def search(self, query: Vectors, k: int) -> list[tuple[int, float]]:
        """(position, inner product) of the k nearest chunks."""
        if not self.count:
            return []
        scores, ids = self.index.search(query.reshape(1, -1), min(k, self.count))
        return [(int(i), float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]

    def vectors(self, positions: Sequence[int]) -> Vectors:
        """Vectors read back from the index (IVF keeps a direct map for this)."""
        if not len(positions):
            return np.zeros((0, self.index.d), dtype=np.float32)
        if list(positions) == list(range(self.count)):
            return np.asarray(self.index.reconstruct_n(0, self.count), dtype=np.float32)
        return np.stack([self.index.reconstruct(int(i)) for i in positions]).astype(np.float32)

    def describe(self) -> str:
        """'flat' or 'ivf<lists> (nprobe n)'."""
        return describe(self.index)


class FaissStore:
    """Chunk vectors as `chunks.faiss` in every generation: the generation directory is the whole index."""

    id = "faiss"
    files = (FILE,)

    def __init__(
        self, kind: IndexKind = FAISS_INDEX, flat_max: int = FAISS_FLAT_MAX, nprobe: int = IVF_NPROBE
    ) -> None:
        self.kind = kind
        self.flat_max = flat_max
        self.nprobe = nprobe

    def recover(self, index_dir: Path, live: set[int]) -> None:
        """Nothing to do: a crashed build's staging directory is all it leaves."""

    def write(self, index_dir: Path, staging: Path, plan: VectorPlan) -> None:
        """Build the index over every chunk vector and write it into the staging directory."""
        index = build(plan.all_vectors(), plan.dim, self.kind, self.flat_max)
        faiss.write_index(index, str(staging / FILE))

    def retire(self, index_dir: Path, live: set[int], candidates: set[int], *, sweep: bool) -> None:
        """Nothing to do: old vectors go with their generation directory."""

    def open(self, generation: Path, keys: Keys, dim: int) -> FaissSearch:
        """Read `chunks.faiss`, checking it against the manifest."""
        path = generation / FILE
        try:
            index = faiss.read_index(str(path))
        except RuntimeError:
            raise IndexCorruptError(f"{path}: missing or unreadable; run `footnote index --full`") from None
        if index.ntotal != len(keys):
            raise IndexCorruptError(
                f"{path}: holds {index.ntotal} entries, the manifest says {len(keys)}; "
                "run `footnote index --full`"
            )
        if index.d != dim:
            raise IndexCorruptError(
                f"{path}: vector dimension differs from the manifest; run `footnote index --full`"
            )
        set_nprobe(index, self.nprobe)
        return FaissSearch(index)
