"""The typed chain of data: Article -> Unit -> Chunk -> Passage -> Quote -> Answer.

Every piece carries its `doc_id` and a character span into its article's `text`, so any quote can be
traced back to the exact place it came from (`article.text[start:end] == quote.text`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]
"""Rows of unit vectors (one per text), as the embedders return and the vector stores keep them."""


@dataclass(frozen=True, slots=True)
class Article:
    """One article as loaded from the seeds folder.

    `text` is the file's decoded text (front matter included) or, for HTML, the extracted main text;
    `body_start` is where the article itself begins in `text`.
    """

    doc_id: str
    title: str
    text: str
    body_start: int
    content_hash: str
    source: str | None = None
    date: str | None = None
    author: str | None = None
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class Unit:
    """A quotable piece of an article: one sentence, or a lead-in line with the list items that follow it."""

    doc_id: str
    start: int
    end: int
    text: str
    kind: Literal["sentence", "list"] = "sentence"


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable stretch of an article: whole sentences, with a modest overlap to its neighbour."""

    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk retrieved for a question, best first (`rank` 1), with its scores."""

    rank: int
    chunk_no: int
    doc_id: str
    title: str
    source: str | None
    start: int
    end: int
    text: str
    score: float
    dense: float
    lexical: float


@dataclass(frozen=True, slots=True)
class Quote:
    """A verbatim sentence (or list) quoted in an answer as [n]."""

    n: int
    doc_id: str
    title: str
    source: str | None
    start: int
    end: int
    text: str
    score: float
    date: str | None = None


class Note(StrEnum):
    """Something the reader should know about an answer, as a code: each front end words it in its own
    language (the CLI in English, the bot in the reader's)."""

    FOREIGN_SCRIPT = "foreign_script"  # an English-only model was asked in another script


ReasonKind = Literal[
    "unknown_terms", "missing_terms", "missing_slot", "no_answer", "off_topic", "foreign_script"
]


@dataclass(frozen=True, slots=True)
class Reason:
    """Why Footnote abstained, as codes: a kind and the question's words it is about (index/wording.py
    words it for every front end).

    `unknown_terms`: no article contains these words of the question; `missing_terms`: the nearest
    articles are on the subject but never mention these; `missing_slot`: the question asks for a number,
    a sum of money or a person's name (`terms`: "number", "money" or "name") that no good enough
    sentence states;
    `no_answer`: on the subject, but no sentence answers; `off_topic`: no article is near the
    question; `foreign_script`: the model cannot read it.
    """

    kind: ReasonKind
    terms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why quote [n] was chosen: its score (log-odds) and, per feature, (name, value, contribution)."""

    n: int
    score: float
    features: tuple[tuple[str, float, float], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What Footnote says to a question: quotes with [n] markers, or an honest abstention (its `text` is
    empty: the front ends word it from `reason`, index/wording.py)."""

    question: str
    abstained: bool
    text: str
    quotes: tuple[Quote, ...]
    passages: tuple[Passage, ...]
    nearest_titles: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)
    reason: Reason | None = None
    explanations: tuple[Explanation, ...] = field(default=(), compare=False)
