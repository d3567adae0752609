"""Step 6: question -> ranked passages, by dense (FAISS) and lexical (BM25) search fused with reciprocal rank.

RRF needs no score calibration between the two lists: a chunk's fused score is the sum of
weight / (rrf_k + rank) over the lists that found it. The lexical list's weight is the share of the
question's words the corpus knows at all, so a question in another language than the articles (which
shares no words with them) is ranked by the multilingual dense model alone instead of by the few
names it happens to share. The best dense cosine is kept apart for the abstention decision.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from index.build.embedding import Embedder
from index.query.lexical import LexicalIndex
from index.storage.store import StoredIndex
from index.types import Passage, Vectors

Mode = Literal["hybrid", "dense", "lexical"]
QUERY_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class Retrieval:
    """Passages for one question, best first, with what the answer step needs."""

    query_vector: Vectors
    passages: tuple[Passage, ...]
    best_dense: float
    timings_ms: dict[str, float] = field(default_factory=dict)


class Retriever:
    """Hybrid search over one loaded index."""

    def __init__(
        self,
        stored: StoredIndex,
        embedder: Embedder,
        rrf_k: int = 60,
        candidates: int = 50,
        mode: Mode = "hybrid",
    ) -> None:
        self.stored = stored
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.candidates = candidates
        self.mode = mode
        self.lexical = LexicalIndex([c.text for c in stored.chunks])
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_lock = threading.Lock()

    def embed(self, question: str) -> Vectors:
        """The question's vector; repeated questions (buttons, popular questions) skip the model."""
        with self._cache_lock:
            cached = self._cache.get(question)
            if cached is not None:
                self._cache.move_to_end(question)
                return cached
        vector = self.embedder.embed_queries([question])
        with self._cache_lock:
            self._cache[question] = vector
            while len(self._cache) > QUERY_CACHE_SIZE:
                self._cache.popitem(last=False)
        return vector

    def retrieve(self, question: str, k: int) -> Retrieval:
        """The k best passages for a question."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        query = self.embed(question)
        timings["embed"] = _lap(clock)

        clock = time.perf_counter()
        dense_ids: list[int] = []
        dense_scores: dict[int, float] = {}
        for i, score in self.stored.search.search(query, self.candidates):
            dense_ids.append(i)
            dense_scores[i] = score
        timings["dense"] = _lap(clock)

        clock = time.perf_counter()
        lexical = self.lexical.scores(question)
        lexical_ids = [
            int(i) for i in np.argsort(-lexical, kind="stable")[: self.candidates] if lexical[i] > 0
        ]
        timings["lexical"] = _lap(clock)

        clock = time.perf_counter()
        fused: dict[int, float] = {}
        weights = {"dense": (1.0, 0.0), "lexical": (0.0, 1.0)}.get(
            self.mode, (1.0, self.lexical.known_share(question))
        )
        for ranking, weight in zip((dense_ids, lexical_ids), weights, strict=True):
            if weight <= 0:
                continue
            for rank, i in enumerate(ranking, 1):
                fused[i] = fused.get(i, 0.0) + weight / (self.rrf_k + rank)
        missing = [i for i in fused if i not in dense_scores]
        if missing:
            for i, vector in zip(missing, self.stored.search.vectors(missing), strict=True):
                dense_scores[i] = float(vector @ query[0])
        order = sorted(fused, key=lambda i: (-fused[i], -dense_scores[i]))[:k]
        passages = tuple(
            self._passage(rank, i, fused[i], dense_scores[i], float(lexical[i]))
            for rank, i in enumerate(order, 1)
        )
        timings["fusion"] = _lap(clock)
        best = max(dense_scores.values(), default=-1.0)
        return Retrieval(query, passages, best, timings)

    def _passage(self, rank: int, i: int, score: float, dense: float, lexical: float) -> Passage:
        chunk = self.stored.chunks[i]
        article = self.stored.articles[chunk.doc_id]
        return Passage(
            rank=rank,
            chunk_no=i,
            doc_id=chunk.doc_id,
            title=article.title,
            source=article.source,
            start=chunk.start,
            end=chunk.end,
            text=chunk.text,
            score=score,
            dense=dense,
            lexical=lexical,
        )


def _lap(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0
