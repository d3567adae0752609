"""`footnote chat`: the terminal chat, with the same answers and follow-ups as the bot."""

from __future__ import annotations

import logging
import time
from typing import TextIO

from cli.render import render_answer
from index.query.engine import Engine

log = logging.getLogger("footnote")


CHAT_HELP = (
    "Type a question and get the sentences of the articles that answer it, with their sources.\n"
    'A short follow-up ("and the informal ones?") leans on your previous question.\n'
    "/new  forget the previous question    /quit  leave (or an empty line, or Ctrl-D)\n"
)


def chat(engine: Engine, stdin: TextIO, stdout: TextIO) -> int:
    """Read questions line by line until EOF, `quit`, or (at a terminal) an empty line; never a traceback.

    Lines starting with "/" are commands, as in Telegram: `/help`, `/new` (the next question starts
    afresh), `/quit`, `/ask QUESTION`; anything else that starts with "/" shows the help.
    """
    from index.query.followup import Conversation

    interactive = stdin.isatty()
    previous: Conversation | None = None  # follow-ups ("and the informal ones?") lean on the previous turn
    count = len(engine.stored.articles)
    stdout.write(
        f"Footnote: ask about {count} article{'s' if count != 1 else ''}. "
        "/help for help; an empty line or Ctrl-D to quit.\n"
    )
    while True:
        if interactive:
            stdout.write("\nyou> ")
        stdout.flush()
        line = stdin.readline()
        question = line.strip()
        if not line or question.lower() in {"quit", "exit"} or (interactive and not question):
            return 0
        if not question:
            continue
        if not interactive:  # echo piped questions so the transcript reads as a conversation
            stdout.write(f"\n> {question}\n")
        command, _, rest = question.partition(" ")
        if command.startswith("/"):
            name = command[1:].lower()
            if name in {"quit", "exit"}:
                return 0
            if name == "new":
                previous = None
                stdout.write("Starting afresh: the next question does not lean on the previous one.\n")
                continue
            if name != "ask" or not rest.strip():
                stdout.write(CHAT_HELP)
                continue
            question = rest.strip()
        try:
            answer = engine.ask(question, previous=previous)
            previous = Conversation.start(question, answer, time.time(), previous)
        except Exception:
            log.exception("chat: failed to answer %r", question)
            stdout.write("Sorry, something went wrong while answering. Please try again.\n")
            continue
        stdout.write(render_answer(answer) + "\n")
