"""The reader's slot check: what a question asks a sentence to state, and what states it; the thresholds
calibrated per embedder that are stored with the reader's weights."""

from __future__ import annotations

import json
import math

import pytest

from index.errors import CalibrationError
from index.ingest.embedding import EMBEDDERS
from index.query.reader import (
    THRESHOLDS,
    Calibration,
    ReaderWeights,
    counted_nouns,
    fills_slot,
    named_roles,
    person_names,
    slot_kinds,
)


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("How many detainees were charged?", ("number",)),
        ("Who else picks up the topic?", ()),  # answered by "Polish media" as well as by names
        ("What was the name of the midwife?", ("name",)),
        ("What's the name of the midwife?", ("name",)),
        ("Who’s the coroner?", ("name",)),
        ("Who was his agent?", ("name",)),
        ("Who was the commander of the shuttle?", ("name",)),
        ("Who owns the company?", ()),  # may be answered by a company as well as by a person
        ("What is the name of the leisure airline Qantas has just launched?", ()),  # not a person's name
        ("What are the names of the ships that sank?", ()),
        ("When did the talks start?", ()),  # dates are worded too many ways to check
        ("Why did Moscow refuse?", ()),
        ("Who will decide how many staff are offered jobs?", ()),  # asks for a name, not a number
        ("When did he ask for a payout, and how many shares did he want?", ("number",)),
        ("Roughly how many midwives work there?", ("number",)),
        ("How old is the rafter?", ("number", "age")),
        ("At what age did she retire?", ("number", "age")),
        ("How long has the dispute been running?", ("number", "duration")),
        ("What percentage pay rise do the unions want?", ("number", "share")),
        ("What is the total dollar value of the payments?", ("money",)),
    ],
)
def test_slot_kinds_are_what_the_question_itself_asks_for(question: str, kinds: tuple[str, ...]) -> None:
    assert slot_kinds(question) == kinds


def test_a_slot_is_filled_only_by_something_the_question_does_not_already_hold() -> None:
    assert fills_slot("number", "About 4,000 workers have been paid.", "How many workers were paid?")
    assert not fills_slot(
        "number", "About 4,000 workers have been paid.", "How many of the 4,000 workers left?"
    )
    assert fills_slot("number", "Seven others remain barricaded.", "How many people remain?")


def test_a_how_many_question_needs_a_number_of_what_it_counts() -> None:
    question = "How many spectators attended the swimming event?"
    assert counted_nouns(question) == {"spectators", "attended"}  # its next two words, whatever they are
    assert not fills_slot("number", "Australians won nine of the 12 events last night.", question)
    assert fills_slot("number", "A crowd of 6,000 spectators watched the event.", question)
    assert fills_slot("number", "Spectators numbering 6,000 watched.", question), "counted before the number"
    assert counted_nouns("How many Ansett workers were paid?") == {"ansett", "workers"}
    assert fills_slot("number", "About 4,000 workers have been paid.", "How many Ansett workers were paid?")
    assert fills_slot("number", "140 million people of Pakistan are ready.", "How many Pakistanis are ready?")
    assert counted_nouns("How many people died?") == frozenset(), "an everyday noun is often left out"
    assert counted_nouns("How many were hurt?") == frozenset()
    assert not fills_slot("number", "Seven others remain barricaded.", "How many fighters are inside?")


@pytest.mark.parametrize(
    ("kind", "question", "text", "fills"),
    [
        ("age", "How old is the rafter?", "Richard Smith, 31, of Hobart raised the alarm.", True),
        ("age", "How old is the rafter?", "A three-year-old boy was hurt.", True),
        ("age", "How old is the rafter?", "Three rafters raised the alarm at 9 am.", False),
        ("duration", "How long has the row run?", "The row has been running nearly two years.", True),
        ("duration", "How long has the row run?", "Unions rejected the offer of 3 per cent.", False),
        ("share", "What percentage pay rise do they want?", "They campaign for a 3 per cent rise.", True),
        ("share", "What percentage pay rise do they want?", "More than 2,000 staff imposed bans.", False),
    ],
)
def test_an_age_a_length_of_time_and_a_share_each_have_their_own_wording(
    kind: str, question: str, text: str, fills: bool
) -> None:
    assert kind in slot_kinds(question)
    assert fills_slot(kind, text, question) is fills


def test_a_question_asking_how_much_was_paid_needs_a_sum_of_money() -> None:
    question = "How much did the company pay its auditors?"
    assert slot_kinds(question) == ("number", "money")
    assert not fills_slot("money", "The auditors met the board 3 times.", question)
    assert fills_slot("money", "The auditors were paid $2.5 million.", question)
    assert fills_slot("money", "The fee came to 40 million dollars.", question)
    assert slot_kinds("How much rain fell overnight?") == ("number",)


def test_a_name_question_asks_about_a_role_up_to_a_function_word_or_participle() -> None:
    assert named_roles("What was the name of the senior midwife who led the group?") == {"senior", "midwife"}
    assert named_roles("What is the name of the teacher accused of abuse?") == {"teacher"}
    assert named_roles("Who is the former visiting psychologist at the centre?") == {
        "former",
        "visiting",
        "psychologist",
    }, "a participle opens a clause only before a function word"
    assert named_roles("What is the name of Sir Peter Blake's mother?") == {"mother"}
    assert named_roles("Who was the commander of the shuttle?") == {"commander"}
    assert named_roles("What was the name of the 54-year-old pilot killed?") == {"pilot"}
    assert named_roles("What are the names of the three Tasmanian members?") == {"tasmanian", "members"}
    assert named_roles("What is the name of the airline Qantas has launched?") == {"airline"}, "a new clause"
    assert named_roles("What is the name of the man in charge?") == frozenset(), "everyday words say nothing"


def test_names_in_other_scripts_with_particles_and_after_full_stops() -> None:
    text = "Ólafur Grímsson met Osama bin Laden. Mr. Sharon saw Charles de Gaulle."
    assert [p.name for p in person_names(text)] == [
        ("ólafur", "grímsson"),
        ("bin", "laden"),
        ("sharon",),  # the full stop after "Laden" ends that name; "Mr." is a title
        ("charles", "de", "gaulle"),
    ]


def test_a_person_is_named_after_a_title_from_a_given_name_or_by_a_rare_last_word() -> None:
    text = (
        "Chief Inspector Bronwyn Killmier, Joyce Smith, Brett Dempsey and Mr Howard met "
        "Wollongong Hospital staff and The Northern Territory's coroner."
    )
    assert [p.name for p in person_names(text)] == [
        ("bronwyn", "killmier"),
        ("joyce", "smith"),  # a common surname, known by the given name
        ("brett", "dempsey"),
        ("howard",),
    ]
    first = person_names(text)[0]
    assert text[first.start : first.end] == "Chief Inspector Bronwyn Killmier", "the span keeps the title"


QUESTION = "Who is the chief executive of the health service that employs Ray Williams?"


@pytest.mark.parametrize(
    ("text", "context", "fills"),
    [
        ("The service's chief executive, Stuart Schneider, says the midwives were moved.", "", True),
        ("Chief executive Stuart Schneider says the midwives were moved.", "", True),
        ("The midwives were moved, Stuart Schneider said.", "He is the chief executive.", True),
        ("The midwives were moved, Stuart Schneider said.", "The union was angry.", False),
        ("The chief executive says the midwives were moved from Wollongong Hospital.", "", False),
        ("Chief executive Ray Williams spoke to the board.", "", False),  # the question names him already
        ("Ray Williams's chief executive spoke to the board.", "", False),  # a possessive names nobody new
    ],
)
def test_a_name_question_needs_a_new_person_with_the_role_said_in_the_sentence_or_next_to_it(
    text: str, context: str, fills: bool
) -> None:
    assert fills_slot("name", text, QUESTION, context) is fills


@pytest.mark.parametrize("name", sorted(EMBEDDERS))
def test_every_shipped_embedder_has_its_five_thresholds_beside_the_weights(name: str) -> None:
    embedder = EMBEDDERS[name]()  # nothing loads until it embeds
    assert embedder.key == name, "an embedder's key is its FOOTNOTE_EMBEDDER name"
    calibration = ReaderWeights.load().calibration(embedder.key)
    assert calibration.embedder == name
    for threshold in THRESHOLDS:
        value = getattr(calibration, threshold)
        assert isinstance(value, float) and not math.isnan(value) and value != math.inf, threshold
    assert len(THRESHOLDS) == 5


def test_the_shipped_file_writes_an_uncalibrated_threshold_as_null_and_reads_it_as_minus_infinity() -> None:
    weights = ReaderWeights.load()
    hashing = weights.calibration("hashing")
    assert hashing.answer_threshold == hashing.slot_threshold == -math.inf
    assert hashing.to_json()["answer_threshold"] is None
    text = json.dumps(weights.to_json())
    assert "Infinity" not in text, "strict JSON has no infinity"
    assert ReaderWeights.load(json.loads(text)) == weights


def test_an_embedder_without_thresholds_is_a_clear_error() -> None:
    with pytest.raises(
        CalibrationError, match=r"no thresholds are calibrated for the embedder 'bert'.*minilm"
    ):
        ReaderWeights.load().calibration("bert")


def test_an_entry_lacking_a_threshold_is_a_clear_error() -> None:
    data = ReaderWeights.load().to_json()
    entry = {"abstain_threshold": 0.3, "abstain_lexical_weight": 0.25, "crosslingual_gap": 0.0}
    data["thresholds"] = {"bert": entry}
    with pytest.raises(CalibrationError, match="'bert' lack answer_threshold, slot_threshold"):
        ReaderWeights.load(data)


def test_a_calibration_round_trips_through_json() -> None:
    calibration = Calibration("e5", 0.8, 0.0, 0.04, -math.inf, -6.5)
    assert calibration.to_json() == {
        "abstain_threshold": 0.8,
        "abstain_lexical_weight": 0.0,
        "crosslingual_gap": 0.04,
        "answer_threshold": None,
        "slot_threshold": -6.5,
    }
    assert Calibration.from_json("e5", calibration.to_json()) == calibration
