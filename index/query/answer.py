"""Step 7: retrieved passages -> an extractive answer of verbatim quotes, or an honest abstention.

Relevance of a passage or a unit = its cosine to the question + `lexical_weight` x the share of the
question's word weight (idf) it contains; words are compared after each side's own language's analysis.
A question and a text in different languages share few words and their cosine runs lower, so such a
pair also gets the embedder's measured `crosslingual_gap`. A question whose best passages all fall below
`abstain_threshold` gets an abstention naming the nearest articles, never unrelated quotes.

Candidate quotes are the units (sentences; a lead-in with its list) inside the relevant passages; unit
vectors are computed at index time. The quotes within `margin` of the best one are kept (lists that
directly follow one another come together), shown in article order, and each one is checked to be an
exact substring of its article at its recorded offsets before it is returned.
"""

from __future__ import annotations

import bisect
import logging
import re
import time
from dataclasses import dataclass

import numpy as np

from index.build.chunking import word_count
from index.languages import ENGLISH
from index.query.lexical import LexicalIndex
from index.query.retrieval import Retrieval
from index.storage.store import StoredIndex
from index.types import Answer, Article, Passage, Quote, Unit, Vectors

log = logging.getLogger(__name__)

ABSTAIN_TEXT = "I don't find this in the articles."
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class AnswerParams:
    """Knobs of answer composition (docs/tuning.md says how the defaults were chosen)."""

    abstain_threshold: float = 0.30
    abstain_lexical_weight: float = 0.25
    max_quotes: int = 4
    answer_passages: int = 5
    margin: float = 0.20
    lexical_weight: float = 0.25
    min_quote_words: int = 6
    max_words: int = 220
    crosslingual_gap: float = 0.0


@dataclass(frozen=True, slots=True)
class _Question:
    text: str
    vector: Vectors
    weights: dict[str, float]
    language: str


def is_verbatim(article: Article, start: int, end: int, text: str) -> bool:
    """Whether `text` is exactly the article's text at [start, end) (the grounding check)."""
    return bool(text) and 0 <= start < end <= len(article.text) and article.text[start:end] == text


def single_line(text: str) -> str:
    """A quote with its line breaks and runs of spaces folded, for one-line display."""
    return _SPACE.sub(" ", text).strip()


class Composer:
    """Builds answers from retrievals over one loaded index."""

    def __init__(self, stored: StoredIndex, lexical: LexicalIndex, params: AnswerParams) -> None:
        self.stored = stored
        self.lexical = lexical
        self.params = params
        self._by_doc: dict[str, tuple[list[int], list[int]]] = {}
        for i, unit in sorted(enumerate(stored.units), key=lambda p: (p[1].doc_id, p[1].start)):
            starts, rows = self._by_doc.setdefault(unit.doc_id, ([], []))
            starts.append(unit.start)
            rows.append(i)
        self._unit_words: dict[int, frozenset[str]] = {}
        self._passage_words: dict[int, frozenset[str]] = {}

    def compose(
        self,
        question: str,
        retrieval: Retrieval,
        search: str | None = None,
        own_vector: Vectors | None = None,
    ) -> Answer:
        """Quote the sentences that answer the question, or abstain.

        For a follow-up, `search` is the question joined to its predecessor (which found the passages)
        and `own_vector` the follow-up's own embedding: quotes are chosen by both, and the reader's new
        words weigh more than the earlier question's, since they say what the reader wants now.
        """
        clock = time.perf_counter()
        weights = self.lexical.weights(search or question)
        language = self.lexical.question_language(question)
        own = set(self.lexical.words(question, language))
        context_share = 1.0 if not search else 0.25
        weights = {word: weight * (1.0 if word in own else context_share) for word, weight in weights.items()}
        vector = retrieval.query_vector[0]
        if own_vector is not None:
            vector = (vector + own_vector[0]) / 2.0
        query = _Question(question, vector, weights, language)
        relevant = [
            p
            for p in retrieval.passages[: self.params.answer_passages]
            if p.dense
            + self._gap(query, p.doc_id)
            + self.params.abstain_lexical_weight * self._coverage(query, self._chunk_terms(p))
            >= self.params.abstain_threshold
        ]
        candidates = sorted({row for p in relevant for row in self._units_in(p)})
        chosen = self._select(query, self._score(query, candidates))
        doc_rank = {p.doc_id: p.rank for p in reversed(retrieval.passages)}
        chosen.sort(
            key=lambda pair: (doc_rank[self.stored.units[pair[0]].doc_id], self.stored.units[pair[0]].start)
        )

        quotes: list[Quote] = []
        for row, score in chosen:
            unit = self.stored.units[row]
            article = self.stored.articles[unit.doc_id]
            if not is_verbatim(article, unit.start, unit.end, unit.text):
                log.error(
                    "dropped a quote that is not verbatim in %s at %d-%d", unit.doc_id, unit.start, unit.end
                )
                continue
            n = len(quotes) + 1
            quotes.append(
                Quote(
                    n,
                    unit.doc_id,
                    article.title,
                    article.source,
                    unit.start,
                    unit.end,
                    unit.text,
                    score,
                    article.date,
                )
            )

        timings = dict(retrieval.timings_ms)
        timings["answer"] = (time.perf_counter() - clock) * 1000.0
        if not quotes:
            titles = tuple(dict.fromkeys(p.title for p in retrieval.passages))[:3]
            return Answer(
                question=question,
                abstained=True,
                text=ABSTAIN_TEXT,
                quotes=(),
                passages=retrieval.passages,
                nearest_titles=titles,
                timings_ms=timings,
            )
        text = " ".join(f"{single_line(q.text)} [{q.n}]" for q in quotes)
        return Answer(
            question=question,
            abstained=False,
            text=text,
            quotes=tuple(quotes),
            passages=retrieval.passages,
            timings_ms=timings,
        )

    def _coverage(self, query: _Question, present: frozenset[str]) -> float:
        """Share of the question's word weight (idf) that a text contains."""
        total = sum(query.weights.values())
        if total <= 0:
            return 0.0
        return sum(w for word, w in query.weights.items() if word in present) / total

    def _score(self, query: _Question, rows: list[int]) -> list[tuple[int, float]]:
        if not rows:
            return []
        cosines = self.stored.unit_vectors[rows] @ query.vector
        weight = self.params.lexical_weight
        return [
            (
                row,
                float(cosine)
                + self._gap(query, self.stored.units[row].doc_id)
                + weight * self._coverage(query, self._unit_terms(row)),
            )
            for row, cosine in zip(rows, np.atleast_1d(cosines), strict=True)
        ]

    def _gap(self, query: _Question, doc_id: str) -> float:
        """The cross-language allowance for a text of this article (0 in the question's language)."""
        same = (self.stored.articles[doc_id].lang or ENGLISH) == query.language
        return 0.0 if same else self.params.crosslingual_gap

    def _select(self, query: _Question, scored: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """The best-scoring units within `margin` of the best, above the abstention threshold.

        Lists that directly follow one another ("The official motivation: ..." then "The informal
        motivation included: ...") are parallel answers: a chosen list brings its neighbours along.
        """
        # A run-in heading ("About Russian base in Belarus.") names a topic, it does not answer.
        scored = sorted(
            (pair for pair in scored if self._quotable(self.stored.units[pair[0]])), key=lambda pair: -pair[1]
        )
        if not scored:
            return []
        floor = max(scored[0][1] - self.params.margin, self.params.abstain_threshold)
        chosen: dict[int, float] = {}
        words = 0
        for row, score in scored:
            if score < floor or len(chosen) >= self.params.max_quotes:
                break
            if row in chosen:
                continue
            unit = self.stored.units[row]
            size = word_count(unit.text)
            if chosen and words + size > self.params.max_words:
                continue
            chosen[row] = score
            words += size
            if unit.kind != "list":
                continue
            for neighbour in (row - 1, row + 1):
                if neighbour in chosen or len(chosen) >= self.params.max_quotes:
                    continue
                if not self._adjacent_lists(row, neighbour):
                    continue
                [(_, sibling_score)] = self._score(query, [neighbour])
                if sibling_score >= self.params.abstain_threshold:
                    chosen[neighbour] = sibling_score
                    words += word_count(self.stored.units[neighbour].text)
        return list(chosen.items())

    def _quotable(self, unit: Unit) -> bool:
        return unit.kind == "list" or word_count(unit.text) >= self.params.min_quote_words

    def _adjacent_lists(self, a: int, b: int) -> bool:
        if not 0 <= b < len(self.stored.units):
            return False
        first, second = sorted((self.stored.units[a], self.stored.units[b]), key=lambda u: u.start)
        return (
            first.doc_id == second.doc_id
            and second.kind == "list"
            and first.kind == "list"
            and not self.stored.articles[first.doc_id].text[first.end : second.start].strip()
        )

    def _units_in(self, passage: Passage) -> list[int]:
        starts, rows = self._by_doc.get(passage.doc_id, ([], []))
        inside = []
        for position in range(bisect.bisect_left(starts, passage.start), len(starts)):
            unit: Unit = self.stored.units[rows[position]]
            if unit.start >= passage.end:
                break
            if unit.end <= passage.end:
                inside.append(rows[position])
        return inside

    def _unit_terms(self, row: int) -> frozenset[str]:
        words = self._unit_words.get(row)
        if words is None:
            unit = self.stored.units[row]
            words = self._words(unit.text, unit.doc_id)
            self._unit_words[row] = words
        return words

    def _chunk_terms(self, passage: Passage) -> frozenset[str]:
        words = self._passage_words.get(passage.chunk_no)
        if words is None:
            words = self._words(passage.text, passage.doc_id)
            self._passage_words[passage.chunk_no] = words
        return words

    def _words(self, text: str, doc_id: str) -> frozenset[str]:
        return frozenset(self.lexical.words(text, self.stored.articles[doc_id].lang or ENGLISH))
