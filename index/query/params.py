"""The answer step's parameters, shared by the reader (which reads the candidates) and the composer (which
decides what to quote): docs/tuning.md says how each default was placed."""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass

from config.defaults import MAX_QUOTES


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
    # each of the `model_candidates` candidates its first cut ranks best (reader_model.FirstCut; without one,
    # the rules' best) and gives the calibrated probability that it answers. A question is answered when
    # the best reaches `model_threshold`; quotes are those within `model_margin` log-odds of the best and
    # above `model_keep` (placed on dev, docs/answers.md).
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
