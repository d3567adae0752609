"""What the running bot remembers: the engine being served, answers for their buttons, readers' previous
questions, rate limits, answer-time statistics, the feedback log, the watches' sender, the waiting batch of
channel posts and the pending inline queries. `BotData` holds all of it as the application's `bot_data`,
and `Context` is the `context` every handler and job receives.

Answers and previous questions are also written as small JSON files beside the index (`data/answers/`,
`data/followups/`), so that a button pressed under an answer, or a follow-up question, works on whichever
bot replica receives it and after a restart. Each file is written to a temporary name and renamed, so a
reader never sees half of one; no lock is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import statistics
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

from telegram.ext import Application, CallbackContext, ExtBot

from index.errors import FootnoteError
from index.pipeline import Pipeline
from index.query.answer_json import answer_from_json, answer_json
from index.query.engine import Engine
from index.query.followup import Conversation
from index.query.watches import Sender, WatchStore
from index.storage import store
from index.types import Answer

log = logging.getLogger(__name__)

_KEPT_ANSWERS = 2000
_ANSWER_ID = re.compile(r"^[0-9a-f]{16}$")
_PRUNE_EVERY = 500  # writes between two clean-ups of old files
_RELOAD_RETRY = 30.0  # seconds before a generation that failed to load is tried again


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
    """👍/👎 votes with their question and answer, appended as JSON lines beside the index.

    A reader has one vote per answer: the export keeps only their last vote on each answer, so pressing a
    button many times cannot stuff the log. A repeated vote is not even written, as long as no other
    replica has written to the file since this one last did (then its memory of the votes may be stale).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._votes: OrderedDict[tuple[str, int], bool] = OrderedDict()
        self._size = -1  # of the file right after this replica's last write

    def record(self, asked: Asked, answer_id: str, user_id: int, *, helpful: bool) -> None:
        """Record a reader's vote on an answer; it replaces their earlier vote on the same answer."""
        row = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "answer_id": answer_id,
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
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8", "replace")
        key = (answer_id, user_id)
        with self._lock:
            size = self.path.stat().st_size if self.path.exists() else 0
            if size != self._size:
                self._votes.clear()  # another replica wrote since: it may hold a later vote
            elif self._votes.get(key) == helpful:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as handle:
                handle.write(data)
            self._size = size + len(data)  # a write by another replica in between shows as a mismatch
            self._votes[key] = helpful
            self._votes.move_to_end(key)
            while len(self._votes) > _KEPT_ANSWERS * 10:
                self._votes.popitem(last=False)

    def export(self) -> bytes:
        """The log with each reader's last vote per answer, or b'' when nobody voted yet."""
        with self._lock:
            data = self.path.read_bytes() if self.path.exists() else b""
        last: dict[object, tuple[int, bytes]] = {}
        for position, line in enumerate(data.splitlines()):
            key: object = position  # rows from before votes were keyed, and unreadable ones, stay as they are
            with contextlib.suppress(ValueError, AttributeError):
                row = json.loads(line)
                if row.get("answer_id") is not None:
                    key = (row["answer_id"], row.get("user_id"))
            last[key] = (position, line)
        return b"".join(line + b"\n" for _, line in sorted(last.values()))


@dataclass(frozen=True, slots=True)
class KeptLimits:
    """How much the kept answers and follow-up files may hold on disk, per folder, and per reader. At the
    default rate limit one account could write about 100 MB a day without them; the oldest go first.
    Checked every `_PRUNE_EVERY` writes, so a folder may pass its limit by that many files meanwhile."""

    files: int = 20_000
    bytes: int = 200 * 1024 * 1024
    per_user: int = 200


class SharedMemory:
    """Answers (for their buttons) and each reader's previous question, in memory and, unless `directory`
    is None, as JSON files every replica sharing the data volume can read. Files older than `keep_seconds`
    are removed from time to time."""

    def __init__(
        self,
        directory: Path | None,
        keep_seconds: float,
        limits: KeptLimits | None = None,
    ) -> None:
        self.directory = directory
        self.keep_seconds = keep_seconds
        self.limits = limits or KeptLimits()
        self._by_user: dict[int, deque[str]] = {}
        self._answers: OrderedDict[str, Asked] = OrderedDict()
        self._questions: OrderedDict[tuple[int, int], Conversation] = OrderedDict()
        self._lock = threading.Lock()
        self._writes = 0

    def keep_answer(self, asked: Asked) -> str:
        """Store an answer; returns its id (16 hex digits: unique across replicas, fits callback data)."""
        answer_id = secrets.token_hex(8)
        with self._lock:
            self._answers[answer_id] = asked
            while len(self._answers) > _KEPT_ANSWERS:
                self._answers.popitem(last=False)
            mine = self._by_user.setdefault(asked.user_id, deque())
            mine.append(answer_id)
            dropped = [mine.popleft() for _ in range(len(mine) - self.limits.per_user)]
            for old in dropped:
                self._answers.pop(old, None)
        self._write("answers", answer_id, asked_to_json(asked))
        for old in dropped:  # one reader cannot fill the disk: their oldest answer file goes first
            self._remove("answers", old)
        return answer_id

    def answer(self, answer_id: str) -> Asked | None:
        """A kept answer, from memory or from another replica's file; None when unknown or expired."""
        if not _ANSWER_ID.match(answer_id):
            return None
        with self._lock:
            asked = self._answers.get(answer_id)
        if asked is not None:
            return asked
        data = self._read("answers", answer_id)
        try:
            return asked_from_json(data) if data is not None else None
        except (KeyError, TypeError, ValueError):
            log.warning("answer %s: unreadable file, treated as expired", answer_id)
            return None

    def last_turn(self, chat_id: int, user_id: int) -> Conversation | None:
        """The reader's previous turn in this chat (from this replica's memory or another's file)."""
        with self._lock:
            kept = self._questions.get((chat_id, user_id))
        data = self._read("followups", f"{chat_id}_{user_id}")
        if data is not None:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                quoted = tuple((str(doc), int(start)) for doc, start in data.get("quoted", []))
                on_disk = Conversation(str(data["question"]), quoted, float(data["at"]))
                if kept is None or on_disk.at > kept.at:
                    kept = on_disk  # another replica answered this reader more recently
        return kept

    def keep_turn(self, chat_id: int, user_id: int, turn: Conversation) -> None:
        """Remember the reader's latest turn."""
        with self._lock:
            self._questions.pop((chat_id, user_id), None)
            self._questions[(chat_id, user_id)] = turn
            while len(self._questions) > _KEPT_ANSWERS:
                self._questions.popitem(last=False)
        data = {"at": turn.at, "question": turn.question, "quoted": [list(q) for q in turn.quoted]}
        self._write("followups", f"{chat_id}_{user_id}", data)

    def _write(self, kind: str, name: str, data: dict[str, Any]) -> None:
        if self.directory is None:
            return
        folder = self.directory / kind
        try:
            folder.mkdir(parents=True, exist_ok=True)
            temporary = folder / f".{name}.{uuid.uuid4().hex[:8]}"
            temporary.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8", errors="replace")
            temporary.replace(folder / f"{name}.json")
        except OSError as exc:
            log.warning("could not keep %s/%s for other replicas: %s", kind, name, exc)
            return
        self._writes += 1
        if self._writes % _PRUNE_EVERY == 0:
            self.prune()

    def _read(self, kind: str, name: str) -> dict[str, Any] | None:
        if self.directory is None:
            return None
        try:
            data = json.loads((self.directory / kind / f"{name}.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("%s/%s: unreadable (%s)", kind, name, exc)
            return None
        return data if isinstance(data, dict) else None

    def _remove(self, kind: str, name: str) -> None:
        if self.directory is not None:
            with contextlib.suppress(OSError):
                (self.directory / kind / f"{name}.json").unlink(missing_ok=True)

    def prune(self) -> int:
        """Remove files older than `keep_seconds` (and temporaries a crash left), then the oldest until each
        folder is within `limits` (count and bytes); returns how many."""
        if self.directory is None:
            return 0
        cutoff = time.time() - self.keep_seconds
        removed = 0
        for kind in ("answers", "followups"):
            folder = self.directory / kind
            if not folder.is_dir():
                continue
            kept: list[tuple[float, int, Path]] = []
            for path in folder.iterdir():
                with contextlib.suppress(OSError):
                    stat = path.stat()
                    if stat.st_mtime < cutoff:
                        path.unlink()
                        removed += 1
                    else:
                        kept.append((stat.st_mtime, stat.st_size, path))
            kept.sort()
            count, size = len(kept), sum(item[1] for item in kept)
            for _, file_size, path in kept:
                if count <= self.limits.files and size <= self.limits.bytes:
                    break
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
                count, size = count - 1, size - file_size
        return removed


def asked_to_json(asked: Asked) -> dict[str, Any]:
    """An answer and who asked it, as JSON-ready data (the answer in the CLI's JSON form)."""
    return {
        "user_id": asked.user_id,
        "chat_id": asked.chat_id,
        "generation": asked.generation,
        "answer": answer_json(asked.answer),
    }


def asked_from_json(data: dict[str, Any]) -> Asked:
    """The inverse of `asked_to_json`; raises ValueError on a foreign shape."""
    return Asked(
        answer_from_json(data["answer"]),
        int(data["user_id"]),
        int(data["chat_id"]),
        str(data["generation"]),
    )


@dataclass
class BotState:
    """The engine served and what answering needs; every handler reaches it as `context.bot_data.state`."""

    footnote: Pipeline
    engine: Engine
    rate: RateLimiter
    feedback: FeedbackLog
    memory: SharedMemory = field(default_factory=lambda: SharedMemory(None, 0))
    answered: int = 0
    answered_inline: int = 0
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    _: KW_ONLY
    button_rate: RateLimiter = field(default_factory=lambda: RateLimiter(0))
    reindexing: bool = False
    # Called with the previous generation's manifest and the new engine each time a new generation starts
    # being served (bot/watches.py checks the watches against it).
    on_new_generation: Callable[[store.Manifest, Engine], None] | None = None
    _loading: asyncio.Task[None] | None = None
    _failed: tuple[str, float] | None = None

    async def fresh_engine(self) -> Engine:
        """The engine for the current index generation. When another process (a reindex on another
        replica, `footnote index`) has made a new generation current, the caller that notices first waits
        while it loads off the event loop; everyone else is answered by the previous engine meanwhile,
        as they are when it cannot be loaded."""
        try:
            current = store.current_generation(self.footnote.settings.index_dir)
        except FootnoteError as exc:
            log.warning("cannot read the index pointer, serving %s: %s", self.engine.generation, exc)
            return self.engine
        if current is None or current.name == self.engine.generation or self._loading is not None:
            return self.engine
        if self._failed and self._failed[0] == current.name and time.monotonic() < self._failed[1]:
            return self.engine
        self._loading = asyncio.create_task(self._load(current.name))
        await asyncio.shield(self._loading)  # a cancelled caller leaves the load to finish
        return self.engine

    async def _load(self, name: str) -> None:
        try:
            self.serve(await asyncio.to_thread(self.footnote.open_engine))
            self._failed = None
            log.info("now serving %s (made current by another process)", self.engine.generation)
        except FootnoteError as exc:
            self._failed = (name, time.monotonic() + _RELOAD_RETRY)
            log.error("cannot load index %s, still serving %s: %s", name, self.engine.generation, exc)
        finally:
            self._loading = None

    def serve(self, engine: Engine) -> None:
        """Answer from `engine` from now on (a reindex, a batch of channel posts, a feed sync, another
        process's generation), and tell `on_new_generation` when its generation is a new one."""
        previous, self.engine = self.engine, engine
        if self.on_new_generation is not None and engine.generation != previous.generation:
            self.on_new_generation(previous.stored.manifest, engine)

    def forget_idle(self) -> None:
        """Drop rate-limit entries of readers who went quiet (run periodically, so memory stays flat)."""
        self.rate.forget_idle()
        self.button_rate.forget_idle()

    def conversation(self, chat_id: int, user_id: int) -> Conversation | None:
        """The reader's previous turn in this chat, if a question now may still continue it."""
        earlier = self.memory.last_turn(chat_id, user_id)
        window = self.footnote.settings.followup_window_seconds
        return earlier if earlier is not None and earlier.continues(time.time(), window) else None

    def remember(
        self,
        answer: Answer,
        user_id: int,
        chat_id: int,
        previous: Conversation | None = None,
        *,
        turn: bool = True,
    ) -> str:
        """Keep an answer for its buttons and (with `turn`) as the reader's latest turn after `previous`;
        returns its id (fits callback data)."""
        if turn:
            latest = Conversation.start(answer.question, answer, time.time(), previous)
            self.memory.keep_turn(chat_id, user_id, latest)
        return self.memory.keep_answer(Asked(answer, user_id, chat_id, self.engine.generation))

    def recall(self, answer_id: str) -> Asked | None:
        """A kept answer, or None when it has been forgotten."""
        return self.memory.answer(answer_id)

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
            "inline": self.answered_inline,
            "median_ms": self.median_ms(),
            "age_seconds": store.age_seconds(manifest),
            "embedder": manifest.embedder,
            "embedder_reason": manifest.embedder_reason or "",
            "reader": self.engine.reader_name,
            "languages": ", ".join(f"{k} {v:.0%}" for k, v in manifest.languages.items()) or "—",
        }


@dataclass
class Watching:
    """The bot's side of the watches (bot/watches.py): the store, this process's sender, the per-reader
    notice limit and the generation last checked here."""

    store: WatchStore
    rate: RateLimiter
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    checked: str | None = None
    sender: Sender | None = None


class Batch:
    """Posts saved since the last channel reindex (per channel label), and when the next may start
    (bot/channels.py)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.pending: Counter[str] = Counter()
        self.last_start = float("-inf")
        self.task: asyncio.Task[Any] | None = None  # waiting for its turn
        self.running: asyncio.Task[Any] | None = None  # indexing

    def delay(self, now: float) -> float:
        """Seconds to wait before the next reindex may start (at most one per interval)."""
        return max(0.0, self.last_start + self.interval - now)

    def take(self, now: float) -> Counter[str]:
        """The posts to index now; the interval counts from here."""
        taken, self.pending = self.pending, Counter()
        self.last_start = now
        return taken


class Debouncer:
    """Each reader's latest inline query still waiting for its answer (bot/inline.py)."""

    def __init__(self) -> None:
        self._pending: dict[int, str] = {}

    def arrive(self, user_id: int, query_id: str) -> str | None:
        """Make `query_id` the reader's latest; returns the pending query it supersedes, if any."""
        superseded = self._pending.get(user_id)
        self._pending[user_id] = query_id
        return superseded

    def is_latest(self, user_id: int, query_id: str) -> bool:
        """Whether no newer query of this reader has arrived."""
        return self._pending.get(user_id) == query_id

    def finish(self, user_id: int, query_id: str) -> bool:
        """Claim the right to answer `query_id`: True (and forgotten) while it is the latest, False once a
        newer query has superseded it (and answered it already)."""
        if self._pending.get(user_id) != query_id:
            return False
        del self._pending[user_id]
        return True


class BotData:
    """The application's `bot_data`, typed: python-telegram-bot creates it without arguments
    (`ContextTypes(bot_data=BotData)`), then `bot.app.build_application` sets `state`, `batch` and (through
    `bot.watches.setup`) `watching`, before the application starts."""

    state: BotState
    watching: Watching
    batch: Batch

    def __init__(self) -> None:
        self.debouncer = Debouncer()


# The `context` of every handler, error handler and job (chat_data and user_data stay unused dicts).
Context: TypeAlias = CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotData]
# The application as bot/app.py builds it. Its context type is left open: python-telegram-bot types
# `context.application` with an unbound one, which no fixed type would accept.
FootnoteApp: TypeAlias = Application[ExtBot[Any], Any, dict[Any, Any], dict[Any, Any], BotData, Any]
