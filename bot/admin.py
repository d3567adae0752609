"""The admins' commands (FOOTNOTE_ADMIN_IDS): /reindex, uploads, /add, /remove, /stats, /feedback, and the
scheduled feed sync. Each checks the sender on every call; the reader's side is in handlers.py."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from html import escape

from telegram import Message, Update
from telegram.constants import ChatType, ParseMode

from bot import messages, render
from bot.handlers import is_admin, reply, texts_of
from bot.state import Context, FootnoteApp
from index.errors import CorpusError, IndexBusyError
from index.ingest.indexing import IndexReport
from index.sources import corpus, fetch
from index.sources.feeds import SyncReport

log = logging.getLogger(__name__)

_PROGRESS_EVERY = 1.5  # seconds between edits of the reindex progress message


async def admin_gate(update: Update, context: Context) -> bool:
    """True for admins; anyone else is told 'admins only' and nothing happens."""
    if is_admin(context, update):
        return True
    if update.effective_message is not None:
        await reply(update.effective_message, messages.ADMINS_ONLY)
    elif update.callback_query is not None:
        await update.callback_query.answer(messages.ADMINS_ONLY, show_alert=True)
    return False


async def on_reindex(update: Update, context: Context) -> None:
    """/reindex (admins): rebuild in the background, editing one progress message."""
    if await admin_gate(update, context) and update.effective_message is not None:
        await start_reindex(update.effective_message, context)


async def start_reindex(message: Message, context: Context, prefix: str = "") -> None:
    """Start a background reindex unless one is running; old answers keep flowing meanwhile."""
    state = context.bot_data.state
    if state.reindexing:
        await reply(message, prefix + messages.REINDEX_RUNNING)
        return
    state.reindexing = True
    started = False
    try:
        progress_message = await reply(message, prefix + messages.REINDEX_STARTED)
        context.application.create_task(_reindex(progress_message, context, prefix), update=None)
        started = True  # from here on the task clears the flag when it ends
    finally:
        if not started:
            state.reindexing = False


async def _reindex(progress_message: Message, context: Context, prefix: str) -> None:
    state = context.bot_data.state
    loop = asyncio.get_running_loop()
    last_edit = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last_edit[0] >= _PROGRESS_EVERY and done < total:
            last_edit[0] = now
            text = prefix + messages.REINDEX_PROGRESS.format(done=done, total=total)
            asyncio.run_coroutine_threadsafe(_edit(progress_message, text), loop)

    try:
        report: IndexReport = await asyncio.to_thread(
            functools.partial(state.footnote.build_index, progress=progress, wait=False)
        )
        if report.wrote:
            state.serve(await asyncio.to_thread(state.footnote.open_engine))
            text = messages.REINDEX_DONE.format(summary=escape(report.summary()))
        else:
            text = messages.REINDEX_UP_TO_DATE.format(summary=escape(report.summary()))
        await _edit(progress_message, render.reindex_report(prefix, text, [str(p) for p in report.problems]))
    except IndexBusyError:
        await _edit(progress_message, prefix + messages.REINDEX_BUSY)
    except Exception as exc:
        log.exception("reindex failed")
        await _edit(
            progress_message, prefix + messages.REINDEX_FAILED.format(reason=escape(type(exc).__name__))
        )
    finally:
        state.reindexing = False


async def _edit(message: Message, text: str) -> None:
    try:
        await message.edit_text(text, parse_mode=ParseMode.HTML)
    except Exception:
        log.warning("could not edit the progress message", exc_info=True)


async def on_document(update: Update, context: Context) -> None:
    """A document from an admin becomes an article (size-capped, allowed types only), then reindex."""
    message = update.effective_message
    if message is None or message.document is None:
        return
    if message.chat.type != ChatType.PRIVATE:
        return  # files shared in groups, even by an admin, are the group's: articles come in private
    if not await admin_gate(update, context):
        return
    document = message.document
    settings = context.bot_data.state.footnote.settings
    name = document.file_name or "article.txt"
    if not name.lower().endswith(tuple(corpus.SUFFIXES)):
        await reply(message, messages.UPLOAD_TYPE)
        return
    if (document.file_size or 0) > settings.max_upload_bytes:
        await reply(
            message,
            messages.UPLOAD_TOO_BIG.format(
                size=(document.file_size or 0) // 1000, limit=settings.max_upload_bytes // 1000
            ),
        )
        return
    data = bytes(await (await context.bot.get_file(document.file_id)).download_as_bytearray())
    if len(data) > settings.max_upload_bytes:
        await reply(
            message,
            messages.UPLOAD_TOO_BIG.format(size=len(data) // 1000, limit=settings.max_upload_bytes // 1000),
        )
        return
    replace = (message.caption or "").strip().lower() == "replace"
    try:
        added = await asyncio.to_thread(corpus.add_file, settings.seeds_dir, name, data, replace=replace)
    except CorpusError as exc:
        await reply(message, messages.UPLOAD_BAD.format(reason=render.clip_end(str(exc), 1000)))
        return
    if added.unchanged:
        await reply(message, messages.UPLOAD_SAME.format(doc_id=render.clip_end(added.doc_id, 500)))
        return
    template = messages.UPLOAD_RENAMED if added.renamed else messages.UPLOAD_SAVED
    note = template.format(
        doc_id=render.clip_end(added.doc_id, 500), wanted=render.clip_end(added.wanted, 500)
    )
    await start_reindex(message, context, prefix=note + "\n")


async def on_remove(update: Update, context: Context) -> None:
    """/remove DOC_ID (admins): delete an article's file, then reindex so it is never quoted again."""
    message = update.effective_message
    if message is None or not await admin_gate(update, context):
        return
    doc_id = " ".join(context.args or []).strip()
    if not doc_id:
        await reply(message, messages.REMOVE_USAGE)
        return
    seeds = context.bot_data.state.footnote.settings.seeds_dir
    if not await asyncio.to_thread(corpus.remove_file, seeds, doc_id):
        await reply(message, messages.REMOVE_MISSING.format(doc_id=render.clip_end(doc_id, 500)))
        return
    removed = messages.REMOVED.format(doc_id=render.clip_end(doc_id, 500))
    await start_reindex(message, context, prefix=removed + "\n")


async def on_add(update: Update, context: Context) -> None:
    """/add URL... (admins): fetch the articles into the seeds folder, then reindex."""
    message = update.effective_message
    if message is None or not await admin_gate(update, context):
        return
    urls = [u for u in (context.args or []) if u.strip()]
    if not urls:
        await reply(message, messages.ADD_USAGE)
        return
    footnote = context.bot_data.state.footnote
    written, failed = await asyncio.to_thread(
        fetch.add, urls, footnote.settings.seeds_dir, footnote.fetch_policy
    )
    report = render.add_report(written, [str(problem) for problem in failed])
    if written:
        await start_reindex(message, context, prefix=report + "\n")
    else:
        await reply(message, report)


async def scheduled_sync(application: FootnoteApp) -> SyncReport | None:
    """Fetch the feeds, index what changed, swap it in, and tell the admins what was added."""
    state = application.bot_data.state
    if state.reindexing:
        return None
    state.reindexing = True
    try:
        report = await asyncio.to_thread(state.footnote.sync_feeds)
        if report.changed:
            await asyncio.to_thread(functools.partial(state.footnote.build_index, wait=False))
            state.serve(await asyncio.to_thread(state.footnote.open_engine))
            body = render.sync_report(report.summary(), list(report.added))
            for admin in state.footnote.settings.admin_ids:
                try:
                    await application.bot.send_message(admin, body, parse_mode=ParseMode.HTML)
                except Exception:
                    log.warning("could not tell admin %s about the feed sync", admin, exc_info=True)
        for problem in report.failed:
            log.warning("feed sync: %s", problem)
        return report
    except IndexBusyError as exc:
        log.warning("feed sync skipped: %s", exc)
        return None
    finally:
        state.reindexing = False


async def on_stats(update: Update, context: Context) -> None:
    """/stats (admins): articles, chunks, questions answered, median answer time, index age."""
    message = update.effective_message
    if message is None or not await admin_gate(update, context):
        return
    state = context.bot_data.state
    await state.fresh_engine()
    numbers = state.summary()
    median = "—" if numbers["median_ms"] is None else f"{numbers['median_ms']:.0f} ms"
    age = _age(numbers["age_seconds"])
    await reply(
        message,
        messages.STATS.format(
            articles=numbers["articles"],
            chunks=numbers["chunks"],
            questions=numbers["questions"],
            median=median,
            age=age,
            embedder=escape(numbers["embedder"]),
            reason=f" ({escape(numbers['embedder_reason'])})" if numbers["embedder_reason"] else "",
            reader=escape(numbers["reader"]),
            languages=escape(numbers["languages"]),
        )
        + messages.STATS_INLINE.format(inline=numbers["inline"]),
    )


def _age(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} seconds"


async def on_feedback(update: Update, context: Context) -> None:
    """/feedback (admins): the feedback log as a JSONL document."""
    message = update.effective_message
    if message is None or not await admin_gate(update, context):
        return
    if message.chat.type != ChatType.PRIVATE:
        await reply(message, texts_of(update).private_only)  # who asked what is not the group's business
        return
    data = await asyncio.to_thread(context.bot_data.state.feedback.export)
    if not data:
        await reply(message, messages.NO_FEEDBACK)
        return
    await message.reply_document(data, filename="feedback.jsonl")
