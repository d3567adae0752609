"""Forum topics: what the bot sends about an earlier message goes to that message's topic, as a reply."""

from __future__ import annotations

from typing import Any

from telegram import MaybeInaccessibleMessage, Message, ReplyParameters
from telegram.constants import ChatType


def under_answer(answer: MaybeInaccessibleMessage) -> dict[str, Any]:
    """send_message arguments that put a button's output in the answer's topic, replying to the answer
    (in groups; a private chat has one thread and needs no reply to follow)."""
    if not isinstance(answer, Message) or answer.chat.type == ChatType.PRIVATE:
        return {}
    arguments: dict[str, Any] = {
        "reply_parameters": ReplyParameters(answer.message_id, allow_sending_without_reply=True)
    }
    if answer.is_topic_message and answer.message_thread_id is not None:
        arguments["message_thread_id"] = answer.message_thread_id
    return arguments
