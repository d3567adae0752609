"""Keeping the corpus current: new and updated articles from RSS/Atom feeds and sitemaps (`footnote sync`).

Each feed is fetched conditionally (ETag / Last-Modified); an entry whose date has not moved since the
last sync is not fetched again, and a fetched article whose saved file would not change is left alone.
Nothing is ever removed by a sync. What the feeds said last time lives in `feeds.json` beside the index.
"""

from __future__ import annotations

import contextlib
import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

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


def sync(feeds: list[str], seeds_dir: Path, state_path: Path, policy: fetch.FetchPolicy) -> SyncReport:
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
        return _sync(feeds, seeds_dir, state_path, policy)


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


def _sync(feeds: list[str], seeds_dir: Path, state_path: Path, policy: fetch.FetchPolicy) -> SyncReport:
    state = _load_state(state_path)
    report = SyncReport()
    with httpx.Client(timeout=policy.timeout, follow_redirects=False) as client:
        for feed_url in feeds:
            known = state.setdefault(feed_url, {"etag": None, "modified": None, "entries": {}})
            try:
                page = fetch.fetch(
                    feed_url,
                    policy,
                    client,
                    check_robots=True,
                    etag=known["etag"],
                    last_modified=known["modified"],
                )
            except FetchError as exc:
                report.failed.append(exc)
                continue
            if page.not_modified:
                continue
            known["etag"], known["modified"] = page.etag, page.last_modified
            for link, stamp in entries(page)[:MAX_ENTRIES_PER_FEED]:
                if stamp and known["entries"].get(link) == stamp:
                    report.unchanged += 1
                    continue
                _save_entry(link, seeds_dir, policy, client, report)
                known["entries"][link] = stamp
    _save_state(state_path, state)
    return report


def entries(page: fetch.Page) -> list[tuple[str, str | None]]:
    """(link, updated-or-published stamp) of each entry of an RSS/Atom feed or a sitemap."""
    head = page.content.lstrip()[:500]
    if b"<urlset" in head or b"<sitemapindex" in head:
        return _sitemap_entries(page.content)
    import feedparser

    parsed = feedparser.parse(page.content)
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
    link: str, seeds_dir: Path, policy: fetch.FetchPolicy, client: httpx.Client, report: SyncReport
) -> None:
    try:
        article = fetch.extract(fetch.fetch(link, policy, client))
        target = seeds_dir / fetch.file_name(article)
        before = target.read_bytes() if target.exists() else None
        doc_id = fetch.save(seeds_dir, article)
    except FetchError as exc:
        report.failed.append(exc)
        return
    except CorpusError as exc:
        report.failed.append(FetchError(link, str(exc)))
        return
    if before is None:
        report.added.append(doc_id)
    elif before != target.read_bytes():
        report.updated.append(doc_id)
    else:
        report.unchanged += 1


def _load_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_state(path: Path, state: dict[str, Any]) -> None:
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=1, ensure_ascii=False), encoding="utf-8")
        temporary.replace(path)
