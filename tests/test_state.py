"""What the bot remembers, shared between replicas through the data volume (bot/state.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bot.state import Asked, FeedbackLog, KeptLimits, SharedMemory, asked_from_json, asked_to_json
from index.query.answer_json import answer_json
from index.query.followup import Conversation
from index.types import Answer, Note, Passage, Quote, Reason


def an_answer() -> Answer:
    quote = Quote(
        1, "a.md", "A <b>title</b>", "https://x.example/a", 10, 20, "Quoted text", 0.5, "2024-01-02"
    )
    passage = Passage(1, 0, "a.md", "A <b>title</b>", None, 0, 40, "Passage … text", 0.03, 0.7, 1.5)
    return Answer(
        question="Why?",
        abstained=False,
        text="Quoted text [1]",
        quotes=(quote,),
        passages=(passage,),
        nearest_titles=("A title",),
        notes=(Note.FOREIGN_SCRIPT,),
    )


def test_an_answer_round_trips_through_json() -> None:
    asked = Asked(an_answer(), 5, -100, "gen-1")
    assert asked_from_json(asked_to_json(asked)) == asked


def test_the_bot_stores_answers_in_the_clis_json_form() -> None:
    stored = asked_to_json(Asked(an_answer(), 5, -100, "gen-1"))["answer"]
    assert stored == answer_json(an_answer()), "one serialiser for both"
    assert stored["notes"] == [
        "The current model reads English only, so this question cannot be matched reliably. Ask in "
        "English, or ask an admin to switch to the multilingual model (FOOTNOTE_EMBEDDER=e5-multilingual)."
    ]
    assert stored["note_codes"] == ["foreign_script"]


def test_an_answer_stored_by_an_older_version_reads_as_expired(tmp_path: Path) -> None:
    memory = SharedMemory(tmp_path, keep_seconds=3600)
    (tmp_path / "answers").mkdir()
    old = {"user_id": 1, "chat_id": 1, "generation": "g", "answer": {"question": "q", "text": "t"}}
    (tmp_path / "answers" / "0123456789abcdef.json").write_text(json.dumps(old))
    assert memory.answer("0123456789abcdef") is None


def test_an_abstention_keeps_its_reason_through_json() -> None:
    reason = Reason("unknown_terms", ("Lukashenko",))
    asked = Asked(
        Answer(
            question="Why?",
            abstained=True,
            text="x",
            quotes=(),
            passages=(),
            nearest_titles=("A",),
            reason=reason,
        ),
        5,
        -100,
        "gen-1",
    )
    assert asked_from_json(asked_to_json(asked)).answer.reason == reason
    old = asked_to_json(asked)
    for key in ("reason", "reason_code", "reason_terms"):  # written before reasons existed
        del old["answer"][key]
    assert asked_from_json(old).answer.reason is None


def test_two_replicas_share_answers_and_previous_questions(tmp_path: Path) -> None:
    one, two = SharedMemory(tmp_path, 3600), SharedMemory(tmp_path, 3600)
    answer_id = one.keep_answer(Asked(an_answer(), 5, 5, "gen-1"))
    assert len(answer_id) == 16
    recalled = two.answer(answer_id)
    assert recalled is not None and recalled.answer.quotes[0].text == "Quoted text"

    one.keep_turn(5, 5, Conversation("Why did Moscow refuse?", (("a.md", 10),), time.time()))
    turn = two.last_turn(5, 5)
    assert turn is not None and turn.question == "Why did Moscow refuse?" and turn.quoted == (("a.md", 10),)
    two.keep_turn(5, 5, Conversation("and the informal reasons?", (), time.time() + 1))
    latest = one.last_turn(5, 5)
    assert latest is not None and latest.question == "and the informal reasons?", "the most recent one wins"
    assert one.last_turn(6, 5) is None


def test_ids_that_are_not_ours_are_never_read_as_paths(tmp_path: Path) -> None:
    memory = SharedMemory(tmp_path / "data", 3600)
    (tmp_path / "secret.json").write_text('{"answer": {}}')
    for forged in ("../secret", "../../etc/passwd", "deadbeef", "", "0123456789abcdeg"):
        assert memory.answer(forged) is None


def test_unreadable_files_are_expired_answers_and_old_files_are_pruned(tmp_path: Path) -> None:
    memory = SharedMemory(tmp_path, 60)
    (tmp_path / "answers").mkdir()
    (tmp_path / "answers" / "0123456789abcdef.json").write_text("{not json")
    assert memory.answer("0123456789abcdef") is None
    (tmp_path / "answers" / "0123456789abcdee.json").write_text('{"answer": {"question": 1}}')
    assert memory.answer("0123456789abcdee") is None

    kept = memory.keep_answer(Asked(an_answer(), 1, 1, "gen"))
    old = time.time() - 3600
    for path in (tmp_path / "answers").iterdir():
        if not path.name.startswith(kept):
            os.utime(path, (old, old))
    assert memory.prune() == 2
    assert [p.name for p in (tmp_path / "answers").iterdir()] == [f"{kept}.json"]


def test_memory_only_mode_writes_nothing(tmp_path: Path) -> None:
    memory = SharedMemory(None, 0)
    answer_id = memory.keep_answer(Asked(an_answer(), 1, 1, "gen"))
    memory.keep_turn(1, 1, Conversation("question", at=time.time()))
    assert memory.answer(answer_id) is not None and memory.last_turn(1, 1) is not None
    assert not any(tmp_path.iterdir())


def test_feedback_keeps_each_readers_last_vote_per_answer_across_replicas(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    path.write_text('{"user_id": 5, "helpful": true, "question": "from before votes were keyed"}\n')
    one, two = FeedbackLog(path), FeedbackLog(path)  # two replicas append to one file
    asked = Asked(an_answer(), 5, 5, "gen-1")
    for log, answer_id, user, helpful in [
        (one, "a" * 16, 5, True),
        (one, "a" * 16, 5, True),
        (two, "a" * 16, 5, False),
        (one, "a" * 16, 6, True),
        (two, "b" * 16, 5, True),
    ]:
        log.record(asked, answer_id, user, helpful=helpful)
    assert len(path.read_text().splitlines()) == 5, "the repeated vote was not written again"
    one.record(asked, "b" * 16, 5, helpful=False)  # `one` never saw this answer's vote: it writes
    # The other replica's vote was True, but this one wrote False since: True is written again.
    one.record(asked, "b" * 16, 5, helpful=True)
    one.record(asked, "b" * 16, 5, helpful=True)  # now it is known: not written again
    assert len(path.read_text().splitlines()) == 7
    rows = [json.loads(line) for line in one.export().splitlines()]
    assert [(r.get("answer_id"), r["user_id"], r["helpful"]) for r in rows] == [
        (None, 5, True),
        ("a" * 16, 5, False),
        ("a" * 16, 6, True),
        ("b" * 16, 5, True),
    ]


def test_kept_answers_are_capped_in_count_bytes_and_per_reader(tmp_path: Path) -> None:
    """Issue 25: each question writes a file; the oldest go first once a folder or a reader is full."""
    memory = SharedMemory(tmp_path, 7 * 86400, KeptLimits(files=30, bytes=10**9, per_user=5))
    flooder = [memory.keep_answer(Asked(an_answer(), 7, 7, "gen-1")) for _ in range(12)]
    files = {p.stem for p in (tmp_path / "answers").iterdir()}
    assert files == set(flooder[-5:]), "one reader keeps only their newest answers"
    assert memory.answer(flooder[0]) is None and memory.answer(flooder[-1]) is not None

    others = []
    for user in range(40):
        others.append(memory.keep_answer(Asked(an_answer(), user, user, "gen-1")))
        os.utime(tmp_path / "answers" / f"{others[-1]}.json", (1_000 + user, time.time() - 3600 + user))
    memory.prune()
    left = {p.stem for p in (tmp_path / "answers").iterdir()}
    assert len(left) == 30 and set(others[-25:]) <= left, "the oldest files went first"

    size = sum(p.stat().st_size for p in (tmp_path / "answers").iterdir()) // 30
    small = SharedMemory(tmp_path, 7 * 86400, KeptLimits(files=1000, bytes=size * 10, per_user=1000))
    small.prune()
    assert sum(p.stat().st_size for p in (tmp_path / "answers").iterdir()) <= size * 10
