"""The data of the bot's inline buttons, built and parsed here and nowhere else.

Telegram carries 1-64 bytes of data per button. Footnote's read `kind:answer_id:number`:

    p:<answer id>:<n>    open the passage around quote [n]
    m:<answer id>        more sources
    f:<answer id>:1|0    rate the answer (1 helpful, 0 not)
    s:<page>             a page of /sources (no answer id)
    u:<watch id>:1|0     stop a watch, from the /watches list (1) or under one of its notices (0)

To add a button: a kind below, a builder beside the others, and a branch in `handlers.on_button` (the
watch buttons have their own handler, `watches.on_unwatch_button`, registered before it: UNWATCH_PATTERN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PASSAGE = "p"
MORE = "m"
FEEDBACK = "f"
SOURCES = "s"
UNWATCH = "u"
KINDS = frozenset({PASSAGE, MORE, FEEDBACK, SOURCES, UNWATCH})
UNWATCH_PATTERN = f"^{UNWATCH}:"  # the data of the watch buttons, for their handler
MAX_BYTES = 64
_NUMBER = re.compile(r"^\d{1,9}$")


@dataclass(frozen=True, slots=True)
class Button:
    """A pressed button: its kind, the answer it sits under ('' for /sources; the watch's id for a watch
    button) and its number (quote [n], 1/0 for feedback, the /sources page, 1/0 for a watch button from
    the /watches list or under a notice)."""

    kind: str
    answer_id: str = ""
    number: int = 0


def passage(answer_id: str, n: int) -> str:
    """Data of the button that opens quote [n]'s passage."""
    return _data(PASSAGE, answer_id, n)


def more(answer_id: str) -> str:
    """Data of the 'more sources' button."""
    return _data(MORE, answer_id)


def feedback(answer_id: str, *, helpful: bool) -> str:
    """Data of the 👍 (helpful) or 👎 button."""
    return _data(FEEDBACK, answer_id, 1 if helpful else 0)


def sources(page: int) -> str:
    """Data of a /sources paging button (pages count from 0)."""
    return _data(SOURCES, str(page))


def unwatch(watch_id: int, *, from_list: bool) -> str:
    """Data of the button that stops a watch: in the /watches list, or under one of its notices."""
    return _data(UNWATCH, str(watch_id), 1 if from_list else 0)


def parse(data: str) -> Button | None:
    """The button behind callback data, or None for data no Footnote button carries (a forged or stale
    press): the handler answers those as expired."""
    kind, _, rest = data.partition(":")
    if kind not in KINDS:
        return None
    if kind == SOURCES:
        return Button(SOURCES, number=int(rest) if _NUMBER.match(rest) else 0)
    answer_id, _, number = rest.partition(":")
    if not answer_id:
        return None
    if kind == MORE:
        return Button(MORE, answer_id)
    if kind == UNWATCH and not _NUMBER.match(answer_id):
        return None
    if not _NUMBER.match(number):
        return None
    return Button(kind, answer_id, int(number))


def _data(kind: str, first: str, number: int | None = None) -> str:
    data = f"{kind}:{first}" if number is None else f"{kind}:{first}:{number}"
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data {data!r} is over Telegram's {MAX_BYTES} bytes")
    return data
