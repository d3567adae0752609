"""Channels as a corpus, forwarded posts and forum topics, end to end against the fake Bot API."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from telegram import Chat

from bot.channels import (
    Link,
    article_file,
    listed,
    notice,
    post_doc_id,
    post_url,
    title_of,
    with_links,
)
from bot.state import Batch
from config import Settings
from config.settings import SettingsError, load_settings
from index.sources import corpus
from tests.fake_telegram import FakeTelegram
from tests.helpers import (
    ADMIN,
    SlowPassages,
    bot_settings,
    make_settings,
    processed,
    started,
    stopped,
    text_has,
    wait,
)

POST = (
    "Why the harbour strike ended\n\n"
    "Dockworkers in the northern harbour ended their strike after the city agreed to a new shift plan. "
    "The union said the agreement keeps night shifts short and pays overtime at double rate. "
    "Shipping companies had lost weeks of cargo handling while the cranes stood still on the quay. "
    "Read the full report for the numbers."
)


def channel_settings(fake: FakeTelegram, tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "channels": "Analysts, -1009876543210",
        "channel_min_words": 20,
        "channel_index_seconds": 0,
    }
    values.update(extra)
    return bot_settings(fake, tmp_path, **values)


async def until(condition: object, timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Wait for an explicit state change of the bot under test."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.05)


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
async def test_posts_of_listed_channels_become_articles_and_edits_rewrite_them(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    # An allow-list of readers does not keep out the posts of listed channels (they have no user).
    application = await started(channel_settings(fake, tmp_path, allowed_ids=[1, 5, ADMIN]))
    try:
        unlisted = fake.push_channel_post(
            POST.replace("harbour", "river"), username="strangers", chat_id=-100555
        )
        link = {
            "type": "text_link",
            "offset": POST.index("full report"),
            "length": 11,
            "url": "https://r.org/x",
        }
        fake.push_channel_post(POST, message_id=42, entities=[link])
        fake.push_channel_post("Too short to be an article.", message_id=43)
        [indexed] = await wait(fake, "sendMessage", text_has("Indexed"))
        assert indexed.params["chat_id"] == ADMIN
        assert "1 post from @analysts" in indexed.params["text"]
        saved = seeds / "telegram" / "c1001234567890" / "42.md"
        article = corpus.load(corpus.SourceFile("telegram/c1001234567890/42.md", saved, "h"))
        assert article.title == "Why the harbour strike ended"
        assert article.source == "https://t.me/analysts/42"
        assert article.date == "2025-11-24"
        assert "Read the full report (https://r.org/x) for the numbers." in article.text
        await processed(fake, unlisted)
        assert not (seeds / "telegram" / "c100555").exists(), "an unlisted channel is ignored"
        assert not (seeds / "telegram" / "c1001234567890" / "43.md").exists(), "short posts are not articles"

        fake.push_message("Why did the harbour strike end?")
        [answer] = await wait(fake, "sendMessage", text_has("<blockquote"))
        assert "https://t.me/analysts/42" in answer.params["text"], "the answer cites the post's t.me link"

        fake.push_channel_post(POST.replace("double rate", "triple rate"), message_id=42, edited=True)
        await wait(fake, "sendMessage", text_has("Indexed"), count=2)
        assert "triple rate" in saved.read_text() and "double rate" not in saved.read_text()
        fake.push_message("What rate is overtime paid at in the harbour?", user_id=5)
        [edited] = await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == 5)
        assert "triple rate" in edited.params["text"]

        fake.push_channel_post("Retracted: see the next post.", message_id=42, edited=True)
        await wait(fake, "sendMessage", text_has("Indexed"), count=3)
        assert not saved.exists(), "an edit below the minimum takes the post out of the corpus"

        fake.push_message("/channelnotices off", user_id=ADMIN)
        await wait(fake, "sendMessage", text_has("No more channel messages"))
        fake.push_channel_post(POST, chat_id=-1009876543210, username=None, message_id=7, caption=True)
        private_id = "telegram/c1009876543210/7.md"
        private = seeds / private_id
        state = application.bot_data.state
        await until(lambda: private_id in state.engine.stored.articles and not state.reindexing)
        assert "url: https://t.me/c/9876543210/7" in private.read_text()
        fake.push_message("/remove telegram/c1009876543210/7.md", user_id=ADMIN)
        await wait(fake, "editMessageText", text_has("removed 1"))
        assert len([t for t in fake.texts(ADMIN) if "Indexed" in t]) == 3, "a muted admin hears nothing"
    finally:
        await stopped(application)


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
async def test_posts_arriving_during_a_reindex_wait_and_are_indexed_as_one_batch(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    embedder = SlowPassages()
    application = await started(channel_settings(fake, tmp_path), embedder)
    try:
        embedder.gate = threading.Event()
        fake.push_channel_post(POST, message_id=1)
        state = application.bot_data.state
        await until(lambda: state.reindexing)
        for message_id in (2, 3):
            fake.push_channel_post(
                POST.replace("harbour", f"harbour number {message_id}"), message_id=message_id
            )
        batch = application.bot_data.batch
        await until(lambda: sum(batch.pending.values()) == 2)
        embedder.gate.set()
        notices = await wait(fake, "sendMessage", text_has("Indexed"), count=2)
        assert sorted(n.params["text"] for n in notices) == [
            "📣 Indexed: 1 post from @analysts.",
            "📣 Indexed: 2 posts from @analysts.",
        ], "one message per batch, none per post"
    finally:
        await stopped(application)


async def test_at_most_one_channel_reindex_per_interval_and_shutdown_does_not_wait_for_it(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    application = await started(channel_settings(fake, tmp_path, channel_index_seconds=3600))
    stopped_already = False
    try:
        fake.push_channel_post(POST, message_id=1)
        await wait(fake, "sendMessage", text_has("Indexed"))
        fake.push_channel_post(POST.replace("harbour", "old harbour"), message_id=2)
        batch = application.bot_data.batch
        await until(lambda: batch.pending["@analysts"] == 1)
        assert batch.task is not None and not batch.task.done(), "the second post waits for its interval"
        assert 3500 < batch.delay(time.monotonic()) <= 3600
        await asyncio.wait_for(stopped(application), 30)
        stopped_already = True
        assert (seeds / "telegram" / "c1001234567890" / "2.md").exists(), "saved, for the next reindex"
    finally:
        if not stopped_already:
            await stopped(application)


async def test_hostile_post_text_cannot_break_out_of_the_front_matter(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    application = await started(channel_settings(fake, tmp_path))
    try:
        hostile = (
            '--- &a [x]: {y} "url": https://evil.example ---\x00\x07\n---\nurl: https://evil.example\n---\n'
        )
        fake.push_channel_post(hostile + POST, message_id=99)
        await wait(fake, "sendMessage", text_has("Indexed"))
        saved = seeds / "telegram" / "c1001234567890" / "99.md"
        article = corpus.load(corpus.SourceFile("x.md", saved, "h"))
        assert article.source == "https://t.me/analysts/99"
        assert article.title == '--- &a [x]: {y} "url": https://evil.example ---'
        assert "\x00" not in saved.read_text()
    finally:
        await stopped(application)


async def test_a_forwarded_post_gets_related_passages_not_an_answer(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    application = await started(bot_settings(fake, tmp_path))
    try:
        origin = {
            "type": "channel",
            "chat": {"id": -100777, "type": "channel", "title": "News"},
            "message_id": 5,
            "date": 1_764_000_000,
        }
        fake.push_message(
            "Farmers in the valley pick ripe apples in autumn, and cider follows in winter.",
            extra={"forward_origin": origin},
        )
        [related] = await wait(fake, "sendMessage", text_has("Related in the articles"))
        assert "<blockquote>" in related.params["text"] and "Apples" in related.params["text"]
        assert "From the articles" not in related.params["text"]
        fake.push_message(
            "zebra quantum saxophone", extra={"forward_origin": origin}, user_id=4, language="ru"
        )
        [nothing] = await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == 4)
        assert "В статьях нет ничего близкого" in nothing.params["text"]
    finally:
        await stopped(application)


async def test_buttons_under_an_answer_in_a_forum_topic_reply_in_that_topic(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    application = await started(bot_settings(fake, tmp_path))
    group = -100500
    try:
        fake.push_message(
            "/ask When do farmers pick ripe apples?", chat_id=group, chat_type="supergroup", thread_id=77
        )
        [answer] = await wait(fake, "sendMessage", text_has("<blockquote"))
        assert answer.params["message_thread_id"] == 77
        keyboard = answer.params["reply_markup"]["inline_keyboard"]
        buttons = [b["callback_data"] for row in keyboard for b in row]
        answer_id = answer.result["message_id"]
        fake.push_callback(
            buttons[0], chat_id=group, chat_type="supergroup", thread_id=77, message_id=answer_id
        )
        [passage] = await wait(fake, "sendMessage", text_has("📖"))
        more = next(b for b in buttons if b.startswith("m:"))
        fake.push_callback(more, chat_id=group, chat_type="supergroup", thread_id=77, message_id=answer_id)
        [sources] = await wait(fake, "sendMessage", text_has("More sources</b>"))
        for sent in (passage, sources):
            assert sent.params["chat_id"] == group
            assert sent.params["message_thread_id"] == 77, "in the answer's topic, not in General"
            assert sent.params["reply_parameters"]["message_id"] == answer_id, "as a reply to the answer"
    finally:
        await stopped(application)


# -- the pure parts ----------------------------------------------------------------------------------


def test_channels_setting_accepts_names_ids_and_rejects_junk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOOTNOTE_CHANNELS", "@Analysts, -1001234567890 news_room")
    monkeypatch.setenv("FOOTNOTE_CHANNEL_MIN_WORDS", "120")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.channels == ["analysts", "-1001234567890", "news_room"]
    assert settings.channel_min_words == 120 and settings.channel_index_seconds == 60
    assert make_settings(channels="-1001234567890").channels == ["-1001234567890"]
    monkeypatch.delenv("FOOTNOTE_CHANNELS")
    monkeypatch.delenv("FOOTNOTE_CHANNEL_MIN_WORDS")
    assert make_settings().channels == [] and make_settings().channel_min_words == 80
    with pytest.raises(SettingsError, match="FOOTNOTE_CHANNELS"):
        load_settings(_env_file=None, channels="analysts, ../etc")


def test_channel_matching_and_links() -> None:
    public = Chat(-1001, "channel", username="Analysts")
    private = Chat(-1009876543210, "channel", title="Closed")
    assert listed(public, ["analysts"]) and not listed(public, ["other"])
    assert listed(private, ["-1009876543210"]) and listed(private, ["9876543210"])
    assert post_url(public, 5) == "https://t.me/Analysts/5"
    assert post_url(private, 5) == "https://t.me/c/9876543210/5"


def test_a_username_is_a_claim_the_first_chat_seen_keeps() -> None:
    known: dict[str, int] = {}
    assert listed(Chat(-1001, "channel", username="Analysts"), ["analysts"], known)
    assert known == {"analysts": -1001}
    impostor = Chat(-1002, "channel", username="analysts")
    assert not listed(impostor, ["analysts"], known), "another chat taking the name later is refused"
    assert listed(Chat(-1001, "channel", username="renamed"), ["analysts"], known), "a rename keeps it"
    assert post_doc_id(Chat(-1001, "channel", username="renamed"), 3) == "telegram/c1001/3.md"


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
async def test_one_listed_channel_cannot_overwrite_or_delete_anothers_posts(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    """Issue 25: channel B (listed by id) renames itself to `c<A's id>`: its posts land in its own folder."""
    a_id, b_id = -1001234567890, -1009876543210
    application = await started(channel_settings(fake, tmp_path))
    try:
        fake.push_channel_post(POST, message_id=42)
        await wait(fake, "sendMessage", text_has("Indexed"))
        a_post = seeds / "telegram" / "c1001234567890" / "42.md"
        original = a_post.read_text()
        squatter = f"c{abs(a_id)}"
        fake.push_channel_post(
            POST.replace("harbour", "airport"), chat_id=b_id, username=squatter, message_id=42
        )
        await wait(fake, "sendMessage", text_has("Indexed"), count=2)
        fake.push_channel_post("Short.", chat_id=b_id, username=squatter, message_id=42, edited=True)
        await wait(fake, "sendMessage", text_has("Indexed"), count=3)
        assert a_post.read_text() == original, "A's post is untouched by B's post and B's short edit"
        assert not (seeds / "telegram" / "c1009876543210" / "42.md").exists(), "B's own post, edited away"

        fake.push_channel_post(POST.replace("harbour", "river"), username="impostor_analysts", message_id=50)
        fake.push_channel_post(POST, chat_id=-100555, username="analysts", message_id=42, edited=True)
        await wait(fake, "sendMessage", text_has("Indexed"), count=4)
        assert a_post.read_text() == original, "a chat that takes A's listed username later is refused"
        assert (seeds / "telegram" / "c1001234567890" / "50.md").exists(), "A renamed: same folder"
        assert (
            "https://t.me/impostor_analysts/50"
            in (seeds / "telegram" / "c1001234567890" / "50.md").read_text()
        )
    finally:
        await stopped(application)


def test_links_are_kept_as_text_at_utf16_offsets() -> None:
    text = "🙂 See the report now"
    offset = len("🙂 See the ".encode("utf-16-le")) // 2
    assert with_links(text, [Link(offset, 6, "https://r.org")]) == "🙂 See the report (https://r.org) now"


def test_front_matter_is_yaml_safe() -> None:
    title = title_of("\n\n# title: x\n---\nbody")
    data = article_file("body", title + ' "\n---\nurl: evil', "https://t.me/a/1", "2026-01-01", "A: B")
    header = data.decode().split("---\n")[1]
    assert yaml.safe_load(header)["url"] == "https://t.me/a/1"


def test_batch_allows_one_reindex_per_interval() -> None:
    batch = Batch(60)
    assert batch.delay(0.0) == 0.0
    batch.pending["@a"] += 3
    assert batch.take(100.0) == Counter({"@a": 3}) and not batch.pending
    assert batch.delay(130.0) == 30.0 and batch.delay(170.0) == 0.0
    assert notice(Counter({"@b": 1, "@a": 3})) == "📣 Indexed: 3 posts from @a, 1 post from @b."
