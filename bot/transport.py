"""Talking to the Bot API through faults: retries that never send a message twice, and a patient start.

A call is retried only when it certainly did not take effect: Telegram answered 5xx, or the request never
reached it (the connection could not be made, or was dropped before any answer). A read timeout is not
retried: the message may have been delivered, and a duplicate answer is worse than a logged failure.
Telegram's 429 "retry after" is handled by python-telegram-bot's AIORateLimiter on top of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import httpx
from telegram import Bot
from telegram.error import InvalidToken, NetworkError, TimedOut
from telegram.request import HTTPXRequest

log = logging.getLogger(__name__)

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.RemoteProtocolError)


def _method(url: str) -> str:
    """The Bot API method of a request URL (the URL itself contains the token)."""
    return url.rsplit("/", 1)[-1]


class RetryingRequest(HTTPXRequest):
    """HTTPXRequest that retries calls which certainly did not take effect, with exponential backoff."""

    def __init__(self, attempts: int = 4, backoff: float = 0.5, **kwargs: Any) -> None:
        kwargs.setdefault("connection_pool_size", 256)
        super().__init__(**kwargs)
        self.attempts = attempts
        self.backoff = backoff

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                status, payload = await super().do_request(url, method, *args, **kwargs)
            except TimedOut as exc:
                if (
                    not isinstance(exc.__cause__, (httpx.ConnectTimeout, httpx.PoolTimeout))
                    or attempt == self.attempts
                ):
                    raise
                reason = type(exc.__cause__).__name__
            except NetworkError as exc:
                if not isinstance(exc.__cause__, _NEVER_SENT) or attempt == self.attempts:
                    raise
                reason = type(exc.__cause__).__name__
            else:
                if status < 500 or attempt == self.attempts:
                    return status, payload
                reason = f"HTTP {status}"
            log.warning("Bot API %s failed (%s); retry %d in %.1f s", _method(url), reason, attempt, delay)
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")


async def wait_for_api(token: str, base_url: str, max_delay: float = 60.0) -> bool:
    """Block until the Bot API answers getMe, logging why it does not; False if stopped by a signal first.

    A refused token is not retried: it raises InvalidToken.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    delay = 1.0
    try:
        while not stop.is_set():
            try:
                async with Bot(token, base_url=base_url, request=HTTPXRequest(connect_timeout=10)) as bot:
                    await bot.get_me()
                return True
            except InvalidToken:
                raise
            except NetworkError as exc:
                log.warning(
                    "Telegram Bot API at %s is unreachable (%s); retrying in %.0f s", base_url, exc, delay
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, max_delay)
        return False
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
