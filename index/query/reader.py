"""Step 7a: which candidate sentences answer the question, as feature scores and a tiny linear model.

The topical sentence of a retrieved passage is close to any question about its subject; the answering
one adds what the question asks for. So besides the sentence's cosine to the question, the reader looks
at the question's *focus* (its words that the article does not repeat everywhere), at whether the
sentence holds the kind of thing asked for (a number for "how many", a date for "when", a cause for
"why"...), at the sentence's neighbours, and at the sentence's vector with its article's mean taken away
(what the sentence says beyond the article's shared topic). A logistic regression trained on the dev
split of the evaluation set (`benchmarks/train_reader.py`, weights in `reader_weights.json`) weighs the
features it names; `FEATURES` lists every feature the reader can compute, and `docs/answers.md` gives the
measured effect of each (several were tried and left out of the model).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import numpy as np
from numpy.typing import NDArray

from index.languages import ENGLISH
from index.query.lexical import LexicalIndex
from index.storage.store import StoredIndex
from index.types import Unit, Vectors

FEATURES = (
    "cosine",
    "centred",
    "context",
    "coverage",
    "focus",
    "answer_type",
    "passage",
    "lead",
    "novelty",
    "length",
)
Matrix = NDArray[np.float64]
_SHARE_PRIOR = 3  # sentences added to every article when measuring how widely it repeats a word

_NUMBER_QUESTION = re.compile(
    r"\bhow (many|much|long|far|old|big|large|often|fast|high|deep|tall)\b"
    r"|\bwhat (number|percentage|proportion|share|amount|price|cost|toll|figure|age)\b",
    re.I,
)
_QUESTION_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("number", _NUMBER_QUESTION),
    ("date", re.compile(r"\bwhen\b|\bwhat (year|time|day|date|month)\b|\bsince when\b", re.I)),
    ("person", re.compile(r"\bwho(m|se)?\b|\bwhich (person|people|official|man|woman|leader|group)\b", re.I)),
    (
        "reason",
        re.compile(r"\bwhy\b|\bwhat (caused|led to|prompted|reason|triggered)\b|\bfor what reason\b", re.I),
    ),
    ("place", re.compile(r"\bwhere\b|\bwhich (country|city|town|region|area|place|state)\b", re.I)),
)
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty"
    r"|hundred|hundreds|thousand|thousands|million|millions|billion|dozen|dozens|half|per cent|percent"
)
_MONTHS = (
    r"january|february|march|april|may|june|july|august|september|october|november|december"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|yesterday|today|tomorrow|tonight|overnight|last (week|month|year|night)|next (week|month|year)"
)
_CUES: dict[str, re.Pattern[str]] = {
    "number": re.compile(rf"\d|\b({_NUMBER_WORDS})\b", re.I),
    "date": re.compile(rf"\b({_MONTHS})\b|\b(1[89]|20)\d\d\b|\b\d{{1,2}}[:.]\d\d\b|\b(am|pm)\b", re.I),
    "person": re.compile(
        r"(?<=\w )[A-Z][a-z]+ [A-Z][a-z]+|\b(Mr|Mrs|Ms|Dr|President|Prime Minister|Minister|spokesman|"
        r"spokeswoman|spokesperson|chief|leader|officials?|police|Senator)\b"
    ),
    "reason": re.compile(
        r"\b(because|due to|as a result|result of|since|reason|reasons|caused|after|following|"
        r"led to|blamed|so that|in order to|motivation|amid|over)\b",
        re.I,
    ),
    "place": re.compile(r"\b(in|at|near|from|to) (the )?[A-Z][a-z]+"),
}


_SLOT_QUESTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("number", _NUMBER_QUESTION),
    (
        "money",
        re.compile(
            r"\bhow much\b.*\b(money|dollars?|cost|costs|pay|paid|pays|earn|earns|earned|salary|salaries|"
            r"price|worth|fund|funding|spend|spent|budget|fees?|contribute|contributes|provide|offer|offering)\b"
            r"|\b(dollar|money) (value|amount)\b|\bwhat (is|was|were|are) the (total )?(cost|price|salary)\b",
            re.I,
        ),
    ),
)
_SLOT_PATTERNS: dict[str, re.Pattern[str]] = {
    "number": re.compile(rf"\d(?:[\d,.]*\d)?|\b({_NUMBER_WORDS})\b", re.I),
    "money": re.compile(
        r"[$€£]\s?\d|\b\d[\d,.]*\s?(m|bn|million|billion|trillion)\b|\b(dollars?|cents|rupiah|pounds|euros?|yen)\b",
        re.I,
    ),
}


@dataclass(frozen=True, slots=True)
class ReaderWeights:
    """A logistic regression over some of `FEATURES` (`names`): mean and scale standardise, then weights
    and bias."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    @classmethod
    def load(cls, data: Mapping[str, Any] | None = None) -> ReaderWeights:
        """The shipped weights (or the given JSON object), checked against `FEATURES`."""
        if data is None:
            data = json.loads((files("index.query") / "reader_weights.json").read_text(encoding="utf-8"))
        names = tuple(str(n) for n in data["features"])
        unknown = [n for n in names if n not in FEATURES]
        if unknown:
            raise ValueError(f"reader weights name unknown features {unknown}; known: {FEATURES}")
        return cls(
            names,
            tuple(float(v) for v in data["mean"]),
            tuple(float(v) for v in data["scale"]),
            tuple(float(v) for v in data["weights"]),
            float(data["bias"]),
        )

    def to_json(self) -> dict[str, object]:
        """The JSON object `load` reads."""
        return {
            "features": list(self.names),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
        }

    def columns(self, features: Matrix) -> Matrix:
        """The model's features out of a full `FEATURES` matrix."""
        return features[:, [FEATURES.index(name) for name in self.names]]

    def contributions(self, features: Matrix) -> Matrix:
        """Each model feature's share of each candidate's logit (from a full `FEATURES` matrix)."""
        standard = (self.columns(features) - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.asarray(standard * np.asarray(self.weights), dtype=np.float64)

    def logits(self, features: Matrix) -> NDArray[np.float64]:
        """The model's log-odds that each candidate answers."""
        return np.asarray(self.contributions(features).sum(axis=1) + self.bias, dtype=np.float64)


def question_types(question: str) -> tuple[str, ...]:
    """The kinds of answer a question asks for (number, date, person, reason, place); may be empty."""
    return tuple(kind for kind, pattern in _QUESTION_TYPES if pattern.search(question))


def has_cue(kind: str, text: str) -> bool:
    """Whether a sentence holds the kind of answer (a number, a date...)."""
    return bool(_CUES[kind].search(text))


def slot_kinds(question: str) -> tuple[str, ...]:
    """The kinds of answer that a sentence must *state* to answer the question: a number ("how
    many...?") or a sum of money ("how much did they pay?"). Names, dates, reasons and places are left
    out: their answers are worded too many ways ("Polish media", "after the Test", "soon") to check by
    pattern."""
    return tuple(kind for kind, pattern in _SLOT_QUESTIONS if pattern.search(question))


def fills_slot(kind: str, text: str, question: str) -> bool:
    """Whether a sentence holds a `kind` (a number, a sum of money) that the question itself does not
    already contain: an answer adds what was asked for, a restatement does not."""
    asked = question.lower()
    return any(m.group().lower() not in asked for m in _SLOT_PATTERNS[kind].finditer(text))


class Reader:
    """Feature extraction over one loaded index (article means and word sets are cached)."""

    def __init__(self, stored: StoredIndex, lexical: LexicalIndex) -> None:
        self.stored = stored
        self.lexical = lexical
        self._unit_words: dict[int, frozenset[str]] = {}
        self._doc_share: dict[str, dict[str, float]] = {}
        self._doc_rows: dict[str, list[int]] = {}
        for row, unit in sorted(enumerate(stored.units), key=lambda p: (p[1].doc_id, p[1].start)):
            self._doc_rows.setdefault(unit.doc_id, []).append(row)
        self._position = {row: i for rows in self._doc_rows.values() for i, row in enumerate(rows)}
        self._means: dict[str, Vectors] = {}

    def features(
        self,
        question: str,
        vector: Vectors,
        weights: Mapping[str, float],
        rows: Sequence[int],
        passage_of: Mapping[int, tuple[int, float]],
        floor: float = 0.0,
        needed: Sequence[str] | None = None,
    ) -> Matrix:
        """One row of `FEATURES` per candidate unit. `passage_of[row]` is (rank, dense cosine) of the
        best retrieved passage holding the unit; `floor` (the embedder's abstention threshold) is taken
        off the cosines, so that models whose cosines sit on another scale share one set of weights.
        With `needed`, the costlier features outside it (vector arithmetic, cue patterns) stay 0."""
        out = np.zeros((len(rows), len(FEATURES)), dtype=np.float64)
        if not rows:
            return out
        wanted = set(FEATURES if needed is None else needed)
        vectors = self.stored.unit_vectors[list(rows)]
        out[:, 0] = vectors @ vector - floor
        kinds = question_types(question) if "answer_type" in wanted else ()
        total = sum(weights.values()) or 1.0
        focus_of: dict[str, tuple[dict[str, float], float]] = {}
        for i, row in enumerate(rows):
            unit = self.stored.units[row]
            words = self.unit_words(row)
            if "centred" in wanted:
                centred = vectors[i] - self._mean(unit.doc_id)
                norm = float(np.linalg.norm(centred))
                out[i, 1] = float(centred @ vector) / norm if norm > 1e-6 else 0.0
            if "context" in wanted:
                out[i, 2] = self._context(row, vector) - floor
            out[i, 3] = sum(w for word, w in weights.items() if word in words) / total
            if unit.doc_id not in focus_of:
                share = self.doc_share(unit.doc_id)
                focus = {word: w * (1.0 - share.get(word, 0.0)) for word, w in weights.items()}
                focus_of[unit.doc_id] = (focus, sum(focus.values()))
            focus, focus_total = focus_of[unit.doc_id]
            out[i, 4] = (
                sum(w for word, w in focus.items() if word in words) / focus_total if focus_total > 0 else 0.0
            )
            if kinds:
                out[i, 5] = 1.0 if any(has_cue(kind, unit.text) for kind in kinds) else -1.0
            rank, dense = passage_of[row]
            out[i, 6] = dense - floor + 1.0 / rank
            out[i, 7] = 1.0 if self._position[row] == 0 else 0.0
            out[i, 8] = len(words - weights.keys()) / len(words) if words else 0.0
            out[i, 9] = math.log1p(len(unit.text.split()))
        return out

    def unit_words(self, row: int) -> frozenset[str]:
        """The analysed words of a unit (cached)."""
        words = self._unit_words.get(row)
        if words is None:
            unit = self.stored.units[row]
            language = self.stored.articles[unit.doc_id].lang or ENGLISH
            words = frozenset(self.lexical.words(unit.text, language))
            self._unit_words[row] = words
        return words

    def doc_share(self, doc_id: str) -> dict[str, float]:
        """For each word of an article, the share of its units that contain it (its topic words are high)."""
        share = self._doc_share.get(doc_id)
        if share is None:
            rows = self._doc_rows.get(doc_id, [])
            counts: dict[str, int] = {}
            for row in rows:
                for word in self.unit_words(row):
                    counts[word] = counts.get(word, 0) + 1
            # Smoothed, so that a short article's words are not all "topic" (in a one-sentence article
            # every word is in every sentence, which would leave a question about it without focus).
            share = {word: count / (len(rows) + _SHARE_PRIOR) for word, count in counts.items()}
            self._doc_share[doc_id] = share
        return share

    def neighbours(self, row: int) -> tuple[Unit, ...]:
        """The units directly before and after a unit in its article."""
        unit = self.stored.units[row]
        rows = self._doc_rows[unit.doc_id]
        at = self._position[row]
        return tuple(self.stored.units[rows[j]] for j in (at - 1, at + 1) if 0 <= j < len(rows))

    def _context(self, row: int, vector: Vectors) -> float:
        """Cosine of the sentence together with its neighbours (a short sentence means little alone)."""
        unit = self.stored.units[row]
        rows = self._doc_rows[unit.doc_id]
        at = self._position[row]
        around = [rows[j] for j in (at - 1, at, at + 1) if 0 <= j < len(rows)]
        summed = self.stored.unit_vectors[around].sum(axis=0)
        norm = float(np.linalg.norm(summed))
        return float(summed @ vector) / norm if norm > 1e-6 else 0.0

    def _mean(self, doc_id: str) -> Vectors:
        mean = self._means.get(doc_id)
        if mean is None:
            mean = self.stored.unit_vectors[self._doc_rows[doc_id]].mean(axis=0)
            self._means[doc_id] = mean
        return mean
