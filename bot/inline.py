"""Inline mode: `@bot question` in any chat, answered with quotes the reader picks to send there.

Telegram sends one inline query per keystroke. A query is answered with results only while it is its
reader's latest: each new query first closes the reader's previous one still pending (answered with no
results), so a burst of keystrokes ends in exactly one real answer, whatever the timing. Queries that are
too short or not question-like are answered at once with no results; the rest wait a short quiet time
(FOOTNOTE_INLINE_DEBOUNCE_SECONDS), pass the per-user rate limit, and are answered off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time

from telegram import InlineQueryResultArticle, InlineQueryResultsButton, Update
from telegram.error import TelegramError

from bot import messages, render
from bot.state import Context
from index.query.engine import clean_question

log = logging.getLogger(__name__)

START_PARAMETER = "inline"  # what /start receives when a reader taps the button above inline results
# (handlers.gate uses the same for strangers)


def question_like(text: str, min_chars: int) -> bool:
    """Whether an inline query reads like a question worth searching: long enough, at least two words,
    mostly letters, not a command (admin commands never run inline)."""
    if len(text) < min_chars or text.startswith("/") or len(text.split()) < 2:
        return False
    letters = sum(1 for c in text if c.isalpha())
    return letters * 2 >= len(text.replace(" ", ""))


async def on_inline_query(update: Update, context: Context) -> None:
    """Answer the reader's latest inline query with up to five quotes, or a button into the bot's chat."""
    query = update.inline_query
    if query is None:
        return
    user_id = query.from_user.id
    state = context.bot_data.state
    settings = state.footnote.settings
    texts = messages.texts_for(query.from_user.language_code)
    debouncer = context.bot_data.debouncer
    superseded = debouncer.arrive(user_id, query.id)
    if superseded is not None:
        await _answer(context, superseded, cache_time=0)

    # Strangers never get here (handlers.gate answers them), but results cached for everyone would reach
    # readers outside the allow-list: with one, results are personal.
    personal = bool(settings.allowed_ids)
    question = clean_question(query.query, settings.max_question_chars)
    if not question_like(question, settings.inline_min_chars):
        if debouncer.finish(user_id, query.id):
            await _answer(context, query.id, cache_time=0, button=_button(texts.inline_keep_typing))
        return
    if settings.inline_debounce_seconds > 0:
        await asyncio.sleep(settings.inline_debounce_seconds)
        if not debouncer.is_latest(user_id, query.id):
            return  # a newer keystroke closed this one
    within_limit, _ = state.rate.check(user_id)
    if not within_limit:
        if debouncer.finish(user_id, query.id):
            await _answer(context, query.id, cache_time=0, button=_button(texts.inline_rate_limited))
        return

    began = time.perf_counter()
    try:
        engine = await state.fresh_engine()
        answer = await asyncio.to_thread(engine.ask, question)
    except BaseException:
        debouncer.finish(user_id, query.id)
        raise
    if not debouncer.finish(user_id, query.id):
        return
    state.record_time(time.perf_counter() - began)
    state.answered_inline += 1
    results = render.inline_results(answer, texts)
    await _answer(
        context,
        query.id,
        results,
        cache_time=settings.inline_cache_seconds,
        is_personal=personal,
        button=None if results else _button(texts.inline_not_found),
    )


def _button(text: str) -> InlineQueryResultsButton:
    return InlineQueryResultsButton(text=text, start_parameter=START_PARAMETER)


async def _answer(
    context: Context,
    query_id: str,
    results: list[InlineQueryResultArticle] | None = None,
    *,
    cache_time: int,
    is_personal: bool = True,
    button: InlineQueryResultsButton | None = None,
) -> None:
    try:
        await context.bot.answer_inline_query(
            query_id, results or [], cache_time=cache_time, is_personal=is_personal, button=button
        )
    except TelegramError as exc:  # an old query Telegram no longer waits for: nothing to tell anyone
        log.info("inline query not answered: %s", exc)
