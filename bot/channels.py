"""Channels as a live corpus: posts of the channels in FOOTNOTE_CHANNELS become articles.

A `channel_post` (or `edited_channel_post`) of at least FOOTNOTE_CHANNEL_MIN_WORDS words is written to
`<seeds>/telegram/c<chat id>/<message_id>.md` with YAML front matter (title = its first line, url = its
t.me link, date); an edit rewrites the same file, and an edit that leaves the post too short removes it.
Post text is untrusted: the file name is built from ids only, the text is size-capped and stripped of
control characters, the front matter is written by a YAML dumper and the file is checked to load before
it replaces anything. Folders are keyed by the chat id; a channel listed by username has its id recorded
the first time it posts (`channel-ids.json` beside the index), and another chat that later takes that
username is refused. Telegram does not report deleted posts; `/remove telegram/<channel>/<id>.md` does.

Written posts are indexed in batches: at most one channel reindex per FOOTNOTE_CHANNEL_INDEX_SECONDS,
never while another reindex (an admin's /reindex, a feed sync) runs - they share `BotState.reindexing`.
After each batch every admin who has not muted them (/channelnotices off) gets one short message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path

import yaml
from telegram import Chat, Message, Update
from telegram.constants import MessageEntityType, ParseMode

from bot import messages
from bot.admin import admin_gate
from bot.handlers import reply
from bot.state import BotState, Context, FootnoteApp
from index.errors import CorpusError, IndexBusyError
from index.sources import corpus

log = logging.getLogger(__name__)

FOLDER = "telegram"
_BUSY_RETRY = 1.0  # seconds between looks at a reindex that is still running
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_MAX_TITLE = 200


@dataclass(frozen=True, slots=True)
class Link:
    """A text link inside a post: where it is (UTF-16 units, as Telegram counts) and where it points."""

    offset: int
    length: int
    url: str


@dataclass(frozen=True, slots=True)
class Post:
    """What a channel post becomes: its file in the seeds folder and that file's content."""

    doc_id: str
    data: bytes


def listed(chat: Chat, channels: Iterable[str], known: dict[str, int] | None = None) -> bool:
    """Whether a channel's posts are taken: listed in FOOTNOTE_CHANNELS by id (with or without the -100
    prefix), or by a username whose chat id is `known`. A username is only a claim: usernames change hands
    ("c1001234567890" is a valid one), so the first chat seen under a listed username is recorded in `known`
    and a different chat later claiming it is refused (logged). A recorded channel that renames itself
    is still taken."""
    names = set(channels)
    if names & {str(chat.id), str(chat.id).removeprefix("-100")}:
        return True
    known = {} if known is None else known
    username = (chat.username or "").lower()
    if username in names:
        recorded = known.setdefault(username, chat.id)
        if recorded == chat.id:
            return True
        log.warning(
            "channel @%s is chat %s, but that username was first seen as chat %s: its posts are ignored",
            username,
            chat.id,
            recorded,
        )
        return False
    return any(known.get(name) == chat.id for name in names)


_REGISTRY_LOCK = threading.Lock()  # posts are handled concurrently: one look-and-record at a time


def admit(chat: Chat, channels: Iterable[str], data_dir: Path, seeds_dir: Path) -> bool:
    """`listed`, with the ids recorded in `data_dir/channel-ids.json`; a newly recorded channel adopts its
    0.2 username folder."""
    path = data_dir / "channel-ids.json"
    with _REGISTRY_LOCK:
        known = known_channels(path)
        recorded = dict(known)
        taken = listed(chat, channels, known)
        if known != recorded:
            record_channels(path, known)
            adopt_username_folder(seeds_dir, chat)
    return taken


def known_channels(path: Path) -> dict[str, int]:
    """The chat id recorded for each channel listed by username (empty when none is yet)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(name): int(chat_id) for name, chat_id in data.get("channels", {}).items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("%s unreadable, channel ids are recorded anew: %s", path.name, exc)
        return {}


def record_channels(path: Path, known: dict[str, int]) -> None:
    """Write the recorded channel ids atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    temporary.write_text(json.dumps({"channels": known}, sort_keys=True), encoding="utf-8")
    temporary.replace(path)


def label(chat: Chat) -> str:
    """How admins see a channel: @username, or its title."""
    return f"@{chat.username}" if chat.username else (corpus.shown_text(chat.title or "") or str(chat.id))


def post_url(chat: Chat, message_id: int) -> str:
    """The post's t.me link (`t.me/c/<id>/<n>` for a channel without a username)."""
    if chat.username:
        return f"https://t.me/{chat.username}/{message_id}"
    return f"https://t.me/c/{str(chat.id).removeprefix('-100').lstrip('-')}/{message_id}"


def channel_folder(chat: Chat) -> str:
    """A channel's folder under `telegram/`: `c<id>`, from the chat id, which never changes or passes to
    another channel (a username does both)."""
    return f"c{abs(int(chat.id))}"


def post_doc_id(chat: Chat, message_id: int) -> str:
    """`telegram/c<chat id>/<message_id>.md`, built from Telegram's ids only."""
    return f"{FOLDER}/{channel_folder(chat)}/{int(message_id)}.md"


def adopt_username_folder(seeds_dir: Path, chat: Chat) -> bool:
    """Footnote 0.2 named a channel's folder by its username: move it to the id's folder, once, when that
    username is first recorded for this chat (so its posts are not indexed twice)."""
    if not chat.username:
        return False
    old = seeds_dir / FOLDER / corpus.safe_file_name(chat.username.lower())
    new = seeds_dir / FOLDER / channel_folder(chat)
    if not old.is_dir() or new.exists() or old == new:
        return False
    old.rename(new)
    log.info("channel @%s: its posts moved from %s to %s", chat.username, old.name, new.name)
    return True


def with_links(text: str, links: Iterable[Link]) -> str:
    """Post text with each text link's URL written after its words: 'report (https://…)'."""
    encoded = text.encode("utf-16-le")
    for item in sorted(links, key=lambda link: link.offset + link.length, reverse=True):
        end = 2 * (item.offset + item.length)
        if 0 < end <= len(encoded):
            encoded = encoded[:end] + f" ({item.url})".encode("utf-16-le") + encoded[end:]
    return encoded.decode("utf-16-le", errors="replace")


def clean(text: str, max_bytes: int) -> str:
    """Untrusted post text made safe to store: no control characters, Unix line ends, size-capped."""
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    data = text.encode()
    if len(data) > max_bytes:
        text = data[:max_bytes].decode(errors="ignore")
    return text


def title_of(text: str) -> str:
    """The post's first non-empty line (markdown '#' dropped), at most 200 characters."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line if len(line) <= _MAX_TITLE else line[: _MAX_TITLE - 1].rstrip() + "…"
    return ""


def article_file(text: str, title: str, url: str, date: str, author: str | None) -> bytes:
    """The article file for a post: YAML front matter written by the safe dumper, then the text. Each
    value is folded onto one line: a quoted scalar spanning lines could hold a '---' that ends the block."""
    meta = {"title": title, "url": url, "date": date}
    if author:
        meta["author"] = author
    meta = {key: " ".join(_CONTROL.sub(" ", value).split()) for key, value in meta.items()}
    header = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1_000_000)
    return f"---\n{header}---\n{text}\n".encode()


def post_of(message: Message, max_bytes: int) -> tuple[str, Post]:
    """(the post's plain text, its article file) for a channel post."""
    raw = message.text or message.caption or ""
    entities = message.entities if message.text else message.caption_entities
    links = [
        Link(e.offset, e.length, e.url) for e in entities if e.type == MessageEntityType.TEXT_LINK and e.url
    ]
    text = clean(with_links(raw, links), max_bytes)
    doc_id = post_doc_id(message.chat, message.message_id)
    data = article_file(
        text,
        title_of(text) or doc_id,
        post_url(message.chat, message.message_id),
        _date(message.date),
        message.chat.title,
    )
    return text, Post(doc_id, data)


def _date(moment: datetime) -> str:
    return moment.date().isoformat()


def save(seeds_dir: Path, post: Post) -> bool:
    """Write (or rewrite) a post's article; False when the file already holds exactly this. Raises
    CorpusError when the file would not load."""
    target = seeds_dir / post.doc_id
    target.parent.mkdir(parents=True, exist_ok=True)
    return not corpus.add_file(target.parent, target.name, post.data, replace=True).unchanged


# -- batching ----------------------------------------------------------------------------------------


async def on_channel_post(update: Update, context: Context) -> None:
    """A new or edited post of a listed channel: save it as an article and schedule a batched reindex."""
    message = update.channel_post or update.edited_channel_post
    if message is None:
        return
    settings = context.bot_data.state.footnote.settings
    seeds = settings.seeds_dir
    taken = await asyncio.to_thread(admit, message.chat, settings.channels, settings.data_dir, seeds)
    if not taken:
        log.debug("ignoring a post of unlisted channel %s", message.chat.id)
        return
    text, post = post_of(message, settings.max_upload_bytes)
    try:
        if len(text.split()) < settings.channel_min_words:
            changed = update.edited_channel_post is not None and await asyncio.to_thread(
                corpus.remove_file, seeds, post.doc_id
            )
        else:
            changed = await asyncio.to_thread(save, seeds, post)
    except (CorpusError, OSError) as exc:
        log.warning("channel post %s not saved: %s", post.doc_id, exc)
        return
    if changed:
        batch = context.bot_data.batch
        batch.pending[label(message.chat)] += 1
        if batch.task is None or batch.task.done():
            batch.task = asyncio.create_task(index_batch(context.application))


async def index_batch(application: FootnoteApp) -> None:
    """Wait out the interval and any running reindex, then index what was saved and tell the admins."""
    state, batch = application.bot_data.state, application.bot_data.batch
    await asyncio.sleep(batch.delay(time.monotonic()))
    while state.reindexing:  # noqa: ASYNC110 - a plain flag, shared with /reindex and the feed sync
        await asyncio.sleep(_BUSY_RETRY)
    state.reindexing = True
    taken = batch.take(time.monotonic())
    batch.running, batch.task = batch.task, None  # posts saved from now on start the next batch
    failure = None
    try:
        report = await asyncio.to_thread(functools.partial(state.footnote.build_index, wait=False))
        if report.wrote:
            state.serve(await asyncio.to_thread(state.footnote.open_engine))
    except IndexBusyError:
        log.info("another process holds the index; channel posts wait for the next round")
        batch.pending.update(taken)
        taken = Counter()
    except Exception as exc:
        log.exception("indexing channel posts failed")
        failure = type(exc).__name__
    finally:
        state.reindexing = False
    if batch.pending and (batch.task is None or batch.task.done()):
        batch.task = asyncio.create_task(index_batch(application))
    if failure:
        await notify(application, messages.CHANNEL_INDEX_FAILED.format(reason=escape(failure)))
    elif taken:
        await notify(application, notice(taken))


async def stop_batches(application: FootnoteApp) -> None:
    """At shutdown, let a running batch finish but stop waiting for the next one (its posts are saved;
    the next reindex takes them)."""
    batch = application.bot_data.batch
    if batch.task is not None:
        batch.task.cancel()
    for task in (batch.task, batch.running):
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def notice(taken: Counter[str]) -> str:
    """'📣 Indexed: 3 posts from @channel.' for one batch."""
    parts = [
        messages.CHANNEL_POSTS.format(count=count, plural=messages.plural(count), channel=escape(name))
        for name, count in sorted(taken.items())
    ]
    return messages.CHANNEL_INDEXED.format(batches=", ".join(parts))


# -- admins' notices ---------------------------------------------------------------------------------


def _muted_path(state: BotState) -> Path:
    return state.footnote.settings.data_dir / "channel-notices.json"


def muted(state: BotState) -> set[int]:
    """Admins who turned channel messages off (kept beside the index, shared by replicas)."""
    try:
        data = json.loads(_muted_path(state).read_text(encoding="utf-8"))
        return {int(admin) for admin in data.get("muted", [])}
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("channel-notices.json unreadable, nobody muted: %s", exc)
        return set()


def set_muted(state: BotState, admin_id: int, *, mute: bool) -> None:
    """Mute or unmute one admin's channel messages."""
    ids = muted(state)
    (ids.add if mute else ids.discard)(admin_id)
    path = _muted_path(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps({"muted": sorted(ids)}), encoding="utf-8")
    temporary.replace(path)


async def notify(application: FootnoteApp, text: str) -> None:
    """One message to every admin who has not muted channel messages (private chats: no topic applies)."""
    state = application.bot_data.state
    if not state.footnote.settings.channel_notices:
        return
    silent = await asyncio.to_thread(muted, state)
    for admin in state.footnote.settings.admin_ids:
        if admin in silent:
            continue
        try:
            await application.bot.send_message(admin, text, parse_mode=ParseMode.HTML)
        except Exception:
            log.warning("could not tell admin %s about indexed channel posts", admin, exc_info=True)


async def on_channel_notices(update: Update, context: Context) -> None:
    """/channelnotices on|off (admins): the message after each indexed batch of channel posts."""
    message = update.effective_message
    if message is None or update.effective_user is None or not await admin_gate(update, context):
        return
    state = context.bot_data.state
    if not state.footnote.settings.channel_notices:
        await reply(message, messages.CHANNEL_NOTICES_DISABLED)
        return
    choice = " ".join(context.args or []).strip().lower()
    admin = update.effective_user.id
    if choice not in {"on", "off"}:
        now = "off" if admin in await asyncio.to_thread(muted, state) else "on"
        await reply(message, messages.CHANNEL_NOTICES_USAGE.format(now=now))
        return
    await asyncio.to_thread(functools.partial(set_muted, mute=choice == "off"), state, admin)
    await reply(message, messages.CHANNEL_NOTICES_OFF if choice == "off" else messages.CHANNEL_NOTICES_ON)
