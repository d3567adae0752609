"""Step 7: retrieved passages -> an extractive answer of verbatim quotes, or an honest abstention.

Relevance of a passage = its cosine to the question + `abstain_lexical_weight` x the share of the
question's word weight (idf) it contains; words are compared after each side's own language's analysis.
A question and a text in different languages share few words and their cosine runs lower, so such a
pair also gets the embedder's measured `crosslingual_gap`. A question whose best passages all fall below
`abstain_threshold` is off the corpus's subject: Pipeline abstains and names the nearest articles.

Candidate quotes are the units (sentences; a lead-in with its list) inside the relevant passages; unit
vectors are computed at index time. The reader (`index.query.reader`) scores each candidate as the log-odds
that it answers; the best one is quoted if it reaches `answer_threshold`, with the others within
`margin` of it (lists that directly follow one another come together), in article order. Each quote is
checked to be an exact substring of its article at its recorded offsets before it is returned.

An abstention says why where it can (`Reason`): a name or rare word of the question that no article
contains, the question's words that the nearest articles never use, or that no sentence answers.
"""

from __future__ import annotations

import bisect
import logging
import math
import re
import time
from collections.abc import Collection, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING

import numpy as np

from config.defaults import MAX_QUOTES
from index.ingest.chunking import word_count
from index.languages import ENGLISH
from index.query.lexical import LexicalIndex
from index.query.reader import (
    WORD_LIST_LANGUAGES,
    Matrix,
    Reader,
    ReaderWeights,
    fills_slot,
    slot_kinds,
    zipf,
)
from index.query.retrieval import Retrieval
from index.storage.store import StoredIndex
from index.types import Answer, Article, Explanation, Passage, Quote, Reason, Unit, Vectors

if TYPE_CHECKING:
    from index.query.reader_model import CrossReader

log = logging.getLogger(__name__)

_SPACE = re.compile(r"\s+")
_TERM = re.compile(r"[^\W\d_][\w'’-]*")
# A word of the question that the nearest articles lack explains an abstention only when it names
# something (a name, or a word rarer than everyday words like "brief" or "actually").
_CONTENT_ZIPF = 4.0
# The name `--explain` gives the follow-up bonus of a sentence next to the previous answer's quotes.
NEAR_PREVIOUS = "near_previous_answer"
# The names `--explain` gives the trained reader's calibrated probability and the threshold it must reach.
READER_PROBABILITY = "reader_probability"
ANSWER_THRESHOLD = "answer_threshold"
# An age, a length of time or distance and a share are all reported as "the number asked for".
_SLOT_REPORTED = {"age": "number", "duration": "number", "share": "number"}
# "What did <speaker> say about...?": only a sentence of an article that names the speaker can say it.
_SPEAKER_QUESTION = re.compile(
    r"\bwhat (?:did|does|do|has|have|had|will|would) (?P<who>.{1,80}?) "
    r"(?:say|said|says|tell|told|claim|claimed|"
    r"announce|announced|warn|warned|think|reveal|revealed|report|reported|respond|responded|admit|admitted|"
    r"argue|argued|suggest|suggested)\b",
    re.I,
)
_NAME_WORD = re.compile(r"[A-Z][\w’'-]*")


@dataclass(frozen=True, slots=True)
class AnswerParams:
    """Knobs of answer composition (docs/tuning.md says how the defaults were chosen)."""

    abstain_threshold: float = 0.30
    abstain_lexical_weight: float = 0.25
    max_quotes: int = MAX_QUOTES
    # A follow-up's own words are vague, so its ranking is less sure: this many quotes more than
    # `max_quotes`, from articles the conversation is already about (docs/answers.md).
    follow_up_extra_quotes: int = 1
    # A follow-up is most often answered next to what answered the question before it ("What did it
    # conclude?" after "Which firm reported...?"): sentences up to this many away from the previous
    # answer's quotes (not those quotes) get this much added to their log-odds (placed on dev).
    follow_up_near_sentences: int = 2
    follow_up_near_bonus: float = 0.5
    answer_passages: int = 5
    margin: float = 2.5
    # The embedder's calibrated relevance threshold, which the reader's cosine feature is measured from
    # (its weights were fitted so). FOOTNOTE_ABSTAIN_THRESHOLD moves `abstain_threshold` only, never this.
    cosine_offset: float = 0.30
    min_quote_words: int = 6
    max_words: int = 220
    crosslingual_gap: float = 0.0
    answer_threshold: float = -math.inf
    slot_threshold: float = -math.inf
    # A name question is checked more loosely (a new person in the sentence, the role asked about in it
    # or a neighbour), so the sentence naming them must be a likelier answer: this much above the slot
    # threshold (placed on the dev split, docs/answers.md).
    name_slot_lift: float = 1.5
    rare_zipf: float = 1.5
    # The trained reader (index/query/reader_model.py), when the engine has one: it reads the question with
    # each of the `model_candidates` best candidates of the rules above and gives the calibrated probability
    # that it answers. A question is answered when the best reaches `model_threshold`; quotes are those
    # within `model_margin` log-odds of the best and above `model_keep` (placed on dev, docs/answers.md).
    # `model_rules_weight`: how much of the rules' own log-odds (measured from `answer_threshold`) is added
    # to the model's: 0 reads with the model alone, 1 weighs both alike.
    # `model_checks`: whether the number / name / speaker checks still run on the rules' scores;
    # `model_follow_ups`: whether follow-ups are read by the model too (or by the rules alone).
    model_candidates: int = 8
    model_threshold: float = 0.5
    model_margin: float = 2.0
    model_keep: float = 0.2
    model_rules_weight: float = 0.0
    _: KW_ONLY
    model_checks: bool = True
    model_follow_ups: bool = True


@dataclass(frozen=True, slots=True)
class Question:
    """A question as the reader sees it: its text, its vector, its analysed words with their weights."""

    text: str
    vector: Vectors
    weights: dict[str, float]
    language: str = ENGLISH


def is_verbatim(article: Article, start: int, end: int, text: str) -> bool:
    """Whether `text` is exactly the article's text at [start, end) (the grounding check)."""
    return bool(text) and 0 <= start < end <= len(article.text) and article.text[start:end] == text


def single_line(text: str) -> str:
    """A quote with its line breaks and runs of spaces folded, for one-line display."""
    return _SPACE.sub(" ", text).strip()


class Composer:
    """Builds answers from retrievals over one loaded index."""

    def __init__(
        self,
        stored: StoredIndex,
        lexical: LexicalIndex,
        params: AnswerParams,
        weights: ReaderWeights | None = None,
    ) -> None:
        self.stored = stored
        self.lexical = lexical
        self.params = params
        self.reader = Reader(stored, lexical)
        self.weights = weights or ReaderWeights.load()
        self.model: CrossReader | None = None  # the trained reader, set by the engine that loads it
        # Answering computes only the model's features; the training script asks for all of them.
        self.model_features_only = True
        self._by_doc: dict[str, tuple[list[int], list[int]]] = {}
        for i, unit in sorted(enumerate(stored.units), key=lambda p: (p[1].doc_id, p[1].start)):
            starts, rows = self._by_doc.setdefault(unit.doc_id, ([], []))
            starts.append(unit.start)
            rows.append(i)
        self._passage_words: dict[int, frozenset[str]] = {}

    def compose(
        self,
        question: str,
        retrieval: Retrieval,
        search: str | None = None,
        own_vector: Vectors | None = None,
        near: Collection[int] = (),
    ) -> Answer:
        """Quote the sentences that answer the question, or abstain and say why.

        For a follow-up, `search` is the question joined to its predecessor (which found the passages)
        and `own_vector` the follow-up's own embedding: quotes are chosen by both, and the reader's new
        words weigh more than the earlier question's, since they say what the reader wants now. `near`:
        the units next to the previous answer's quotes (`near_quotes`), which a follow-up favours.
        """
        clock = time.perf_counter()
        query = self.question(question, retrieval, search, own_vector)
        timings = dict(retrieval.timings_ms)
        names = self._names_judged(query, retrieval)
        unknown = self.unknown_terms(question, query.language) if names else ()
        if unknown:
            return self._abstain(query, retrieval, Reason("unknown_terms", unknown), clock)
        relevant = self.relevant(query, retrieval)
        if not relevant:
            return self._abstain(query, retrieval, Reason("off_topic"), clock)
        rows, features = self.candidates(query, relevant)
        logits = self.weights.logits(features)
        bonus = self.params.follow_up_near_bonus if search else 0.0
        nearby = set(near) if bonus else set()
        scored = {
            row: (float(logit) + (bonus if row in nearby else 0.0), features[i])
            for i, (row, logit) in enumerate(zip(rows, logits, strict=True))
        }
        rule_scored = scored
        read = (
            self.model is not None
            and query.language == ENGLISH
            and (not search or self.params.model_follow_ups)
            and self._in_language(query, scored)
        )
        read_by_model: dict[int, float] = {}
        if read:
            scored, read_by_model = self._read(search or question, scored)
        # A follow-up's own words are vague by nature ("Is one likely to appear?"): the reader chose to
        # continue the conversation, so its best candidate is quoted even below the answer threshold.
        if search:
            cap = self.params.max_quotes + self.params.follow_up_extra_quotes
            chosen = self._select(scored, -np.inf, cap, margin=self._margin(read=read))
        else:
            chosen = self._select(
                scored, self._threshold(read=read), self.params.max_quotes, margin=self._margin(read=read)
            )
        if read:
            keep = _logit(self.params.model_keep)
            chosen = chosen[:1] + [row for row in chosen[1:] if scored[row][0] >= keep]
        if not chosen:
            return self._abstain(query, retrieval, self._no_answer(query, relevant, names=names), clock)
        checks = not read or self.params.model_checks
        judged = checks and not search and self._in_language(query, rule_scored)
        unfilled = self._unfilled_slot(question, rule_scored) if judged else None
        if unfilled:
            return self._abstain(query, retrieval, Reason("missing_slot", (unfilled,)), clock)
        absent = None if search or not checks else self._absent_speaker(query, chosen)
        if absent:
            return self._abstain(query, retrieval, Reason("missing_terms", (absent,)), clock)
        doc_rank = {p.doc_id: p.rank for p in reversed(retrieval.passages)}
        if read:  # the likeliest answer first: [1] is what the reader reads first
            chosen.sort(key=lambda row: (-scored[row][0], self.stored.units[row].start))
        else:
            chosen.sort(
                key=lambda row: (doc_rank[self.stored.units[row].doc_id], self.stored.units[row].start)
            )

        quotes: list[Quote] = []
        explanations: list[Explanation] = []
        for row in chosen:
            unit = self.stored.units[row]
            article = self.stored.articles[unit.doc_id]
            if not is_verbatim(article, unit.start, unit.end, unit.text):
                log.error(
                    "dropped a quote that is not verbatim in %s at %d-%d", unit.doc_id, unit.start, unit.end
                )
                continue
            n = len(quotes) + 1
            score, values = scored[row]
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
            parts = self.weights.contributions(values[np.newaxis, :])[0]
            used = self.weights.columns(values[np.newaxis, :])[0]
            why = tuple(
                (name, float(v), float(c)) for name, v, c in zip(self.weights.names, used, parts, strict=True)
            )
            if row in nearby:
                why += ((NEAR_PREVIOUS, 1.0, bonus),)
            if read:
                weight = self.params.model_rules_weight
                why = (
                    (READER_PROBABILITY, _probability(read_by_model[row]), read_by_model[row]),
                    (ANSWER_THRESHOLD, self.params.model_threshold, _logit(self.params.model_threshold)),
                    # each rule's part of the score: its contribution to the rules' log-odds, weighed
                    *((f"rules: {name}", value, part * weight) for name, value, part in why),
                )
            explanations.append(Explanation(n, score, why))

        timings["answer"] = (time.perf_counter() - clock) * 1000.0
        if not quotes:
            return self._abstain(query, retrieval, self._no_answer(query, relevant), clock)
        text = " ".join(f"{single_line(q.text)} [{q.n}]" for q in quotes)
        return Answer(
            question=question,
            abstained=False,
            text=text,
            quotes=tuple(quotes),
            passages=retrieval.passages,
            timings_ms=timings,
            explanations=tuple(explanations),
        )

    def _read(
        self, question: str, scored: dict[int, tuple[float, Matrix]]
    ) -> tuple[dict[int, tuple[float, Matrix]], dict[int, float]]:
        """The trained reader's calibrated log-odds for the rules' best `model_candidates` candidates (the
        others are not read: reading is the costly step), plus `model_rules_weight` times the rules' own
        log-odds above their answer threshold. Also the model's own log-odds, for `--explain`."""
        assert self.model is not None
        ranked = sorted(
            (row for row in scored if self._quotable(self.stored.units[row])), key=lambda row: -scored[row][0]
        )[: self.params.model_candidates]
        probabilities = self.model.probabilities(question, [self.stored.units[row].text for row in ranked])
        weight = self.params.model_rules_weight
        offset = self.params.answer_threshold if math.isfinite(self.params.answer_threshold) else 0.0
        own = {row: _logit(float(p)) for row, p in zip(ranked, probabilities, strict=True)}
        blended = {row: (own[row] + weight * (scored[row][0] - offset), scored[row][1]) for row in ranked}
        return blended, own

    def _threshold(self, *, read: bool) -> float:
        return _logit(self.params.model_threshold) if read else self.params.answer_threshold

    def _margin(self, *, read: bool) -> float:
        return self.params.model_margin if read else self.params.margin

    def candidates(self, query: Question, relevant: list[Passage]) -> tuple[list[int], Matrix]:
        """The units inside the relevant passages, with the reader's full feature matrix."""
        passage_of: dict[int, tuple[int, float]] = {}
        for passage in relevant:
            for row in self._units_in(passage):
                passage_of.setdefault(row, (passage.rank, passage.dense))
        rows = sorted(passage_of)
        features = self.reader.features(
            query.text,
            query.vector,
            query.weights,
            rows,
            passage_of,
            self.params.cosine_offset,
            self.weights.names if self.model_features_only else None,
        )
        return rows, features

    def _unfilled_slot(self, question: str, scored: dict[int, tuple[float, Matrix]]) -> str | None:
        """The kind of answer asked for (a number, a sum, a name) that no good enough sentence states.

        A question asking "how many" is answered by a sentence holding a number the question does not
        already hold; when the best such sentence scores below `slot_threshold` (or there is none),
        the nearest articles talk about the subject without giving what was asked. A name question
        ("Who was the coroner...?") needs a person the question does not name, in a sentence that or
        whose neighbours name the role, scoring `name_slot_lift` above that.
        """
        if self.params.slot_threshold == -math.inf:
            return None
        for kind in slot_kinds(question):
            threshold = self.params.slot_threshold + (self.params.name_slot_lift if kind == "name" else 0.0)
            best = max(
                (
                    logit
                    for row, (logit, _) in scored.items()
                    if logit >= threshold
                    and self._quotable(self.stored.units[row])
                    and fills_slot(kind, self.stored.units[row].text, question, self._around(kind, row))
                ),
                default=-math.inf,
            )
            if best < threshold:
                return _SLOT_REPORTED.get(kind, kind)
        return None

    def _names_judged(self, query: Question, retrieval: Retrieval) -> bool:
        """Whether the question's names can be looked up in the articles: not when its nearest passage
        (by meaning, with the cross-language allowance) is in another language, which spells them
        otherwise ("Кремля" for "Kremlin")."""
        best = max(retrieval.passages, key=lambda p: self._nearness(query, p), default=None)
        return best is None or self._same_language(query, best.doc_id)

    def _in_language(self, query: Question, scored: dict[int, tuple[float, Matrix]]) -> bool:
        """Whether every candidate is in the question's language: the slot patterns read English ("$2
        million", "Mr Howard"), so an English question about Russian articles is not judged by them."""
        docs = {self.stored.units[row].doc_id for row in scored}
        return all(self._same_language(query, doc) for doc in docs)

    def _around(self, kind: str, row: int) -> str:
        """The sentences next to a candidate, where a name question's role may be said ("his agent")."""
        if kind != "name":
            return ""
        return " ".join(unit.text for unit in self.reader.neighbours(row))

    def _absent_speaker(self, query: Question, chosen: list[int]) -> str | None:
        """The speaker of a "what did <name> say" question, when no article to be quoted names them.

        The speaker is the last run of capitalised words before "say" ("South African coach Graham
        Ford" -> "Graham Ford"); it is named when the run's last word is in a quoted article.
        """
        match = _SPEAKER_QUESTION.search(query.text)
        if match is None:
            return None
        runs: list[list[str]] = []
        previous_end = -2
        for word in re.finditer(r"[^\s]+", match.group("who")):
            if _NAME_WORD.fullmatch(word.group().rstrip(",")):
                if word.start() == previous_end + 1 and runs:
                    runs[-1].append(word.group())
                else:
                    runs.append([word.group()])
                previous_end = word.end()
        if not runs:
            return None
        head = re.sub(r"[’']s$", "", runs[-1][-1].rstrip(","))
        stems = self.lexical.words(head, query.language)
        if not stems:
            return None
        docs = dict.fromkeys(self.stored.units[row].doc_id for row in chosen)
        if any(all(stem in self.reader.doc_share(doc) for stem in stems) for doc in docs):
            return None
        return " ".join(runs[-1]).rstrip(",")

    def relevant(self, query: Question, retrieval: Retrieval) -> list[Passage]:
        """The best passages that reach the abstention threshold (none: the question is off-topic)."""
        return [
            p
            for p in retrieval.passages[: self.params.answer_passages]
            if self._nearness(query, p)
            + self.params.abstain_lexical_weight * self._coverage(query, self._chunk_terms(p))
            >= self.params.abstain_threshold
        ]

    def question(
        self,
        question: str,
        retrieval: Retrieval,
        search: str | None = None,
        own_vector: Vectors | None = None,
    ) -> Question:
        """The question as the reader sees it: its vector and its words' weights (a follow-up's own words
        weigh more than its predecessor's)."""
        weights = self.lexical.weights(search or question)
        language = self.lexical.question_language(question)
        own = set(self.lexical.words(question, language))
        context_share = 1.0 if not search else 0.25
        weights = {word: weight * (1.0 if word in own else context_share) for word, weight in weights.items()}
        vector = retrieval.query_vector[0]
        if own_vector is not None:
            vector = (vector + own_vector[0]) / 2.0
        return Question(question, vector, weights, language)

    def _abstain(self, query: Question, retrieval: Retrieval, reason: Reason, clock: float) -> Answer:
        timings = dict(retrieval.timings_ms)
        timings["answer"] = (time.perf_counter() - clock) * 1000.0
        titles = tuple(dict.fromkeys(p.title for p in retrieval.passages))[:3]
        return Answer(
            question=query.text,
            abstained=True,
            text="",
            quotes=(),
            passages=retrieval.passages,
            nearest_titles=titles,
            timings_ms=timings,
            reason=reason,
        )

    def unknown_terms(self, question: str, language: str | None = None) -> tuple[str, ...]:
        """Names and rare words of the question that no article contains ("Lukashenko").

        A name is a capitalised word past the question's first; a rare word is one that is rare in the
        language at large (wordfreq). Only questions written in the corpus's words are judged: a
        question in another language than the articles shares few words with them anyway. `language`:
        the question's, if already known.
        """
        if self.lexical.known_share(question) < 0.5:
            return ()
        language = language or self.lexical.question_language(question)
        terms: list[str] = []
        previous_end = -2
        for match in _TERM.finditer(question):
            word = match.group()
            name = _is_name(match)
            if not (name or _rare(word, self.params.rare_zipf, language)):  # a common word may be paraphrase
                previous_end = -2
                continue
            if not self.lexical.words(word, language) or self.lexical.known_share(word, language) > 0:
                previous_end = -2
                continue
            if terms and match.start() == previous_end + 1 and name:
                terms[-1] = f"{terms[-1]} {word}"
            else:
                terms.append(word)
            previous_end = match.end()
        return tuple(dict.fromkeys(terms))

    def _no_answer(self, query: Question, relevant: list[Passage], *, names: bool = True) -> Reason:
        """Why no sentence of the nearest articles answers: the question's words they never use, if any
        (unless `names` is false: the nearest passage is in another language, which spells them otherwise)."""
        if not names:
            return Reason("no_answer")
        docs = dict.fromkeys(p.doc_id for p in relevant)
        present: set[str] = set()
        for doc_id in docs:
            present.update(self.reader.doc_share(doc_id))
        total = sum(query.weights.values()) or 1.0
        missing_stems = {
            w for w, weight in query.weights.items() if w not in present and weight / total >= 0.1
        }
        missing = [
            m.group()
            for m in _TERM.finditer(query.text)
            if any(stem in missing_stems for stem in self.lexical.words(m.group(), query.language))
            and (_is_name(m) or _rare(m.group(), _CONTENT_ZIPF, query.language))
        ]
        if missing:
            terms = tuple(dict.fromkeys(missing))
            # Said of every article when no article has them at all, not only of the nearest ones.
            nowhere = all(self.lexical.known_share(term, query.language) == 0 for term in terms)
            return Reason("unknown_terms" if nowhere else "missing_terms", terms)
        return Reason("no_answer")

    def near_quotes(self, quotes: Sequence[tuple[str, int]]) -> frozenset[int]:
        """The units up to `follow_up_near_sentences` before or after each quote (doc_id, start) in its
        article, less the quoted units themselves (a follow-up asks for something new)."""
        reach = self.params.follow_up_near_sentences
        near: set[int] = set()
        quoted: set[int] = set()
        for doc_id, start in quotes:
            at = self._place(doc_id, start)
            if at is None:
                continue
            rows = self._by_doc[doc_id][1]
            quoted.add(rows[at])
            near.update(rows[max(0, at - reach) : at + reach + 1])
        return frozenset(near - quoted)

    def row_at(self, doc_id: str, start: int) -> int | None:
        """The unit of an article that starts at `start`, if any."""
        at = self._place(doc_id, start)
        return None if at is None else self._by_doc[doc_id][1][at]

    def _place(self, doc_id: str, start: int) -> int | None:
        """The position, in its article, of the unit that starts at `start`, if any."""
        starts, _ = self._by_doc.get(doc_id, ([], []))
        at = bisect.bisect_left(starts, start)
        return at if at < len(starts) and starts[at] == start else None

    def _nearness(self, query: Question, passage: Passage) -> float:
        """A passage's dense cosine with the cross-language allowance (docs/languages.md)."""
        return passage.dense + self._gap(query, passage.doc_id)

    def _gap(self, query: Question, doc_id: str) -> float:
        """The cross-language allowance for a text of this article (0 in the question's language)."""
        return 0.0 if self._same_language(query, doc_id) else self.params.crosslingual_gap

    def _same_language(self, query: Question, doc_id: str) -> bool:
        """Whether an article is in the question's language (an article without a language is English)."""
        return (self.stored.articles[doc_id].lang or ENGLISH) == query.language

    def _coverage(self, query: Question, present: frozenset[str]) -> float:
        """Share of the question's word weight (idf) that a text contains."""
        total = sum(query.weights.values())
        if total <= 0:
            return 0.0
        return sum(w for word, w in query.weights.items() if word in present) / total

    def _select(
        self, scored: dict[int, tuple[float, Matrix]], threshold: float, cap: int, *, margin: float
    ) -> list[int]:
        """The best candidates within `margin` of the best (at most `cap`), if the best reaches `threshold`.

        Lists that directly follow one another ("The official motivation: ..." then "The informal
        motivation included: ...") are parallel answers: a chosen list brings its neighbours along.
        """
        # A run-in heading ("About Russian base in Belarus.") names a topic, it does not answer.
        ranked = sorted(
            (row for row in scored if self._quotable(self.stored.units[row])), key=lambda row: -scored[row][0]
        )
        if not ranked or scored[ranked[0]][0] < threshold:
            return []
        floor = scored[ranked[0]][0] - margin
        chosen: list[int] = []
        words = 0
        for row in ranked:
            if scored[row][0] < floor or len(chosen) >= cap:
                break
            if row in chosen:
                continue
            unit = self.stored.units[row]
            size = word_count(unit.text)
            if chosen and words + size > self.params.max_words:
                continue
            chosen.append(row)
            words += size
            if unit.kind != "list":
                continue
            for neighbour in (row - 1, row + 1):
                if neighbour in chosen or len(chosen) >= cap:
                    continue
                if neighbour in scored and self._adjacent_lists(row, neighbour):
                    chosen.append(neighbour)
                    words += word_count(self.stored.units[neighbour].text)
        return chosen

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

    def _chunk_terms(self, passage: Passage) -> frozenset[str]:
        words = self._passage_words.get(passage.chunk_no)
        if words is None:
            language = self.stored.articles[passage.doc_id].lang or ENGLISH
            words = frozenset(self.lexical.words(passage.text, language))
            self._passage_words[passage.chunk_no] = words
        return words


def _logit(probability: float) -> float:
    p = min(max(probability, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _probability(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-logit))


def _is_name(match: re.Match[str]) -> bool:
    """Whether a word of a question reads as a name: capitalised, and not the question's first."""
    return match.group()[0].isupper() and match.start() > 0


def _rare(word: str, threshold: float, language: str) -> bool:
    """Whether a word is rare in its language at large, by wordfreq's English or Russian list; never
    for a question in another language (a common Belarusian word, "колькі", is rare in Russian)."""
    return language in WORD_LIST_LANGUAGES and zipf(word.lower()) < threshold
