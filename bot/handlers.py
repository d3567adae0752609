"""Telegram handlers: thin glue between updates and the index. Answering runs off the event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from html import escape
from typing import Any

from telegram import InlineQueryResultsButton, Message, Update
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import NetworkError
from telegram.ext import ApplicationHandlerStop

from bot import callbacks, messages, render, topics
from bot.state import Context
from index.query.engine import clean_question
from index.types import Answer

log = logging.getLogger(__name__)

_PROGRESS_EVERY = 1.5  # seconds between edits of the reindex progress message


def is_admin(context: Context, update: Update) -> bool:
    """Whether the user behind an update is listed in FOOTNOTE_ADMIN_IDS (checked on every action)."""
    user = update.effective_user
    return user is not None and user.id in context.bot_data.state.footnote.settings.admin_ids


def is_allowed(context: Context, update: Update) -> bool:
    """The optional allow-list of user and chat ids (empty: everyone); admins are always allowed."""
    allowed = context.bot_data.state.footnote.settings.allowed_ids
    if not allowed or is_admin(context, update):
        return True
    user, chat = update.effective_user, update.effective_chat
    return (user is not None and user.id in allowed) or (chat is not None and chat.id in allowed)


async def gate(update: object, context: Context) -> None:
    """Runs before every handler: with an allow-list, nothing (commands, questions, buttons, inline
    queries) reaches the others for a stranger, who is told so in a private chat and ignored elsewhere."""
    if not isinstance(update, Update) or is_allowed(context, update):
        return
    if update.channel_post is not None or update.edited_channel_post is not None:
        return  # posts carry no user: FOOTNOTE_CHANNELS is their allow-list (bot/channels.py)
    texts = texts_of(update)
    chat, message = update.effective_chat, update.effective_message
    if update.callback_query is not None:
        await update.callback_query.answer(texts.not_allowed, show_alert=True)
    elif update.inline_query is not None:
        # No results, said above the empty list, so the stranger is not left waiting; never cached for others.
        button = InlineQueryResultsButton(text=texts.inline_private, start_parameter="inline")
        await update.inline_query.answer([], cache_time=0, is_personal=True, button=button)
    elif message is not None and chat is not None and chat.type == ChatType.PRIVATE:
        await reply(message, texts.not_allowed)
    raise ApplicationHandlerStop


def sender_id(update: Update) -> int | None:
    """Who sent a message, for rate limits and follow-ups: the chat it was sent on behalf of when there is
    one (a channel, an anonymous group admin: all of them carry Telegram's one stand-in user), else the
    user."""
    message = update.effective_message
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id
    user = update.effective_user
    return user.id if user is not None else None


def texts_of(update: Update) -> messages.Texts:
    """The reader's language (from their Telegram settings) for the bot's own words."""
    user = update.effective_user
    return messages.texts_for(user.language_code if user else None)


async def reply(message: Message, text: str, **kwargs: Any) -> Message:
    """Reply in the same chat and forum topic, as HTML."""
    return await message.reply_text(text, parse_mode=ParseMode.HTML, disable_web_page_preview=True, **kwargs)


# -- questions ---------------------------------------------------------------------------------------


async def on_text(update: Update, context: Context) -> None:
    """Private chats: any text is a question. Groups: only a mention of the bot or a reply to it."""
    message = update.effective_message
    if message is None or message.text is None or update.effective_chat is None:
        return
    question = message.text
    if update.effective_chat.type != ChatType.PRIVATE:
        mention = f"@{context.bot.username}"
        replied = message.reply_to_message
        to_bot = (
            replied is not None and replied.from_user is not None and replied.from_user.id == context.bot.id
        )
        if mention.lower() not in question.lower() and not to_bot:
            return
        question = _without_mention(question, mention)
    await answer_question(update, context, question)


async def on_ask(update: Update, context: Context) -> None:
    """/ask QUESTION, in any chat."""
    message = update.effective_message
    if message is None:
        return
    question = " ".join(context.args or [])
    if not question.strip():
        await reply(message, texts_of(update).ask_usage)
        return
    await answer_question(update, context, question)


def _without_mention(text: str, mention: str) -> str:
    position = text.lower().find(mention.lower())
    return text if position < 0 else (text[:position] + text[position + len(mention) :]).strip()


async def answer_question(update: Update, context: Context, question: str, *, related: bool = False) -> None:
    """Rate-limit, show 'typing', answer off the event loop, send quotes with buttons. `related`: the
    text is a forwarded post, not a question: show what is related to it, never as a follow-up."""
    message, sender = update.effective_message, sender_id(update)
    if message is None or sender is None:
        return
    state = context.bot_data.state
    texts = texts_of(update)
    allowed, notice = state.rate.check(sender)
    if not allowed:
        if notice:
            await reply(message, texts.rate_limited)
        return
    limit = state.footnote.settings.max_question_chars
    cleaned = clean_question(question, limit)
    if not cleaned:
        await reply(message, texts.ask_usage)
        return
    if len(" ".join(question.split())) > limit and not related:
        await reply(message, texts.cut_note.format(chars=limit))

    thread = message.message_thread_id if message.is_topic_message else None
    await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING, message_thread_id=thread)
    began = time.perf_counter()
    engine = await state.fresh_engine()

    def work() -> tuple[Answer, str]:
        previous = None if related else state.conversation(message.chat_id, sender)
        answer = engine.ask(cleaned, None, previous)
        return answer, state.remember(answer, sender, message.chat_id, previous, turn=not related)

    answer, answer_id = await asyncio.to_thread(work)
    rendered = render.render_answer(answer, answer_id, texts, related=related)
    for position, text in enumerate(rendered.texts):
        last = position == len(rendered.texts) - 1
        await reply(
            message,
            text,
            reply_markup=rendered.keyboard if last else None,
            do_quote=position == 0 and message.chat.type != ChatType.PRIVATE,
        )
    state.record_time(time.perf_counter() - began)


async def on_other(update: Update, context: Context) -> None:
    """Stickers, photos, voice… in a private chat: a short hint."""
    message = update.effective_message
    if message is not None and message.chat.type == ChatType.PRIVATE:
        await reply(message, texts_of(update).not_text)


# -- buttons -----------------------------------------------------------------------------------------


async def on_button(update: Update, context: Context) -> None:
    """Passage, more sources, feedback and /sources paging buttons."""
    query = update.callback_query
    if query is None or query.data is None or query.message is None:
        return
    state = context.bot_data.state
    texts = texts_of(update)
    button = callbacks.parse(query.data)
    limited = {callbacks.PASSAGE, callbacks.MORE, callbacks.FEEDBACK}
    if button is not None and button.kind in limited and not state.button_rate.check(query.from_user.id)[0]:
        await query.answer(texts.buttons_too_fast)
        return
    engine = await state.fresh_engine()
    if button is not None and button.kind == callbacks.SOURCES:
        rendered = render.sources_page(engine.titles(), button.number, texts)
        await query.answer()
        await query.edit_message_text(
            rendered.texts[0],
            parse_mode=ParseMode.HTML,
            reply_markup=rendered.keyboard,
            disable_web_page_preview=True,
        )
        return
    asked = await asyncio.to_thread(state.recall, button.answer_id) if button is not None else None
    if button is None or asked is None:
        await query.answer(texts.expired, show_alert=True)
        return
    chat_id = query.message.chat.id
    under = topics.under_answer(query.message)
    if button.kind == callbacks.PASSAGE:
        quote = next((q for q in asked.answer.quotes if q.n == button.number), None)
        article = engine.stored.articles.get(quote.doc_id) if quote else None
        await query.answer()
        if quote is None:
            await context.bot.send_message(chat_id, texts.expired, **under)
            return
        if article is None or (
            asked.generation != engine.generation and article.text[quote.start : quote.end] != quote.text
        ):
            # The answer came from an older index and the article has changed (or gone) since: its text
            # around these offsets is no longer what was quoted.
            await context.bot.send_message(chat_id, texts.article_changed, **under)
            return
        chunk = engine.chunk_around(quote.doc_id, quote.start, quote.end)
        text = render.passage_view(quote, chunk, article.text)
        await context.bot.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, disable_web_page_preview=True, **under
        )
    elif button.kind == callbacks.MORE:
        await query.answer()
        for text in render.passages_view(asked.answer.passages, texts):
            await context.bot.send_message(
                chat_id, text, parse_mode=ParseMode.HTML, disable_web_page_preview=True, **under
            )
    elif button.kind == callbacks.FEEDBACK and query.from_user is not None:
        await asyncio.to_thread(
            functools.partial(state.feedback.record, helpful=button.number == 1),
            asked,
            button.answer_id,
            query.from_user.id,
        )
        await query.answer(texts.thanks)
    else:
        await query.answer()


# -- everyone's commands -----------------------------------------------------------------------------


async def on_start(update: Update, context: Context) -> None:
    """/start: what the bot knows, with two example questions."""
    message = update.effective_message
    if message is None:
        return
    state = context.bot_data.state
    texts = texts_of(update)
    titles = (await state.fresh_engine()).titles()
    examples = list(state.footnote.settings.example_questions[:2]) or [
        texts.example.format(title=title) for _, title, _ in titles[:2]
    ]
    await reply(message, messages.start(texts, len(titles), examples))


async def on_help(update: Update, context: Context) -> None:
    """/help, with the admin commands for admins."""
    if update.effective_message is not None:
        extra = messages.HELP_ADMIN if is_admin(context, update) else ""
        help_text = texts_of(update).help.format(bot=escape(context.bot.username or "bot"))
        await reply(update.effective_message, help_text + extra)


async def on_sources(update: Update, context: Context) -> None:
    """/sources: the indexed articles, paged."""
    if update.effective_message is None:
        return
    engine = await context.bot_data.state.fresh_engine()
    rendered = render.sources_page(engine.titles(), 0, texts_of(update))
    await reply(update.effective_message, rendered.texts[0], reply_markup=rendered.keyboard)


# -- errors ------------------------------------------------------------------------------------------


async def on_error(update: object, context: Context) -> None:
    """Log the traceback; tell the user something friendly, never the exception."""
    if update is None and isinstance(context.error, NetworkError):
        log.warning("Telegram is unreachable (%s); python-telegram-bot keeps retrying", context.error)
        return
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await reply(update.effective_message, texts_of(update).error)
        except Exception:
            log.warning("could not send the error message", exc_info=True)
