"""Security review of the bot and the CLI around it (issue 14): the real python-telegram-bot client, or the
real `footnote bot` process, against the local fake Bot API."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot import render
from bot.app import FootnoteApp, build_application, check_settings, on_startup, on_stop
from bot.state import BotState, RateLimiter
from config import SettingsError
from index.ingest.embedding import HashingEmbedder
from index.pipeline import Pipeline
from index.query.engine import Engine
from tests.fake_telegram import FakeTelegram
from tests.helpers import (
    ADMIN,
    READER,
    SlowPassages,
    bot_process_env,
    bot_settings,
    buttons,
    make_settings,
    processed,
    started,
    stopped,
    text_has,
    wait,
)

STRANGER = 66
GROUP = -100500


async def asked(fake: FakeTelegram, user_id: int = READER) -> list[str]:
    """Ask the apples question; the callback data of the answer's buttons."""
    fake.push_message("When do farmers pick ripe apples?", user_id=user_id)
    [sent] = await wait(
        fake, "sendMessage", lambda c: c.params["chat_id"] == user_id and "<blockquote" in c.params["text"]
    )
    return buttons(sent)


def run_footnote(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args, "bot"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- 2: webhooks need a secret -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.slow  # `footnote bot` processes
def test_webhook_mode_without_a_secret_refuses_to_start(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    env = bot_process_env(
        fake,
        tmp_path,
        FOOTNOTE_WEBHOOK_URL="https://bot.example.org/hook",
        FOOTNOTE_WEBHOOK_LISTEN="127.0.0.1",
        FOOTNOTE_WEBHOOK_PORT=str(free_port()),
    )
    done = run_footnote(env)
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert "FOOTNOTE_WEBHOOK_SECRET" in line and "FOOTNOTE_WEBHOOK_URL" in line
    assert "Traceback" not in done.stderr
    assert fake.calls == [], "refused before any call to the Bot API"


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (None, "FOOTNOTE_WEBHOOK_SECRET is not"),
        ("", "1-256 characters"),
        ("has spaces and ünïcode SECRETVALUE", "1-256 characters"),
        ("x" * 257, "1-256 characters"),
        ("ok_Secret-123", None),
    ],
)
def test_webhook_secrets_telegram_would_refuse_are_refused_first(
    secret: str | None, problem: str | None
) -> None:
    values: dict[str, object] = {"bot_token": "1:T", "webhook_url": "https://bot.example.org/hook"}
    if secret is not None:
        values["webhook_secret"] = secret
    settings = make_settings(**values)
    if problem is None:
        check_settings(settings)
        return
    with pytest.raises(SettingsError, match=problem) as refused:
        check_settings(settings)
    assert "SECRETVALUE" not in str(refused.value)


@pytest.mark.slow  # `footnote bot` processes
def test_a_refused_webhook_is_one_line_without_secrets(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    env = bot_process_env(
        fake,
        tmp_path,
        FOOTNOTE_WEBHOOK_URL="https://bot.example.org/hook",
        FOOTNOTE_WEBHOOK_SECRET="the-webhook-SECRETVALUE",
        FOOTNOTE_WEBHOOK_LISTEN="127.0.0.1",
        FOOTNOTE_WEBHOOK_PORT=str(free_port()),
    )
    fake.fail_next(
        "setWebhook", 400, times=10, description="Bad Request: bad webhook: IP address is reserved"
    )
    done = run_footnote(env)
    assert done.returncode != 0, done.stderr
    last = done.stderr.strip().splitlines()[-1]  # after python-telegram-bot's own (redacted) log
    assert last.startswith("footnote: error: the Telegram Bot API refused to start the bot: Bad webhook")
    assert "SECRETVALUE" not in done.stderr + done.stdout and fake.token not in done.stderr + done.stdout


# -- 8: a rejected token is never printed ------------------------------------------------------------


@pytest.mark.slow  # `footnote bot` processes
def test_a_rejected_token_gives_one_line_without_the_token(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    wrong = "987654:WRONG-SECRET-PART"
    env = {**bot_process_env(fake, tmp_path), "FOOTNOTE_BOT_TOKEN": wrong}  # the fake answers 401
    done = run_footnote(env)
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert "refused FOOTNOTE_BOT_TOKEN" in line
    debug = run_footnote(env, "--debug")
    assert debug.returncode != 0
    for output in (done.stdout, done.stderr, debug.stdout, debug.stderr):
        assert wrong not in output and "WRONG-SECRET-PART" not in output


# -- 7: a failed send does not leave reindexing switched off ----------------------------------------


async def test_a_failed_send_does_not_disable_reindexing(fake: FakeTelegram, app: FootnoteApp) -> None:
    fake.fail_next("sendMessage", 400, description="Bad Request: chat not found")
    fake.push_message("/reindex", user_id=ADMIN)
    await wait(fake, "sendMessage:failed")
    await wait(fake, "sendMessage", text_has("something went wrong"))  # the error handler ran: it is over
    state: BotState = app.bot_data.state
    assert not state.reindexing
    fake.push_message("/reindex", user_id=ADMIN)
    await wait(fake, "sendMessage", text_has("⏳ Reindexing"))
    await wait(fake, "editMessageText", text_has("up to date"))


# -- 11: buttons are rate-limited; one vote per reader per answer -----------------------------------


async def test_buttons_are_rate_limited_per_reader(fake: FakeTelegram, tmp_path: Path, seeds: Path) -> None:
    application = await started(bot_settings(fake, tmp_path, button_rate_limit_per_minute=2))
    try:
        buttons = await asked(fake)
        passage = next(b for b in buttons if b.startswith("p:"))
        for _ in range(3):
            fake.push_callback(passage)
        await wait(fake, "answerCallbackQuery", lambda c: "Too many taps" in str(c.params.get("text")))
        await wait(fake, "sendMessage", text_has("📖"), count=2)  # all three presses are decided now
        assert len([t for t in fake.texts(READER) if t.startswith("📖")]) == 2
        more = next(b for b in buttons if b.startswith("m:"))
        fake.push_callback(more, user_id=7)  # the limit is per reader
        await wait(
            fake, "sendMessage", lambda c: c.params["chat_id"] == 7 and "More sources" in c.params["text"]
        )
    finally:
        await stopped(application)


async def test_feedback_counts_one_vote_per_reader_per_answer(
    fake: FakeTelegram, app: FootnoteApp, tmp_path: Path
) -> None:
    buttons = await asked(fake)
    up = next(b for b in buttons if b.startswith("f:") and b.endswith(":1"))
    down = next(b for b in buttons if b.startswith("f:") and b.endswith(":0"))
    for count, (data, user) in enumerate(
        [(up, READER), (up, READER), (up, READER), (down, READER), (up, 7)], 1
    ):
        fake.push_callback(data, user_id=user)
        await wait(
            fake, "answerCallbackQuery", lambda c: c.params.get("text") == "Thanks for the feedback!", count
        )
    on_disk = (tmp_path / "data" / "feedback.jsonl").read_text().splitlines()
    assert len(on_disk) == 3, "a repeated vote is not written again"
    fake.push_message("/feedback", user_id=ADMIN)
    [document] = await wait(fake, "sendDocument")
    rows = [json.loads(line) for line in document.files["document"].splitlines()]
    assert [(r["user_id"], r["helpful"]) for r in rows] == [(READER, False), (7, True)], "the last vote wins"


# -- 12: the allow-list covers every command and button ---------------------------------------------


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
async def test_the_allow_list_covers_commands_and_buttons(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    application = await started(bot_settings(fake, tmp_path, allowed_ids=[READER]))
    try:
        buttons = await asked(fake)
        for command in ("/start", "/help", "/sources"):
            fake.push_message(command, user_id=STRANGER)
        private = await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == STRANGER, count=3)
        assert all(c.params["text"] == "This bot is private." for c in private)
        for data in (buttons[0], next(b for b in buttons if b.startswith("m:")), "s:1", buttons[-1]):
            fake.push_callback(data, user_id=STRANGER)
        refused = await wait(
            fake, "answerCallbackQuery", lambda c: c.params.get("text") == "This bot is private.", count=4
        )
        assert all(c.params.get("show_alert") for c in refused)
        assert not fake.calls_to("editMessageText")
        assert fake.texts(STRANGER) == ["This bot is private."] * 3, "nothing else reached the stranger"
        assert not (tmp_path / "data" / "feedback.jsonl").exists()

        fake.push_message("/sources", user_id=READER)
        await wait(fake, "sendMessage", text_has("Articles</b> (2)"))
        fake.push_message("/stats", user_id=ADMIN)  # admins are allowed without being listed
        await wait(fake, "sendMessage", text_has("Questions answered"))
    finally:
        await stopped(application)


# -- 13: groups: no uploads, no feedback export ------------------------------------------------------


async def test_group_uploads_are_ignored_and_feedback_is_private(
    fake: FakeTelegram, app: FootnoteApp, seeds: Path
) -> None:
    article = b"---\ntitle: Owls\n---\nOwls hunt mice at night in silent flight.\n"
    update = fake.push_document("owls.md", article, user_id=ADMIN, chat_id=GROUP, chat_type="supergroup")
    await processed(fake, update)
    assert not (seeds / "owls.md").exists() and not fake.calls_to("getFile"), "not downloaded, not saved"
    assert not fake.calls_to("sendMessage"), "and nothing said in the group"

    fake.push_message("/feedback", user_id=ADMIN, chat_id=GROUP, chat_type="supergroup")
    [refusal] = await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == GROUP)
    assert "Only in our private chat" in refusal.params["text"]
    assert not fake.calls_to("sendDocument")

    fake.push_document("owls.md", article, user_id=ADMIN)
    await wait(fake, "sendMessage", text_has("Saved as <code>owls.md</code>"))
    fake.push_message("/feedback", user_id=ADMIN)
    await wait(
        fake, "sendMessage", lambda c: c.params["chat_id"] == ADMIN and c.params["text"] == "No feedback yet."
    )


# -- 14: every message fits ---------------------------------------------------------------------------


async def test_add_results_fit_one_message(fake: FakeTelegram, app: FootnoteApp) -> None:
    urls = [f'ftp://{n}.example/&<>"{"&<>" * 8}' for n in range(85)]
    command = "/add " + " ".join(urls)
    assert len(command) <= 4096, "as long as a Telegram message can be"
    fake.push_message(command, user_id=ADMIN)
    [report] = await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == ADMIN)
    text = report.params["text"]
    assert render.utf16_len(text) <= render.MAX_MESSAGE
    assert "&amp;&lt;&gt;" in text and "more" in text.splitlines()[-1]


# -- 15: loading a new generation never pauses answering; idle rate limits are forgotten ------------


async def test_a_question_is_answered_while_a_new_generation_loads(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    settings = bot_settings(fake, tmp_path, index_check_seconds=3600)
    application = await started(settings)
    state: BotState = application.bot_data.state
    loading, release = threading.Event(), threading.Event()

    class HeldLoad(Pipeline):
        def open_engine(self) -> Engine:
            loading.set()
            assert release.wait(60), "the test never released the load"
            return super().open_engine()

    state.footnote = HeldLoad(settings, state.footnote.embedder, state.footnote.vector_store)
    try:
        (seeds / "bees.md").write_text("---\ntitle: Bees\n---\nUrban bees make honey on rooftops.\n")
        await asyncio.to_thread(Pipeline(settings, HashingEmbedder()).build_index)  # another process
        old = state.engine.generation
        load = asyncio.create_task(state.fresh_engine())
        assert await asyncio.to_thread(loading.wait, 20)
        fake.push_message("When do farmers pick ripe apples?")
        await wait(fake, "sendMessage", text_has("Farmers pick ripe apples"))
        assert not load.done() and state.engine.generation == old, "answered while the load is held"
        release.set()
        assert (await load).generation != old
    finally:
        release.set()
        await stopped(application)


async def test_idle_rate_limit_entries_are_forgotten_periodically(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    settings = bot_settings(fake, tmp_path)
    footnote = Pipeline(settings, SlowPassages())
    footnote.build_index()
    application = build_application(settings, footnote, footnote.open_engine())
    state: BotState = application.bot_data.state
    forgotten = asyncio.Event()
    sweeps = [0]

    class Watched(RateLimiter):
        def forget_idle(self, now: float | None = None) -> None:
            super().forget_idle(now)
            sweeps[0] += 1
            if sweeps[0] >= 2 and not self._events:
                forgotten.set()

    state.rate = Watched(100, window=0.05)
    state.rate.check(READER)
    await application.initialize()
    await on_startup(application)
    await application.start()  # the JobQueue runs the sweep
    try:
        await asyncio.wait_for(forgotten.wait(), 20)
    finally:
        await application.stop()
        await on_stop(application)
        await application.shutdown()


# -- 16: the 📖 button knows which generation answered -----------------------------------------------


async def test_passage_button_after_the_article_changed_says_so(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    settings = bot_settings(fake, tmp_path, index_check_seconds=3600)  # only the button loads generations
    application = await started(settings)
    try:
        passage = next(b for b in await asked(fake) if b.startswith("p:"))
        trains = seeds / "trains.md"
        trains.write_text(trains.read_text() + "\nNight trains sleep in the depot.\n")
        await asyncio.to_thread(Pipeline(settings, HashingEmbedder()).build_index)  # another process
        fake.push_callback(passage)
        [view] = await wait(fake, "sendMessage", text_has("📖"))
        assert "<b>Farmers pick ripe apples in autumn when they turn red.</b>" in view.params["text"], (
            "another article changed: this passage is still right"
        )

        apples = seeds / "apples.md"
        apples.write_text(
            apples.read_text().replace("Apples grow", "Bees visit apple blossom in spring. Apples grow")
        )
        await asyncio.to_thread(Pipeline(settings, HashingEmbedder()).build_index)
        fake.push_callback(passage)
        await wait(fake, "sendMessage", lambda c: "📖" not in c.params["text"], count=2)  # answer, reply
        assert "has changed since I answered" in fake.texts(READER)[-1]
        assert len(fake.calls_to("sendMessage")) == 3, "no passage with the wrong context"
    finally:
        await stopped(application)


# -- 0.2 review (issue 25), 2: a forwarded message is never a command or an upload -------------------

CHANNEL_ORIGIN = {
    "type": "channel",
    "chat": {"id": -100777, "type": "channel", "title": "News"},
    "message_id": 5,
    "date": 1_764_000_000,
}


def listing(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir() if p.is_file()}


def push_forwarded_document(fake: FakeTelegram, name: str, content: bytes, caption: str) -> dict[str, object]:
    file_id = f"file-{len(fake.files) + 1}"
    fake.files[file_id] = content
    document = {"file_id": file_id, "file_unique_id": file_id, "file_name": name, "file_size": len(content)}
    extra = {"document": document, "caption": caption, "forward_origin": CHANNEL_ORIGIN}
    return fake.push_message(None, user_id=ADMIN, extra=extra)


async def test_a_forwarded_command_or_upload_is_never_run_as_the_admins_own(
    fake: FakeTelegram, app: FootnoteApp, seeds: Path
) -> None:
    before = listing(seeds)
    fake.push_message("/remove apples.md", user_id=ADMIN, extra={"forward_origin": CHANNEL_ORIGIN})
    [related] = await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == ADMIN)
    assert "Removed" not in related.params["text"]
    assert (
        "Related in the articles" in related.params["text"]
        or "Nothing in the articles" in related.params["text"]
    )
    update = fake.push_message("/reindex", user_id=ADMIN, extra={"forward_origin": CHANNEL_ORIGIN})
    await processed(fake, update)
    update = push_forwarded_document(fake, "apples.md", b"---\ntitle: Evil\n---\nOverwritten.\n", "replace")
    await processed(fake, update)
    automatic = {"forward_origin": CHANNEL_ORIGIN, "is_automatic_forward": True}
    update = fake.push_message(
        "/remove trains.md", user_id=ADMIN, chat_id=GROUP, chat_type="supergroup", extra=automatic
    )
    await processed(fake, update)
    assert listing(seeds) == before, "nothing removed, added or overwritten"
    assert not fake.calls_to("getFile"), "a forwarded document is not even downloaded"
    texts = " ".join(fake.texts())
    assert "Removed" not in texts and "Saved as" not in texts and "Reindex" not in texts
    assert not [c for c in fake.calls_to("sendMessage") if c.params["chat_id"] == GROUP], "quiet in groups"

    fake.push_message("/remove apples.md", user_id=ADMIN)
    await wait(fake, "sendMessage", text_has("Removed"))
    assert "apples.md" not in listing(seeds), "the admin's own command still works"


# -- 0.2 review (issue 25), 5: anonymous senders are told apart by the chat they send as --------------

ANONYMOUS = 1087968824  # Telegram's one stand-in user for anonymous group admins (and 136817688 for channels)


async def test_anonymous_senders_do_not_share_one_rate_limit_or_conversation(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    application = await started(bot_settings(fake, tmp_path, rate_limit_per_minute=1))
    try:
        as_group = {"sender_chat": {"id": GROUP, "type": "supergroup", "title": "Group"}}
        as_channel = {"sender_chat": {"id": -100999, "type": "channel", "title": "Orchard news"}}
        for extra in (as_group, as_channel):
            fake.push_message(
                "/ask When do farmers pick ripe apples?",
                user_id=ANONYMOUS,
                chat_id=GROUP,
                chat_type="supergroup",
                extra=extra,
            )
        answers = await wait(fake, "sendMessage", text_has("<blockquote"), count=2)
        assert len(answers) == 2, "each sender has a rate limit of its own"
        assert not [t for t in fake.texts(GROUP) if "faster than I can read" in t]
        fake.push_message(
            "/ask Why are trains quiet?",
            user_id=ANONYMOUS,
            chat_id=GROUP,
            chat_type="supergroup",
            extra=as_group,
        )
        [limited] = await wait(fake, "sendMessage", text_has("faster than I can read"))
        assert limited.params["chat_id"] == GROUP, "the same sender again is limited"
    finally:
        await stopped(application)
