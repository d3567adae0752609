"""Answers on the real packaged MiniLM with its calibrated thresholds, in the fast tier (`fast_model`).

The fast tier's other answer tests use the hashing embedder, whose answer and slot thresholds are -inf: the
calibrated abstentions (no sentence good enough, no sentence stating the number asked for) never run there.
These few do, over the seed article, on one index built once for the module (about a second once the model
is loaded; loading it is most of this file's cost). The questions are written for these tests, not taken
from eval/.
"""

from __future__ import annotations

import math

import pytest

from index.ingest.embedding import MiniLMEmbedder
from index.pipeline import Pipeline
from index.query.engine import Engine
from index.query.reader import ReaderWeights
from index.types import Answer
from index.wording import reason_text
from tests.helpers import SEEDS, make_settings

pytestmark = pytest.mark.fast_model

ARTICLE = "iskander-in-belarus-never-ever.txt"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The seed article indexed with MiniLM, answered by the rules with MiniLM's calibrated thresholds."""
    # The rules alone: the trained reader that weighs in by default is the model tier's
    # (tests/test_reader_quality.py); loading it here would cost the inner loop its minute.
    settings = make_settings(
        seeds_dir=SEEDS,
        index_dir=tmp_path_factory.mktemp("minilm") / "index",
        embedder="minilm",
        reader="rules",
    )
    footnote = Pipeline(settings, MiniLMEmbedder())
    footnote.build_index()
    return footnote.open_engine()


def best_quote_text(answer: Answer) -> str:
    """The text of the quote the reader scored highest, checked to be the article's own at its offsets."""
    article = (SEEDS / ARTICLE).read_text(encoding="utf-8")
    for quote in answer.quotes:
        assert quote.doc_id == ARTICLE and article[quote.start : quote.end] == quote.text
    return max(answer.quotes, key=lambda q: q.score).text


def test_an_answerable_question_is_answered_by_its_sentence_quoted_verbatim(engine: Engine) -> None:
    answer = engine.ask("What missile system were the Iskanders supposed to replace?")
    assert not answer.abstained and answer.reason is None
    assert best_quote_text(answer) == (
        "The missiles were regarded within the framework of the replacement of Soviet OTMS “Tochka-U”: "
        "the normative operation life of the missiles have long been out, but is regularly prolonged."
    )
    assert max(q.score for q in answer.quotes) >= engine.params.answer.answer_threshold


@pytest.mark.parametrize(
    ("question", "kind", "terms"),
    [
        # The article is about the Iskander but never says how fast it flies: no sentence reaches the
        # answer threshold (the hashing embedder, with none, would quote the nearest sentences).
        ("What speed does an Iskander missile reach in flight?", "no_answer", ()),
        # It names the Polonaise but gives no count of anything: no sentence stating a number reaches
        # the slot threshold.
        ("How many Polonaise launchers does the Belarusian army operate?", "missing_slot", ("number",)),
    ],
)
def test_a_near_topic_question_the_article_does_not_answer_abstains(
    engine: Engine, question: str, kind: str, terms: tuple[str, ...]
) -> None:
    calibration = ReaderWeights.load().calibration("minilm")
    params = engine.params.answer
    assert (params.answer_threshold, params.slot_threshold) == (
        calibration.answer_threshold,
        calibration.slot_threshold,
    )
    assert math.isfinite(params.answer_threshold) and math.isfinite(params.slot_threshold)
    answer = engine.ask(question)
    assert answer.abstained and not answer.quotes
    assert answer.reason is not None and (answer.reason.kind, answer.reason.terms) == (kind, terms)
    assert answer.nearest_titles == ("“Iskander” in Belarus: never ever",)


def test_an_off_topic_question_abstains_as_off_topic(engine: Engine) -> None:
    answer = engine.ask("How do I bake sourdough bread at home?")
    assert answer.abstained and not answer.quotes
    assert answer.reason is not None and answer.reason.kind == "off_topic"


def test_a_question_naming_a_term_no_article_contains_abstains_naming_it(engine: Engine) -> None:
    answer = engine.ask("Did the Zircon missile come up in Lavrov's talks in Minsk?")
    assert answer.abstained and not answer.quotes
    assert answer.reason is not None and answer.reason.kind == "unknown_terms"
    assert answer.reason.terms == ("Zircon",) and "Zircon" in reason_text(answer.reason)


def test_a_follow_up_is_answered_from_the_previous_answers_article(engine: Engine) -> None:
    previous = "Why did Moscow say no to giving Belarus the missiles?"
    answer = engine.ask("And what were the unofficial motives?", previous=engine.turn(previous))
    assert not answer.abstained
    assert best_quote_text(answer).startswith("The informal motivation included:")
    assert "Fear of technology leaks" in best_quote_text(answer)
