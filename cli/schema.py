"""The JSON shapes of the CLI contract (`footnote ask --json/--jsonl`, `footnote sync --json`, `footnote watch
list --json`), kept stable for other tools.

Answers go out through the one serialiser the bot also stores its answers with (index/query/answer_json.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from index.ingest.indexing import IndexReport
from index.query.answer_json import answer_json, dump, quote_json
from index.query.watches import Notice, Watch
from index.sources.feeds import SyncReport

__all__ = [
    "QuestionIn",
    "SyncOut",
    "WatchOut",
    "answer_json",
    "dump",
    "sync_out",
    "watch_out",
]


class QuestionIn(BaseModel):
    """One input line of `footnote ask --jsonl`."""

    model_config = ConfigDict(extra="allow")

    id: str | int | None = None
    question: str


class WatchOut(BaseModel):
    """One of the terminal's watches (`footnote watch list --json`); `told`: passages it was told about."""

    id: int
    question: str
    created_at: str
    told: int


class WatchMatchOut(BaseModel):
    """A watch that new passages answer: its id and question, and the new quotes (at most three)."""

    id: int
    question: str
    generation: str
    quotes: list[dict[str, Any]]  # index/query/answer_json.py's quotes


class IndexedOut(BaseModel):
    """What the index run after a sync did."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int
    chunks: int
    generation: str | None


class SyncOut(BaseModel):
    """`footnote sync --json`: the articles the feeds brought, the index run (null when nothing changed)
    and the terminal's watches that new passages answer."""

    added: list[str]
    updated: list[str]
    unchanged: int
    failed: list[str]
    index: IndexedOut | None
    watches: list[WatchMatchOut]


def watch_out(watch: Watch) -> WatchOut:
    """A watch in its JSON form."""
    return WatchOut(id=watch.id, question=watch.question, created_at=watch.created_at, told=len(watch.told))


def sync_out(report: SyncReport, indexed: IndexReport | None, notices: list[Notice]) -> SyncOut:
    """A sync, its index run and the watches' notices in their JSON form."""
    return SyncOut(
        added=list(report.added),
        updated=list(report.updated),
        unchanged=report.unchanged,
        failed=[str(problem) for problem in report.failed],
        index=IndexedOut(
            added=list(indexed.added),
            changed=list(indexed.changed),
            removed=list(indexed.removed),
            unchanged=len(indexed.unchanged),
            chunks=indexed.chunks,
            generation=indexed.generation,
        )
        if indexed is not None
        else None,
        watches=[
            WatchMatchOut(
                id=n.watch_id,
                question=n.question,
                generation=n.generation,
                quotes=[quote_json(q) for q in n.quotes],
            )
            for n in notices
        ],
    )
