"""Watches in Telegram: /watch, /watches, /unwatch and their buttons, and the notices sent when a new index
generation answers a reader's watch. The matching and the files are in index/query/watches.py.

Every new generation the bot starts serving (a reindex, a batch of channel posts, a feed sync, /add, or a
generation another process made current) is checked once, off the event loop, against the new and changed
articles only; the notices go through the outbox: claimed, sent, and removed as soon as Telegram accepts
each. Every minute, and at start-up, the bot also checks the generation it serves if no round has, and sends
what the outbox still holds (what a crash left unsent, notices held back by the per-reader limit).

Notices go through the same AIORateLimiter as answers, and at most FOOTNOTE_RATE_LIMIT_PER_MINUTE a minute
to one reader. A reader who blocked the bot (403) loses their watches; one the allow-list no longer admits
is sent nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

import httpx
from telegram import InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot import callbacks, messages, render
from bot.handlers import reply, texts_of
from bot.state import Asked, BotState, Context, FootnoteApp, RateLimiter, Watching
from index.errors import FootnoteError, WatchLimitError
from index.pipeline import Pipeline
from index.query.answer import single_line
from index.query.engine import Engine, clean_question
from index.query.watches import TELEGRAM, Checked, Notice, Watch, WatchStore, telegram_owner
from index.storage.store import Manifest
from index.types import Answer

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0  # between looks at the served generation and the outbox


def setup(application: FootnoteApp, footnote: Pipeline) -> None:
    """Keep the watches' state in the application and check each new generation the bot serves."""
    application.bot_data.watching = Watching(
        footnote.watch_store(), RateLimiter(footnote.settings.rate_limit_per_minute)
    )
    application.bot_data.state.on_new_generation = functools.partial(after_new_generation, application)


# -- commands and buttons ----------------------------------------------------------------------------


async def _private_asker(update: Update) -> tuple[Message, User, messages.Texts] | None:
    """The message, its sender and their texts, for a watch command; None (after saying so in a group)
    when it is not in a private chat."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return None
    texts = texts_of(update)
    if message.chat.type != ChatType.PRIVATE:
        await reply(message, texts.private_only)
        return None
    return message, user, texts


async def on_watch(update: Update, context: Context) -> None:
    """/watch QUESTION (private chats): tell the reader, with the quotes, when a new article answers it."""
    asker = await _private_asker(update)
    if asker is None:
        return
    message, user, texts = asker
    state = context.bot_data.state
    question = clean_question(" ".join(context.args or []), state.footnote.settings.max_question_chars)
    if not question:
        await reply(message, texts.watch_usage)
        return
    allowed, notice = state.rate.check(user.id)  # a watch costs a question's embedding
    if not allowed:
        if notice:
            await reply(message, texts.rate_limited)
        return
    engine = await state.fresh_engine()
    watching = context.bot_data.watching
    add = functools.partial(
        watching.store.add,
        telegram_owner(user.id),
        question,
        chat_id=message.chat_id,
        language=user.language_code,
        embedder=engine.embedder,
        baseline=Checked.of(engine.generation, engine.stored.manifest),
    )
    try:
        watch, added = await asyncio.to_thread(add)
    except WatchLimitError:
        await reply(message, texts.watch_limit.format(limit=watching.store.per_owner))
        return
    template = texts.watch_added if added else texts.watch_exists
    await reply(message, template.format(question=render.clip_end(watch.question, 500)))


async def on_watches(update: Update, context: Context) -> None:
    """/watches (private chats): the reader's watches, with a button to remove each."""
    asker = await _private_asker(update)
    if asker is None:
        return
    message, user, texts = asker
    rendered = await asyncio.to_thread(_listing, context.bot_data.watching, user.id, texts)
    await reply(message, rendered.texts[0], reply_markup=rendered.keyboard)


async def on_unwatch(update: Update, context: Context) -> None:
    """/unwatch N (private chats): remove the reader's N-th watch; without N, the list with its buttons."""
    asker = await _private_asker(update)
    if asker is None:
        return
    message, user, texts = asker
    argument = " ".join(context.args or []).strip()
    if not argument:
        await on_watches(update, context)
        return
    watching = context.bot_data.watching
    owner = telegram_owner(user.id)
    mine = await asyncio.to_thread(watching.store.watches, owner)
    if not argument.isdigit() or not 1 <= int(argument) <= len(mine):
        await reply(message, texts.unwatch_usage)
        return
    gone = await asyncio.to_thread(watching.store.remove, owner, mine[int(argument) - 1].id)
    if gone is None:
        await reply(message, texts.watch_gone)
        return
    await reply(message, texts.watch_removed.format(question=render.clip_end(gone.question, 500)))


async def on_unwatch_button(update: Update, context: Context) -> None:
    """🗑 in the /watches list (the list is shown again without the watch) and 🔕 under a notice (the
    passage buttons stay)."""
    query = update.callback_query
    if query is None or query.data is None or not isinstance(query.message, Message):
        return
    texts = texts_of(update)
    button = callbacks.parse(query.data)
    if button is None or button.kind != callbacks.UNWATCH:
        await query.answer(texts.expired, show_alert=True)
        return
    state = context.bot_data.state
    if not state.button_rate.check(query.from_user.id)[0]:
        await query.answer(texts.buttons_too_fast)
        return
    watching = context.bot_data.watching
    gone = await asyncio.to_thread(
        watching.store.remove, telegram_owner(query.from_user.id), int(button.answer_id)
    )
    await query.answer(texts.watch_stopped if gone else texts.watch_gone)
    if button.number == 1:
        rendered = await asyncio.to_thread(_listing, watching, query.from_user.id, texts)
        await query.edit_message_text(
            rendered.texts[0], parse_mode=ParseMode.HTML, reply_markup=rendered.keyboard
        )
        return
    markup = query.message.reply_markup
    if markup is not None:
        rows = [
            [b for b in row if not str(b.callback_data or "").startswith(f"{callbacks.UNWATCH}:")]
            for row in markup.inline_keyboard
        ]
        await query.edit_message_reply_markup(InlineKeyboardMarkup([row for row in rows if row]))


def _listing(watching: Watching, user_id: int, texts: messages.Texts) -> render.Rendered:
    mine = watching.store.watches(telegram_owner(user_id))
    return render.watch_list([(w.id, w.question) for w in mine], watching.store.per_owner, texts)


# -- rounds and notices ------------------------------------------------------------------------------


def after_new_generation(application: FootnoteApp, previous: Manifest, engine: Engine) -> None:
    """A new generation is served: check the watches against what it brought and send the notices, in the
    background (questions keep being answered meanwhile)."""
    log.debug("checking watches against %s", engine.generation)
    application.create_task(sweep(application, previous), update=None)


async def sweep(application: FootnoteApp, previous: Manifest | None = None) -> None:
    """Check the served generation against the readers' watches unless this bot did already (`previous`:
    the generation served before, when no check was ever recorded), then send what the outbox holds."""
    state, watching = application.bot_data.state, application.bot_data.watching
    async with watching.lock:
        engine = state.engine
        if watching.checked != engine.generation and await asyncio.to_thread(lambda: watching.store.exists):
            allowed = functools.partial(_watch_allowed, state)
            check = functools.partial(watching.store.check, engine, TELEGRAM, previous, allowed=allowed)
            try:
                report = await asyncio.to_thread(check)
            except FootnoteError as exc:
                log.error("watches not checked against %s: %s", engine.generation, exc)
            else:
                watching.checked = engine.generation
                if report.watches:
                    log.info(
                        "watches: %d checked against %d new articles (%d chunks) of %s: %d near, %d read, "
                        "%d notices; %s",
                        report.watches,
                        len(report.new_articles),
                        report.new_chunks,
                        report.generation,
                        report.near,
                        report.read,
                        len(report.notices),
                        ", ".join(f"{k} {v:.0f} ms" for k, v in report.timings_ms.items()),
                    )
        try:
            await deliver(application)
        except FootnoteError as exc:
            log.error("watch notices not sent: %s", exc)
        watching.rate.forget_idle()


async def deliver(application: FootnoteApp) -> int:
    """Send the notices the outbox holds for Telegram readers; returns how many Telegram accepted."""
    state, watching = application.bot_data.state, application.bot_data.watching
    store = watching.store
    if watching.sender is None:
        if not await asyncio.to_thread(lambda: bool(store.pending(TELEGRAM))):
            return 0
        watching.sender = await asyncio.to_thread(store.sender)
    notices = await asyncio.to_thread(store.claim, TELEGRAM, watching.sender.token)
    sent = 0
    for notice in notices:
        user_id = _user_of(notice.owner)
        if user_id is None or notice.chat_id is None or not _user_allowed(state, user_id):
            await asyncio.to_thread(store.delivered, notice.id)  # nobody left to tell
            continue
        if not watching.rate.check(user_id)[0]:
            continue  # held back for this reader's limit: the next sweep sends it
        if await _send(application, state, store, notice, user_id, notice.chat_id):
            sent += 1
    return sent


async def _send(
    application: FootnoteApp, state: BotState, store: WatchStore, notice: Notice, user_id: int, chat_id: int
) -> bool:
    texts = messages.texts_for(notice.language)
    text = " ".join(f"{single_line(q.text)} [{q.n}]" for q in notice.quotes)
    answer = Answer(question=notice.question, abstained=False, text=text, quotes=notice.quotes, passages=())
    asked = Asked(answer, user_id, chat_id, notice.generation)
    answer_id = await asyncio.to_thread(state.memory.keep_answer, asked)  # for the 📖 buttons
    rendered = render.watch_notice(notice.question, notice.quotes, answer_id, notice.watch_id, texts)
    try:
        await application.bot.send_message(
            chat_id,
            rendered.texts[0],
            parse_mode=ParseMode.HTML,
            reply_markup=rendered.keyboard,
            disable_web_page_preview=True,
        )
    except Forbidden:
        dropped = await asyncio.to_thread(store.drop_owner, notice.owner)
        log.info("reader %s blocked the bot: their %d watches are dropped", user_id, dropped)
        return False
    except TimedOut as exc:
        if isinstance(exc.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout):
            log.warning("watch notice %s not sent yet (%s); it is tried again", notice.id, exc)
            return False
        # Telegram may have delivered it: a notice twice is worse than one lost (bot/transport.py).
        log.warning("watch notice %s timed out; not sent again", notice.id)
        await asyncio.to_thread(store.delivered, notice.id)
        return False
    except (RetryAfter, NetworkError) as exc:
        if isinstance(exc, BadRequest):
            dropped = await asyncio.to_thread(store.failed, notice.id)
            log.warning(
                "Telegram refused watch notice %s (%s)%s", notice.id, exc, "; dropped" if dropped else ""
            )
        else:
            log.warning("watch notice %s not sent yet (%s); it is tried again", notice.id, exc)
        return False
    except TelegramError as exc:
        dropped = await asyncio.to_thread(store.failed, notice.id)
        log.warning("Telegram refused watch notice %s (%s)%s", notice.id, exc, "; dropped" if dropped else "")
        return False
    await asyncio.to_thread(store.delivered, notice.id)
    return True


def _user_of(owner: str) -> int | None:
    audience, _, user = owner.partition(":")
    return int(user) if audience == TELEGRAM and user.lstrip("-").isdigit() else None


def _user_allowed(state: BotState, user_id: int) -> bool:
    """The allow-list (FOOTNOTE_ALLOWED_IDS; empty: everyone), which admins are always on."""
    settings = state.footnote.settings
    return not settings.allowed_ids or user_id in settings.allowed_ids or user_id in settings.admin_ids


def _watch_allowed(state: BotState, watch: Watch) -> bool:
    user_id = _user_of(watch.owner)
    return user_id is not None and _user_allowed(state, user_id)


async def close(application: FootnoteApp) -> None:
    """At shutdown: give up this process's claim on the outbox (what it left unsent goes to the next)."""
    watching = application.bot_data.watching
    if watching.sender is not None:
        async with watching.lock:
            with contextlib.suppress(OSError):
                watching.sender.close()
            watching.sender = None
