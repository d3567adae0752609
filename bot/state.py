"""What the running bot remembers: the engine being served, recent answers for buttons, rate limits,
answer-time statistics and the feedback log."""

from __future__ import annotations

import json
import secrets
import statistics
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index import store
from index.engine import Engine
from index.followup import combine
from index.service import Footnote
from index.types import Answer

_KEPT_ANSWERS = 2000


@dataclass(frozen=True, slots=True)
class Asked:
    """An answer the bot sent, kept so its buttons work."""

    answer: Answer
    user_id: int
    chat_id: int
    generation: str


class RateLimiter:
    """At most `limit` questions per user per `window` seconds; one notice per window when exceeded."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[int, deque[float]] = {}
        self._noticed: dict[int, float] = {}

    def check(self, user_id: int, now: float | None = None) -> tuple[bool, bool]:
        """(allowed, send_notice): a refused user is told once per window, then silently ignored."""
        if self.limit <= 0:
            return True, False
        now = time.monotonic() if now is None else now
        events = self._events.setdefault(user_id, deque())
        while events and now - events[0] >= self.window:
            events.popleft()
        if len(events) < self.limit:
            events.append(now)
            self._noticed.pop(user_id, None)
            return True, False
        first_refusal = now - self._noticed.get(user_id, -self.window) >= self.window
        if first_refusal:
            self._noticed[user_id] = now
        return False, first_refusal

    def forget_idle(self, now: float | None = None) -> None:
        """Drop users with no recent questions, so memory stays flat."""
        now = time.monotonic() if now is None else now
        for user_id in [u for u, e in self._events.items() if not e or now - e[-1] >= self.window]:
            self._events.pop(user_id, None)
            self._noticed.pop(user_id, None)


class FeedbackLog:
    """👍/👎 votes with their question and answer, appended as JSON lines beside the index."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, asked: Asked, user_id: int, helpful: bool) -> None:
        """Append one vote."""
        row = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "user_id": user_id,
            "chat_id": asked.chat_id,
            "helpful": helpful,
            "question": asked.answer.question,
            "abstained": asked.answer.abstained,
            "answer": asked.answer.text,
            "quotes": [
                {"n": q.n, "doc_id": q.doc_id, "start": q.start, "end": q.end} for q in asked.answer.quotes
            ],
            "index_generation": asked.generation,
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def export(self) -> bytes:
        """The whole log, or b'' when nobody voted yet."""
        with self._lock:
            return self.path.read_bytes() if self.path.exists() else b""


@dataclass
class BotState:
    """Shared by every handler through `application.bot_data["state"]`."""

    footnote: Footnote
    engine: Engine
    rate: RateLimiter
    feedback: FeedbackLog
    answered: int = 0
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    reindexing: bool = False
    _answers: OrderedDict[str, Asked] = field(default_factory=OrderedDict)
    _last_question: OrderedDict[tuple[int, int], tuple[float, str]] = field(default_factory=OrderedDict)

    def previous_question(self, chat_id: int, user_id: int, question: str) -> str | None:
        """The reader's previous question in this chat within the follow-up window (as it was searched,
        so a chain of follow-ups keeps its topic); remembers this one."""
        now = time.monotonic()
        key = (chat_id, user_id)
        earlier = self._last_question.pop(key, None)
        fresh = earlier is not None and now - earlier[0] <= self.footnote.settings.followup_window_seconds
        previous = earlier[1] if earlier is not None and fresh else None
        self._last_question[key] = (now, combine(question, previous))
        while len(self._last_question) > _KEPT_ANSWERS:
            self._last_question.popitem(last=False)
        return previous

    def remember(self, answer: Answer, user_id: int, chat_id: int) -> str:
        """Keep an answer for its buttons; returns its short id (fits callback data)."""
        answer_id = secrets.token_hex(4)
        self._answers[answer_id] = Asked(answer, user_id, chat_id, self.engine.generation)
        while len(self._answers) > _KEPT_ANSWERS:
            self._answers.popitem(last=False)
        return answer_id

    def recall(self, answer_id: str) -> Asked | None:
        """A kept answer, or None when it has been forgotten."""
        return self._answers.get(answer_id)

    def record_time(self, seconds: float) -> None:
        """Count an answered question and its answer time."""
        self.answered += 1
        self.durations.append(seconds)

    def median_ms(self) -> float | None:
        """Median answer time of the recent questions."""
        return statistics.median(self.durations) * 1000 if self.durations else None

    def summary(self) -> dict[str, Any]:
        """Numbers for /stats."""
        manifest = self.engine.stored.manifest
        return {
            "articles": len(manifest.documents),
            "chunks": manifest.chunk_count,
            "questions": self.answered,
            "median_ms": self.median_ms(),
            "age_seconds": store.age_seconds(manifest),
            "embedder": manifest.embedder,
        }
