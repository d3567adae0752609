"""The bot end to end: the real python-telegram-bot client over real HTTP against a local fake Bot API."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.app import FootnoteApp
from bot.state import BotState
from index.ingest.embedding import HashingEmbedder
from index.pipeline import Pipeline
from index.query.followup import Conversation
from tests.fake_telegram import BOT_USERNAME, FakeTelegram
from tests.helpers import (
    ADMIN,
    READER,
    SlowPassages,
    bot_process_env,
    bot_settings,
    processed,
    started,
    stopped,
    text_has,
    wait,
)


async def test_private_question_gets_typing_then_quoted_answer_with_buttons(
    fake: FakeTelegram, app: FootnoteApp
) -> None:
    fake.push_message("When do farmers pick ripe apples?")
    [sent] = await wait(fake, "sendMessage", text_has("<blockquote"))
    assert fake.calls_to("sendChatAction")[0].params["action"] == "typing"
    text = sent.params["text"]
    assert "Farmers pick ripe apples in autumn when they turn red. <b>[1]</b>" in text
    assert '<a href="https://example.org/apples#:~:text=Farmers%20pick%20ripe%20apples' in text
    assert '">Apples</a>' in text, "the source links to the quoted sentence in the article"
    assert sent.params["parse_mode"] == "HTML"
    buttons = [b["callback_data"] for row in sent.params["reply_markup"]["inline_keyboard"] for b in row]
    assert any(b.startswith("p:") and b.endswith(":1") for b in buttons)
    assert {b.split(":")[0] for b in buttons} == {"p", "m", "f"}
    assert all(len(b.encode()) <= 64 for b in buttons)


async def test_off_topic_question_gets_a_friendly_abstention(fake: FakeTelegram, app: FootnoteApp) -> None:
    fake.push_message("zebra quantum saxophone")
    [sent] = await wait(fake, "sendMessage")
    assert "I don't find this in the articles" in sent.params["text"]
    assert "<blockquote" not in sent.params["text"]


async def test_groups_answer_only_when_addressed_and_keep_forum_topics(
    fake: FakeTelegram, app: FootnoteApp
) -> None:
    group = -100500
    unaddressed = fake.push_message("apples in autumn, anyone?", chat_id=group, chat_type="supergroup")
    fake.push_message(f"@{BOT_USERNAME} when do farmers pick apples?", chat_id=group, chat_type="supergroup")
    await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == group)
    replied = fake.push_message(
        "How is cider pressed in the cold months?", chat_id=group, chat_type="supergroup", reply_to_bot=True
    )
    command = fake.push_message("/ask electric trains", chat_id=group, chat_type="supergroup", thread_id=77)
    await processed(fake, unaddressed, replied, command)
    calls = fake.calls_to("sendMessage")
    assert len(calls) == 3, "the unaddressed message got no reply"
    assert any("Cider is pressed" in c.params["text"] for c in calls)
    threaded = next(c for c in calls if "Electric trains" in c.params["text"])
    assert threaded.params["message_thread_id"] == 77
    assert all("reply_parameters" in c.params for c in calls), "answers in groups quote the question"


async def test_commands_menu_start_help_and_sources(fake: FakeTelegram, app: FootnoteApp) -> None:
    scopes = [c.params["scope"] for c in fake.calls_to("setMyCommands")]
    assert {"type": "default"} in scopes and {"type": "chat", "chat_id": ADMIN} in scopes
    admin_menu = next(c for c in fake.calls_to("setMyCommands") if c.params["scope"].get("chat_id") == ADMIN)
    assert "reindex" in [cmd["command"] for cmd in admin_menu.params["commands"]]
    public_menu = next(c for c in fake.calls_to("setMyCommands") if c.params["scope"]["type"] == "default")
    assert "reindex" not in [cmd["command"] for cmd in public_menu.params["commands"]]

    fake.push_message("/start")
    [start] = await wait(fake, "sendMessage", text_has("2</b> analytical articles"))
    assert "What is the main point of Apples?" in start.params["text"]
    fake.push_message("/help")
    [help_text] = await wait(fake, "sendMessage", text_has("How to ask"))
    assert "/reindex" not in help_text.params["text"]
    fake.push_message("/help", user_id=ADMIN)
    await wait(fake, "sendMessage", text_has("/reindex"))
    fake.push_message("/sources")
    [sources] = await wait(fake, "sendMessage", text_has("Articles</b> (2)"))
    assert "<code>apples.md</code>" in sources.params["text"]


async def test_sources_are_paged(fake: FakeTelegram, tmp_path: Path, seeds: Path) -> None:
    for i in range(13):
        (seeds / f"extra{i:02d}.txt").write_text(f"Extra article {i}\n\nSome text number {i}.")
    application = await started(bot_settings(fake, tmp_path))
    try:
        fake.push_message("/sources")
        [first] = await wait(fake, "sendMessage", text_has("page 1 of 2"))
        [[next_button]] = first.params["reply_markup"]["inline_keyboard"]
        assert next_button["callback_data"] == "s:1"
        fake.push_callback("s:1")
        [edited] = await wait(fake, "editMessageText", text_has("page 2 of 2"))
        assert edited.params["text"].count("•") == 5
    finally:
        await stopped(application)


async def test_buttons_passage_more_sources_and_feedback(
    fake: FakeTelegram, app: FootnoteApp, tmp_path: Path
) -> None:
    fake.push_message("When do farmers pick ripe apples?")
    [sent] = await wait(fake, "sendMessage", text_has("<blockquote"))
    buttons = [b["callback_data"] for row in sent.params["reply_markup"]["inline_keyboard"] for b in row]
    passage, more, up = (
        buttons[0],
        next(b for b in buttons if b.startswith("m:")),
        next(b for b in buttons if b.endswith(":1") and b.startswith("f:")),
    )

    fake.push_callback(passage)
    [view] = await wait(fake, "sendMessage", text_has("📖"))
    assert "<b>Farmers pick ripe apples in autumn when they turn red.</b>" in view.params["text"]
    assert "Apples grow on trees in orchards." in view.params["text"], (
        "the passage shows the quote in context"
    )

    fake.push_callback(more)
    await wait(fake, "sendMessage", text_has("More sources"))

    fake.push_callback(up)
    await wait(fake, "answerCallbackQuery", lambda c: c.params.get("text") == "Thanks for the feedback!")
    assert (tmp_path / "data" / "heartbeat").exists(), "the running bot keeps a heartbeat for health checks"
    [row] = [json.loads(line) for line in (tmp_path / "data" / "feedback.jsonl").read_text().splitlines()]
    assert row["helpful"] is True and row["question"] == "When do farmers pick ripe apples?"
    assert "Farmers pick ripe apples" in row["answer"]

    fake.push_message("/feedback")
    await wait(fake, "sendMessage", text_has("Admins only"))
    fake.push_message("/feedback", user_id=ADMIN)
    [document] = await wait(fake, "sendDocument")
    assert b'"helpful": true' in document.files["document"]

    fake.push_callback("p:deadbeef:1")
    await wait(fake, "answerCallbackQuery", lambda c: "too old" in str(c.params.get("text")))


async def test_admin_gate_on_every_admin_command(fake: FakeTelegram, app: FootnoteApp, seeds: Path) -> None:
    for command in ("/reindex", "/remove apples.md", "/stats", "/feedback"):
        fake.push_message(command, user_id=READER)
    await wait(fake, "sendMessage", text_has("Admins only"), count=4)
    fake.push_document("new.md", b"# New\n\nA new article.", user_id=READER)
    await wait(fake, "sendMessage", text_has("Admins only"), count=5)
    assert (seeds / "apples.md").exists() and not (seeds / "new.md").exists()
    assert not fake.calls_to("editMessageText"), "no reindex started"

    fake.push_message("/stats", user_id=ADMIN)
    [stats] = await wait(fake, "sendMessage", text_has("Questions answered"))
    assert fake.token not in stats.params["text"]
    assert "<b>Articles</b> 2" in stats.params["text"]
    assert "<b>Languages</b> en 100%" in stats.params["text"]


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
async def test_reindex_swaps_atomically_while_questions_are_served(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    embedder = SlowPassages()
    application = await started(bot_settings(fake, tmp_path), embedder)
    try:
        (seeds / "bees.md").write_text(
            "---\ntitle: Bees\n---\nUrban bees make honey on rooftops of the old town.\n"
        )
        embedder.gate = threading.Event()
        fake.push_message("/reindex", user_id=ADMIN)
        await wait(fake, "sendMessage", text_has("Reindexing"))
        fake.push_message("/reindex", user_id=ADMIN)
        await wait(fake, "sendMessage", text_has("already running"))
        fake.push_message("When do farmers pick ripe apples?")
        await wait(fake, "sendMessage", text_has("Farmers pick ripe apples"))
        assert not fake.calls_to("editMessageText"), "answered from the old index while the reindex runs"
        fake.push_message("urban bees honey rooftops", user_id=7)
        [before] = await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == 7)
        assert "Urban bees" not in before.params["text"], "the new article is not served before the swap"
        embedder.gate.set()
        [done] = await wait(fake, "editMessageText", text_has("Reindexed"))
        assert "added 1, changed 0, removed 0, unchanged 2" in done.params["text"]
        embedder.gate = None
        fake.push_message("urban bees honey rooftops")
        await wait(fake, "sendMessage", text_has("Urban bees make honey"))
    finally:
        await stopped(application)


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
async def test_document_upload_and_remove(fake: FakeTelegram, app: FootnoteApp, seeds: Path) -> None:
    fake.push_document(
        "../../etc/Owls Guide.md",
        b"---\ntitle: Owls\n---\nOwls hunt mice at night in silent flight.\n",
        user_id=ADMIN,
    )
    await wait(fake, "editMessageText", text_has("Reindexed"))
    assert (seeds / "Owls-Guide.md").exists()
    assert any("Saved as <code>Owls-Guide.md</code>" in t for t in fake.texts(ADMIN))
    fake.push_message("owls hunt mice at night")
    await wait(fake, "sendMessage", text_has("Owls hunt mice at night"))

    fake.push_document(
        "Owls Guide.md", b"---\ntitle: Other owls\n---\nA different owl text.\n", user_id=ADMIN
    )
    await wait(fake, "sendMessage", text_has("Owls-Guide-2.md"))
    fake.push_document("broken.md", b"---\ntitle: [oops\n---\nbody\n", user_id=ADMIN)
    await wait(fake, "sendMessage", text_has("front matter is not valid YAML"))
    fake.push_document("virus.exe", b"MZ", user_id=ADMIN)
    await wait(fake, "sendMessage", text_has(".txt, .md and .html files only"))

    fake.push_message("/remove Owls-Guide.md", user_id=ADMIN)
    await wait(fake, "editMessageText", text_has("removed 1"))
    fake.push_message("/remove ../pyproject.toml", user_id=ADMIN)
    await wait(fake, "sendMessage", text_has("There is no article"))
    fake.push_message("owls hunt mice at night", user_id=5)
    [answer] = await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == 5)
    assert "Owls hunt mice" not in answer.params["text"], "a removed article is never quoted again"


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
async def test_retry_after_429_is_waited_out_and_the_answer_arrives(
    fake: FakeTelegram, app: FootnoteApp
) -> None:
    fake.fail_next("sendMessage", 429, description="Too Many Requests: retry after 1", retry_after=1)
    fake.push_message("When do farmers pick ripe apples?")
    [sent] = await wait(fake, "sendMessage", text_has("Farmers pick ripe apples"))
    assert fake.calls_to("sendMessage:failed")
    assert len(fake.calls_to("sendMessage")) == 1, "sent once, not twice"
    assert sent.params["chat_id"] == READER


async def test_a_handler_error_reaches_the_error_handler_and_the_user_sees_no_traceback(
    fake: FakeTelegram,
    app: FootnoteApp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state: BotState = app.bot_data.state

    def explode(question: str, k: int | None = None, previous: str | None = None) -> None:
        raise RuntimeError("boom inside the engine")

    state.engine.ask = explode  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        fake.push_message("When do farmers pick ripe apples?")
        [sent] = await wait(fake, "sendMessage")
    assert "something went wrong" in sent.params["text"]
    assert "boom" not in sent.params["text"] and "Traceback" not in sent.params["text"]
    assert "boom inside the engine" in caplog.text


async def test_non_text_rate_limit_and_long_questions(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    application = await started(bot_settings(fake, tmp_path, rate_limit_per_minute=2, max_question_chars=40))
    try:
        fake.push_message(
            None,
            extra={
                "sticker": {
                    "file_id": "s",
                    "file_unique_id": "s",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                }
            },
        )
        await wait(fake, "sendMessage", text_has("text questions only"))
        fake.push_message("When do farmers pick ripe apples in the orchards of the valley every year?")
        await wait(fake, "sendMessage", text_has("first 40 characters"))
        await wait(fake, "sendMessage", text_has("<blockquote"))
        flood = [fake.push_message("apples") for _ in range(3)]
        await processed(fake, *flood)
        assert len([t for t in fake.texts() if "faster than I can read" in t]) == 1, (
            "one notice, not one per message"
        )
    finally:
        await stopped(application)


@pytest.mark.slow
def test_footnote_bot_process_answers_and_stops_cleanly_on_sigterm(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    env = bot_process_env(fake, tmp_path, FOOTNOTE_LOG_LEVEL="DEBUG")
    fake.fail_next("getUpdates", 502, description="Bad Gateway")  # an error whose log could carry the URL
    fake.fail_next("getMe", 502, times=2, description="Bad Gateway")  # the API is down at start-up
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--debug", "bot"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        fake.wait_for("setMyCommands", timeout=60)
        fake.push_message("When do farmers pick ripe apples?")
        fake.wait_for(
            "sendMessage", lambda c: "Farmers pick ripe apples" in str(c.params.get("text")), timeout=60
        )
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-2000:]
    assert fake.calls_to("getUpdates:failed"), "the failing poll happened and was survived"
    assert err.count("Bot API at") == 2 and "is unreachable" in err, (
        "at start-up it keeps retrying and says why"
    )
    assert fake.token not in err + out
    assert fake.token.split(":")[1] not in err + out


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
async def test_5xx_and_dropped_connections_are_retried_and_the_answer_is_sent_once(
    fake: FakeTelegram,
    app: FootnoteApp,
) -> None:
    fake.fail_next("sendMessage", 502, times=2, description="Bad Gateway")
    fake.drop_next("sendChatAction")
    question = fake.push_message("When do farmers pick ripe apples?")
    await processed(fake, question)
    assert "Farmers pick ripe apples" in fake.texts()[0]
    assert len(fake.calls_to("sendMessage:failed")) == 2
    assert fake.calls_to("sendChatAction:dropped") and fake.calls_to("sendChatAction")
    assert len(fake.calls_to("sendMessage")) == 1, "delivered exactly once"
    fake.push_message("Which trains are quiet?", user_id=3)
    await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == 3)


@pytest.mark.slow
def test_sigterm_while_waiting_for_an_unreachable_api_exits_cleanly(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    env = bot_process_env(fake, tmp_path)
    fake.fail_next("getMe", 503, times=100, description="Service Unavailable")
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "bot"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "is unreachable" in line:
                break
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        if process.stderr is not None:
            process.stderr.close()
    assert process.returncode == 0
    assert not fake.calls_to("setMyCommands"), "it never started serving"


async def test_follow_up_questions_lean_on_the_previous_one(fake: FakeTelegram, app: FootnoteApp) -> None:
    state: BotState = app.bot_data.state
    fake.push_message("When do farmers pick ripe apples?")
    await wait(fake, "sendMessage", text_has("Farmers pick ripe apples"))
    asked = state.engine.ask
    searched: list[Conversation | None] = []

    def spy(question: str, k: int | None = None, previous: Conversation | None = None) -> object:
        searched.append(previous)
        return asked(question, k, previous)

    state.engine.ask = spy  # type: ignore[method-assign]
    fake.push_message("and cider?")
    await wait(fake, "sendMessage", text_has("Cider is pressed"))
    [turn] = searched
    assert turn is not None and turn.question == "When do farmers pick ripe apples?", (
        "the follow-up was searched with its predecessor"
    )
    assert turn.quoted and turn.quoted[0][0] == "apples.md", "and answered from the articles it quoted"
    fake.push_message("Which electric trains run quietly between busy stations?", user_id=5)
    [fresh] = await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == 5)
    assert "Electric trains" in fresh.params["text"] and "apples" not in fresh.params["text"].lower()


async def test_the_bots_own_words_follow_the_readers_language(fake: FakeTelegram, app: FootnoteApp) -> None:
    fake.push_message("/start", user_id=21, language="ru")
    [start] = await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == 21)
    assert "Я отвечаю на вопросы" in start.params["text"]
    fake.push_message("zebra quantum saxophone", user_id=21, language="ru")
    await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == 21, count=2)
    assert "Я не нахожу этого в статьях" in fake.texts(21)[1]
    fake.push_message("Почему Москва отказалась?", user_id=22, language="be")
    await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == 22)
    [note] = fake.texts(22)
    assert "понимает только английский" in note and "e5-multilingual" in note, "no confident wrong quotes"
    assert "<blockquote" not in note
    fake.push_message("/help", user_id=23, language="en-GB")
    await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == 23)
    assert "How to ask" in fake.texts(23)[0]


async def test_an_index_built_by_another_process_is_served_without_a_restart(
    fake: FakeTelegram,
    app: FootnoteApp,
    tmp_path: Path,
    seeds: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = bot_settings(fake, tmp_path)
    (seeds / "bees.md").write_text(
        "---\ntitle: Bees\n---\nUrban bees make honey on rooftops of the old town.\n"
    )
    await asyncio.to_thread(Pipeline(settings, HashingEmbedder()).build_index)  # e.g. `footnote index`
    fake.push_message("urban bees honey rooftops")
    await wait(fake, "sendMessage", text_has("Urban bees make honey"))

    # A generation that cannot be loaded is reported, and the one being served keeps answering.
    broken = settings.index_dir / "gen-broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{}")
    (settings.index_dir / "CURRENT").write_text("gen-broken\n")
    with caplog.at_level(logging.ERROR):
        fake.push_message("When do farmers pick ripe apples?", user_id=8)
        await wait(
            fake, "sendMessage", lambda c: c.params["chat_id"] == 8 and "Farmers pick" in c.params["text"]
        )
    assert "cannot load index gen-broken" in caplog.text
