"""Keeping the corpus current: new and updated articles from RSS/Atom feeds and sitemaps (`footnote sync`).

Each feed is fetched conditionally (ETag / Last-Modified); an entry whose date has not moved since the
last sync is not fetched again, and a fetched article whose saved file would not change is left alone.
Nothing is ever removed by a sync. What the feeds said last time lives in `feeds.json` beside the index;
an entry no feed has listed for `keep_days` (and a feed no longer synced for as long) is forgotten there.

A feed body is only ever parsed as the bytes it is (never taken for a file name or URL). A bad entry (a
malformed link, a page that fails) is reported in one line and skipped; the rest of the feed is saved, and
the sync state is written even when something goes wrong. Each feed has a total time limit
(`FetchPolicy.feed_deadline`): entries left when it passes wait for the next sync.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from config.defaults import FEEDS_KEEP_DAYS
from index.errors import CorpusError, FetchError, FootnoteError
from index.sources import fetch
from index.storage import store

_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
MAX_ENTRIES_PER_FEED = 200


@dataclass(slots=True)
class SyncReport:
    """What one sync did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[FetchError] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything was written (so the index needs updating)."""
        return bool(self.added or self.updated)

    def summary(self) -> str:
        """One line for people."""
        return (
            f"{len(self.added)} new, {len(self.updated)} updated, {self.unchanged} unchanged, "
            f"{len(self.failed)} failed"
        )


def sync(
    feeds: list[str],
    seeds_dir: Path,
    state_path: Path,
    policy: fetch.FetchPolicy,
    keep_days: float = FEEDS_KEEP_DAYS,
) -> SyncReport:
    """Fetch every feed or sitemap and save its new and updated articles into the seeds folder. One sync
    at a time (bot replicas each run the schedule): another one running raises IndexBusyError."""
    with contextlib.ExitStack() as held:
        with _writing(state_path):
            state_path.parent.mkdir(parents=True, exist_ok=True)
            held.enter_context(
                store.file_lock(
                    state_path.with_name(".feeds.lock"),
                    wait=False,
                    busy="another feed sync is running; it will pick this up",
                )
            )
        return _sync(feeds, seeds_dir, state_path, policy, keep_days)


@contextlib.contextmanager
def _writing(state_path: Path) -> Iterator[None]:
    """The operating system's refusals to write the feeds' state (or take its lock beside it), as a
    FootnoteError naming the file."""
    try:
        yield
    except OSError as exc:
        raise FootnoteError(
            f"{state_path}: cannot be written ({exc.strerror or exc}); check FOOTNOTE_DATA_DIR's permissions"
        ) from exc


def _sync(
    feeds: list[str], seeds_dir: Path, state_path: Path, policy: fetch.FetchPolicy, keep_days: float
) -> SyncReport:
    state = _load_state(state_path)
    report = SyncReport()
    now = time.time()
    try:
        with fetch.http_client(policy) as client:
            for feed_url in feeds:
                known = state.setdefault(feed_url, {"etag": None, "modified": None, "entries": {}})
                _sync_feed(feed_url, known, seeds_dir, policy, client, report, now)
    finally:
        _save_state(state_path, forget_old(state, now, keep_days))
    return report


def _sync_feed(
    feed_url: str,
    known: dict[str, Any],
    seeds_dir: Path,
    policy: fetch.FetchPolicy,
    client: httpx.Client,
    report: SyncReport,
    now: float,
) -> None:
    deadline = time.monotonic() + policy.feed_deadline
    try:
        page = fetch.fetch(
            feed_url,
            policy,
            client,
            check_robots=True,
            etag=known["etag"],
            last_modified=known["modified"],
            deadline=deadline,
        )
    except FetchError as exc:
        report.failed.append(exc)
        return
    known["synced"] = now
    seen: dict[str, dict[str, Any]] = known["entries"]
    if page.not_modified:
        for entry in seen.values():
            entry["seen"] = now
        return
    known["etag"], known["modified"] = page.etag, page.last_modified
    listed = entries(page)[:MAX_ENTRIES_PER_FEED]
    for number, (link, stamp) in enumerate(listed):
        if time.monotonic() >= deadline:
            report.failed.append(
                FetchError(
                    feed_url,
                    f"took longer than the {policy.feed_deadline:g} s limit for one feed; "
                    f"{len(listed) - number} entries wait for the next sync",
                )
            )
            return
        before = seen.get(link)
        if stamp and before is not None and before.get("stamp") == stamp:
            before["seen"] = now
            report.unchanged += 1
            continue
        finished = _save_entry(link, seeds_dir, policy, client, report, deadline)
        if finished and len(link) <= fetch.MAX_URL_CHARS:  # an over-long link is reported, never stored
            seen[link] = {"stamp": stamp, "seen": now}


def entries(page: fetch.Page) -> list[tuple[str, str | None]]:
    """(link, updated-or-published stamp) of each entry of an RSS/Atom feed or a sitemap."""
    head = page.content.lstrip()[:500]
    if b"<urlset" in head or b"<sitemapindex" in head:
        return _sitemap_entries(page.content)
    import feedparser

    # A stream, never bytes or str: feedparser opens those as a file name or fetches them as a URL.
    parsed = feedparser.parse(io.BytesIO(page.content))
    found = []
    for entry in parsed.entries:
        link = entry.get("link")
        keys = set(entry.keys())  # entry.get("updated") falls back to "published" with a deprecation warning
        stamp = entry["updated"] if "updated" in keys else entry["published"] if "published" in keys else None
        if link:
            found.append((str(link), stamp))
    return found


def _sitemap_entries(content: bytes) -> list[tuple[str, str | None]]:
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError:
        return []
    found = []
    for url in root.iter(f"{_SITEMAP_NS}url"):
        location = url.findtext(f"{_SITEMAP_NS}loc")
        if location:
            found.append((location.strip(), url.findtext(f"{_SITEMAP_NS}lastmod")))
    return found


def _save_entry(
    link: str,
    seeds_dir: Path,
    policy: fetch.FetchPolicy,
    client: httpx.Client,
    report: SyncReport,
    deadline: float,
) -> bool:
    """Fetch and save one entry; False when the feed's time ran out first (so it is tried next time)."""
    try:
        article = fetch.extract(fetch.fetch(link, policy, client, deadline=deadline))
        target = seeds_dir / fetch.file_name(article)
        before = target.read_bytes() if target.exists() else None
        doc_id = fetch.save(seeds_dir, article)
    except FetchError as exc:
        report.failed.append(exc)
        return time.monotonic() < deadline
    except CorpusError as exc:
        report.failed.append(FetchError(link, str(exc)))
        return True
    if before is None:
        report.added.append(doc_id)
    elif before != target.read_bytes():
        report.updated.append(doc_id)
    else:
        report.unchanged += 1
    return True


def forget_old(state: dict[str, Any], now: float, keep_days: float) -> dict[str, Any]:
    """The sync state without entries no feed has listed for `keep_days`, nor feeds not synced for as
    long (e.g. removed from FOOTNOTE_FEEDS), so `feeds.json` does not grow forever."""
    oldest = now - keep_days * 86_400
    kept: dict[str, Any] = {}
    for feed_url, known in state.items():
        if known.get("synced", now) < oldest:
            continue
        known["entries"] = {
            link: entry for link, entry in known["entries"].items() if entry.get("seen", now) >= oldest
        }
        kept[feed_url] = known
    return kept


def _load_state(path: Path) -> dict[str, Any]:
    """The last sync's state; anything malformed in it is dropped (it only saves refetching)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    now = time.time()
    state: dict[str, Any] = {}
    for feed_url, known in data.items():
        if not isinstance(known, dict):
            continue
        found = known.get("entries")
        found = found if isinstance(found, dict) else {}
        state[feed_url] = {
            "etag": known.get("etag") if isinstance(known.get("etag"), str) else None,
            "modified": known.get("modified") if isinstance(known.get("modified"), str) else None,
            "synced": _number(known.get("synced"), now),
            # Before entries had a "seen" time, each was just its stamp (a string or null).
            "entries": {
                link: {"stamp": entry.get("stamp"), "seen": _number(entry.get("seen"), now)}
                if isinstance(entry, dict)
                else {"stamp": entry if isinstance(entry, str) else None, "seen": now}
                for link, entry in found.items()
            },
        }
    return state


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _save_state(path: Path, state: dict[str, Any]) -> None:
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps(state, indent=1, ensure_ascii=False), encoding="utf-8", errors="replace"
        )
        temporary.replace(path)
