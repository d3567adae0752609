"""Step 4a: which FAISS index holds the chunk vectors, chosen by corpus size.

Up to `flat_max` passages (50,000) an exact inner-product index (IndexFlatIP) is both exact and
fast enough. Above it, an inverted-file index (IndexIVFFlat, about 4·√N lists, `nprobe` of them
searched at a time) keeps a search of a million passages to a few milliseconds on two cores;
BENCHMARKS.md has the latency and recall@10 against exact search that chose the defaults. Vectors
stay uncompressed, so they can be read back for incremental builds (a direct map is kept).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import faiss
import numpy as np

from index.embedding import Vectors

IndexKind = Literal["auto", "flat", "ivf"]
FLAT_MAX = 50_000
NPROBE = 48
_TRAIN_PER_LIST = 40


def choose(count: int, kind: IndexKind = "auto", flat_max: int = FLAT_MAX) -> Literal["flat", "ivf"]:
    """The index type for a corpus of `count` passages."""
    if kind != "auto":
        return kind
    return "flat" if count <= flat_max else "ivf"


def build(
    vectors: Vectors, dim: int, kind: IndexKind = "auto", flat_max: int = FLAT_MAX, seed: int = 1
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
    index.nprobe = NPROBE
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
