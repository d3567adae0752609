"""Inline mode end to end: the real python-telegram-bot client against the fake Bot API."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.app import FootnoteApp
from bot.inline import question_like
from bot.render import inline_quote, inline_results, opening_words
from bot.state import Debouncer
from index.types import Answer, Quote, Vectors
from tests.fake_telegram import FakeTelegram
from tests.helpers import (
    ADMIN,
    SlowPassages,
    bot_settings,
    started,
    stopped,
    text_has,
    wait,
)


class GatedQueries(SlowPassages):
    """Questions wait for `query_gate` once it is armed, so a burst of queries is all in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.query_gate: threading.Event | None = None

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        if self.query_gate is not None:
            assert self.query_gate.wait(30), "the test never opened the gate"
        return super().embed_queries(texts)


def inline_to(query_id: str) -> Any:
    return lambda call: call.params.get("inline_query_id") == query_id


@pytest.fixture
async def inline_app(fake: FakeTelegram, tmp_path: Path, seeds: Path) -> AsyncIterator[FootnoteApp]:
    application = await started(bot_settings(fake, tmp_path, inline_debounce_seconds=0))
    yield application
    await stopped(application)


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
async def test_inline_query_gets_the_whole_answer_then_one_result_per_quote(
    fake: FakeTelegram, inline_app: FootnoteApp
) -> None:
    query_id = fake.push_inline_query("When do farmers pick ripe apples?")
    [call] = await wait(fake, "answerInlineQuery", inline_to(query_id))
    results = call.params["results"]
    assert 2 <= len(results) <= 5
    whole, first_quote = results[0], results[1]
    assert whole["id"] == "all" and "The whole answer" in whole["title"]
    assert "<blockquote>" in whole["input_message_content"]["message_text"]
    assert "Sources" in whole["input_message_content"]["message_text"]
    assert first_quote["title"].startswith("Farmers pick ripe apples")
    assert first_quote["description"] == "Apples"
    sent = first_quote["input_message_content"]
    assert sent["parse_mode"] == "HTML"
    assert sent["message_text"].startswith("<blockquote>Farmers pick ripe apples in autumn when they turn")
    assert '<a href="https://example.org/apples#:~:text=Farmers%20pick' in sent["message_text"]
    assert call.params["cache_time"] == 300
    assert call.params.get("is_personal") is False, "no allow-list: results may be shared"

    fake.push_message("/stats", user_id=ADMIN)
    [stats] = await wait(fake, "sendMessage", text_has("Inline answers"))
    assert "<b>Inline answers</b> 1" in stats.params["text"]
    assert "<b>Questions answered</b> 1" in stats.params["text"]


async def test_abstention_short_and_command_queries_get_no_quotes_but_a_button_to_the_bot(
    fake: FakeTelegram, inline_app: FootnoteApp
) -> None:
    off_topic = fake.push_inline_query("zebra quantum saxophone rhythm", user_id=2)
    [call] = await wait(fake, "answerInlineQuery", inline_to(off_topic))
    assert call.params["results"] == []
    assert call.params["button"]["start_parameter"] == "inline"
    assert "Not in the articles" in call.params["button"]["text"]

    short = fake.push_inline_query("apples", user_id=3, language="ru")
    [call] = await wait(fake, "answerInlineQuery", inline_to(short))
    assert call.params["results"] == [] and "Допишите вопрос" in call.params["button"]["text"]

    command = fake.push_inline_query("/reindex everything now", user_id=ADMIN)
    [call] = await wait(fake, "answerInlineQuery", inline_to(command))
    assert call.params["results"] == [], "admin commands never run inline"
    assert not fake.calls_to("editMessageText"), "no reindex started"


async def test_a_burst_of_keystrokes_gets_exactly_one_answer_with_quotes(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    embedder = GatedQueries()
    application = await started(bot_settings(fake, tmp_path, inline_debounce_seconds=0), embedder)
    try:
        embedder.query_gate = threading.Event()
        typed = "When do farmers pick ripe apples?"
        keystrokes = [typed[:n] for n in (12, 17, 24, len(typed))]
        ids = [fake.push_inline_query(text, user_id=7) for text in keystrokes]
        # Each newer query closes the one before it, with no results, while the questions are held.
        closed = await wait(
            fake, "answerInlineQuery", lambda c: c.params["inline_query_id"] in ids[:-1], count=3
        )
        assert all(c.params["results"] == [] for c in closed)
        embedder.query_gate.set()
        [last] = await wait(fake, "answerInlineQuery", inline_to(ids[-1]))
        assert last.params["results"], "the latest query is answered with quotes"
        with_results = [c for c in fake.calls_to("answerInlineQuery") if c.params["results"]]
        assert [c.params["inline_query_id"] for c in with_results] == [ids[-1]]
        assert len(fake.calls_to("answerInlineQuery")) == len(ids), "each query answered once"
    finally:
        await stopped(application)


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
async def test_with_a_quiet_time_a_newer_keystroke_still_closes_the_older_query(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    # The quiet time is ample for the second keystroke to arrive while the first waits.
    application = await started(bot_settings(fake, tmp_path, inline_debounce_seconds=3))
    try:
        first = fake.push_inline_query("Which electric trains", user_id=8)
        second = fake.push_inline_query("Which electric trains run quietly?", user_id=8)
        [closed] = await wait(fake, "answerInlineQuery", inline_to(first))
        assert closed.params["results"] == [] and closed.params["cache_time"] == 0
        [answered] = await wait(fake, "answerInlineQuery", inline_to(second))
        assert (
            "Electric trains run quietly"
            in answered.params["results"][0]["input_message_content"]["message_text"]
        )
    finally:
        await stopped(application)


async def test_allow_list_and_rate_limit_apply_inline(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    settings = bot_settings(
        fake, tmp_path, inline_debounce_seconds=0, allowed_ids=[5], rate_limit_per_minute=1
    )
    application = await started(settings)
    try:
        stranger = fake.push_inline_query("When do farmers pick ripe apples?", user_id=6)
        [refused] = await wait(fake, "answerInlineQuery", inline_to(stranger))
        assert refused.params["results"] == [] and refused.params["is_personal"] is True
        assert refused.params["button"]["text"] == "This bot is private"

        member = fake.push_inline_query("When do farmers pick ripe apples?", user_id=5)
        [answered] = await wait(fake, "answerInlineQuery", inline_to(member))
        assert answered.params["results"] and answered.params["is_personal"] is True, (
            "with an allow-list, cached results must not reach readers outside it"
        )
        again = fake.push_inline_query("How is cider pressed from apples?", user_id=5)
        [limited] = await wait(fake, "answerInlineQuery", inline_to(again))
        assert limited.params["results"] == [] and "Too many questions" in limited.params["button"]["text"]
    finally:
        await stopped(application)


# -- the pure parts ----------------------------------------------------------------------------------


def test_debouncer_answers_only_the_latest_query_of_each_reader() -> None:
    debouncer = Debouncer()
    assert debouncer.arrive(1, "a") is None
    assert debouncer.arrive(2, "x") is None, "readers do not supersede each other"
    assert debouncer.arrive(1, "b") == "a"
    assert not debouncer.finish(1, "a"), "a superseded query may not answer"
    assert debouncer.is_latest(1, "b") and debouncer.finish(1, "b")
    assert debouncer.arrive(1, "c") is None, "an answered query is not pending any more"
    assert debouncer.finish(2, "x")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("why did Moscow refuse", True),
        ("Почему Москва отказалась?", True),
        ("why", False),
        ("apples", False),
        ("/reindex all the things", False),
        ("12345 67890 12345", False),
    ],
)
def test_question_like(text: str, expected: bool) -> None:
    assert question_like(text, 10) is expected


def _quote(n: int, text: str, title: str = "T <&> title", source: str | None = "https://e.org/a") -> Quote:
    return Quote(n, f"d{n}.md", title, source, 0, len(text), text, 0.9, "2026-11-30")


def test_inline_results_escape_and_fit() -> None:
    quotes = tuple(_quote(n, f"Quote <{n}> & more words here for the title {n}.") for n in range(1, 7))
    answer = Answer(question="q", abstained=False, text="text", quotes=quotes, passages=())
    results = inline_results(answer)
    assert len(results) == 5 and results[0].id == "all"
    assert [r.id for r in results[1:]] == ["q1", "q2", "q3", "q4"]
    html = inline_quote(quotes[0])
    assert "Quote &lt;1&gt; &amp; more" in html and "T &lt;&amp;&gt; title" in html
    assert inline_results(Answer(question="q", abstained=True, text="no", quotes=(), passages=())) == []

    huge = _quote(1, "word " * 3000, source=None)
    assert len(inline_quote(huge).encode("utf-16-le")) // 2 <= 4096
    two = (huge, _quote(2, "short one"))
    whole_too_long = inline_results(Answer(question="q", abstained=False, text="t", quotes=two, passages=()))
    assert [r.id for r in whole_too_long] == ["q1", "q2"], "no whole-answer result when it does not fit"
    opening = opening_words("one two three four five six seven eight nine")
    assert opening == "one two three four five six seven eight…"
