"""Step 8: the reader's findings -> an extractive answer of verbatim quotes, or an honest abstention.

The reader (`index.query.reader`, the step before) has judged relevance, scored each candidate unit as
the log-odds that it answers and run the checks. The composer decides: it abstains when the reading
settled it (a script the model cannot read, names no article has, no relevant passage), quotes the best
candidate if it reaches `answer_threshold` (the trained reader's `model_threshold` when it read) with the
others within `margin` of it (lists that directly follow one another come together), in article order
(best first when the trained reader read), and abstains when a check found the asked-for number, sum,
name or speaker missing. Each quote is checked to be an exact substring of its article at its recorded
offsets before it is returned.

An abstention says why where it can (`Reason`): a name or rare word of the question that no article
contains, the question's words that the nearest articles never use, or that no sentence answers.
"""

from __future__ import annotations

import logging
import math
import re
import time

import numpy as np

from index.ingest.chunking import word_count
from index.query.params import AnswerParams
from index.query.reader import Matrix, ReaderWeights, Reading, Why, logit
from index.storage.store import StoredIndex
from index.types import Answer, Article, Explanation, Note, Quote, Reason

__all__ = ["AnswerParams", "Composer", "best_score", "is_verbatim", "single_line"]

log = logging.getLogger(__name__)

_SPACE = re.compile(r"\s+")
# The names `--explain` gives the trained reader's calibrated probability and the threshold it must reach.
READER_PROBABILITY = "reader_probability"
ANSWER_THRESHOLD = "answer_threshold"


def is_verbatim(article: Article, start: int, end: int, text: str) -> bool:
    """Whether `text` is exactly the article's text at [start, end) (the grounding check)."""
    return bool(text) and 0 <= start < end <= len(article.text) and article.text[start:end] == text


def single_line(text: str) -> str:
    """A quote with its line breaks and runs of spaces folded, for one-line display."""
    return _SPACE.sub(" ", text).strip()


def best_score(answer: Answer) -> float:
    """The log-odds of an answer's best quote (-inf when it quotes nothing)."""
    return max((quote.score for quote in answer.quotes), default=-math.inf)


class Composer:
    """Decides what to quote from a reading, over one loaded index."""

    def __init__(
        self, stored: StoredIndex, params: AnswerParams, weights: ReaderWeights | None = None
    ) -> None:
        self.stored = stored
        self.params = params
        self.weights = weights or ReaderWeights.load()

    def compose(self, reading: Reading, alone: Reading | None = None, floor: float = math.inf) -> Answer:
        """Quote the sentences that answer, or abstain and say why. `alone`: the reading of a vague
        question without its predecessor, answered instead when the conversation's best quote scores
        below `floor` (a new subject after all)."""
        answer = self._compose(reading)
        if alone is not None and best_score(answer) < floor:
            return self._compose(alone)
        return answer

    def _compose(self, reading: Reading) -> Answer:
        retrieval = reading.retrieval
        if reading.foreign:
            # An English-only model matches such a question to passages at random: say so instead of quoting.
            return Answer(
                question=reading.question.text,
                abstained=True,
                text="",
                quotes=(),
                passages=retrieval.passages,
                nearest_titles=_titles(reading),
                notes=(Note.FOREIGN_SCRIPT,),
                timings_ms=retrieval.timings_ms,
                reason=Reason("foreign_script"),
            )
        if reading.unknown:
            return self._abstain(reading, Reason("unknown_terms", reading.unknown))
        if not reading.relevant:
            return self._abstain(reading, Reason("off_topic"))
        params = self.params
        scored, read = reading.scored, reading.read_by_model
        margin = params.model_margin if read else params.margin
        # A follow-up's own words are vague by nature ("Is one likely to appear?"): the reader chose to
        # continue the conversation, so its best candidate is quoted even below the answer threshold.
        if reading.follows:
            cap = params.max_quotes + params.follow_up_extra_quotes
            chosen = self._select(scored, reading.quotable, reading.siblings, -np.inf, cap, margin=margin)
        else:
            threshold = logit(params.model_threshold) if read else params.answer_threshold
            chosen = self._select(
                scored, reading.quotable, reading.siblings, threshold, params.max_quotes, margin=margin
            )
        if read:  # further quotes must reach `model_keep`, unless they are a kept list's sibling
            keep = logit(params.model_keep)
            kept = chosen[:1]
            for row in chosen[1:]:
                if scored[row][0] >= keep or any(row in reading.siblings.get(k, ()) for k in kept):
                    kept.append(row)
            chosen = kept
        if not chosen:
            return self._abstain(reading, reading.no_answer)
        if reading.unfilled:
            return self._abstain(reading, Reason("missing_slot", (reading.unfilled,)))
        # "What did <speaker> say...?": only a sentence of an article that names the speaker can say it.
        speaker = reading.words.speaker
        asked = speaker is not None and reading.checks and not reading.follows
        if asked and not any(self.stored.units[row].doc_id in reading.speaker_docs for row in chosen):
            assert speaker is not None
            # Said of every article when no article names them at all, not only of the nearest ones.
            named = [t for t in reading.words.terms if set(t.stems) & set(speaker[1])]
            nowhere = bool(named) and all(t.known == 0 for t in named)
            return self._abstain(
                reading, Reason("unknown_terms" if nowhere else "missing_terms", (speaker[0],))
            )
        units = self.stored.units
        if read:  # the likeliest answer first: [1] is what the reader reads first
            chosen.sort(key=lambda row: (-scored[row][0], units[row].start))
        else:
            doc_rank = {p.doc_id: p.rank for p in reversed(retrieval.passages)}
            chosen.sort(key=lambda row: (doc_rank[units[row].doc_id], units[row].start))

        quotes: list[Quote] = []
        explanations: list[Explanation] = []
        for row in chosen:
            unit = units[row]
            article = self.stored.articles[unit.doc_id]
            if not is_verbatim(article, unit.start, unit.end, unit.text):
                log.error(
                    "dropped a quote that is not verbatim in %s at %d-%d", unit.doc_id, unit.start, unit.end
                )
                continue
            n = len(quotes) + 1
            score = scored[row][0]
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
            explanations.append(Explanation(n, score, self._why(reading, row)))

        if not quotes:
            return self._abstain(reading, reading.no_answer)
        timings = dict(retrieval.timings_ms)
        timings["answer"] = (time.perf_counter() - reading.began) * 1000.0
        return Answer(
            question=reading.question.text,
            abstained=False,
            text=" ".join(f"{single_line(q.text)} [{q.n}]" for q in quotes),
            quotes=tuple(quotes),
            passages=retrieval.passages,
            timings_ms=timings,
            explanations=tuple(explanations),
        )

    def _why(self, reading: Reading, row: int) -> Why:
        """`--explain`'s parts of a quote's score: the rules' features, or the trained reader's probability
        and threshold with each rule's weighed part."""
        why = reading.explained[row]
        if not reading.read_by_model:
            return why
        own = reading.by_model[row]
        weight = self.params.model_rules_weight
        return (
            (READER_PROBABILITY, 1.0 / (1.0 + math.exp(-own)), own),
            (ANSWER_THRESHOLD, self.params.model_threshold, logit(self.params.model_threshold)),
            # each rule's part of the score: its contribution to the rules' log-odds, weighed
            *((f"rules: {name}", value, part * weight) for name, value, part in why),
        )

    def _abstain(self, reading: Reading, reason: Reason) -> Answer:
        timings = dict(reading.retrieval.timings_ms)
        timings["answer"] = (time.perf_counter() - reading.began) * 1000.0
        return Answer(
            question=reading.question.text,
            abstained=True,
            text="",
            quotes=(),
            passages=reading.retrieval.passages,
            nearest_titles=_titles(reading),
            timings_ms=timings,
            reason=reason,
        )

    def _select(
        self,
        scored: dict[int, tuple[float, Matrix]],
        quotable: frozenset[int],
        siblings: dict[int, tuple[int, ...]],
        threshold: float,
        cap: int,
        *,
        margin: float,
    ) -> list[int]:
        """The best candidates within `margin` of the best (at most `cap`), if the best reaches `threshold`.

        Lists that directly follow one another ("The official motivation: ..." then "The informal
        motivation included: ...") are parallel answers: a chosen list brings its neighbours along.
        """
        # A run-in heading ("About Russian base in Belarus.") names a topic, it does not answer.
        ranked = sorted((row for row in scored if row in quotable), key=lambda row: -scored[row][0])
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
            for neighbour in siblings.get(row, ()):
                if neighbour in chosen or len(chosen) >= cap:
                    continue
                if neighbour in scored:
                    chosen.append(neighbour)
                    words += word_count(self.stored.units[neighbour].text)
        return chosen


def _titles(reading: Reading) -> tuple[str, ...]:
    """The nearest articles' titles, for an abstention."""
    return tuple(dict.fromkeys(p.title for p in reading.retrieval.passages))[:3]
