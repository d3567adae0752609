"""A post or message forwarded to the bot in private: the passages of the articles related to it."""

from __future__ import annotations

from telegram import Update

from bot.handlers import answer_question
from bot.state import Context


async def on_forwarded(update: Update, context: Context) -> None:
    """Show what the articles say close to a forwarded text ("📚 Related in the articles"), not an
    answer to it as if it were a question."""
    message = update.effective_message
    if message is None:
        return
    text = message.text or message.caption
    if text and text.strip():
        await answer_question(update, context, text, related=True)
