"""Step 0: articles from the web -> seed files with front matter (`footnote add URL`).

Polite and careful: a User-Agent naming Footnote, timeouts, a size limit, robots.txt respected, at most a
few redirects (each hop checked again), http(s) only, and no requests to private, loopback or link-local
addresses unless `allow_private` (tests turn it on for their local server). The page's main text, title,
author, date and canonical URL come from trafilatura; the article is written as `web/<host>/<slug>.md`
so adding the same URL again updates the same file. Nothing half-written reaches the seeds folder.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.robotparser
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import yaml

from index.errors import CorpusError, FetchError
from index.sources import corpus

USER_AGENT = "FootnoteBot/0.1 (article indexer; respects robots.txt)"
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits for fetching pages."""

    timeout: float = 10.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    allow_private: bool = False
    user_agent: str = USER_AGENT


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched page: where it finally came from, its bytes, and its caching validators."""

    url: str
    content: bytes
    content_type: str
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


@dataclass(frozen=True, slots=True)
class WebArticle:
    """The article extracted from a page."""

    url: str
    title: str
    text: str
    author: str | None
    date: str | None


def check_address(url: str, policy: FetchPolicy) -> None:
    """Refuse non-http(s) URLs, and hosts that resolve to private or loopback addresses unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise FetchError(url, "only http:// and https:// URLs can be added")
    if policy.allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror:
        raise FetchError(url, f"the host {parts.hostname} cannot be resolved") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise FetchError(url, f"refusing to fetch from a private or local address ({address})")


def fetch(
    url: str,
    policy: FetchPolicy,
    client: httpx.Client,
    *,
    check_robots: bool = True,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Page:
    """GET a page within the policy's limits, following a bounded number of redirects; with `etag` or
    `last_modified` the request is conditional and an unchanged page comes back as `not_modified`."""
    if check_robots and not robots_allow(url, policy, client):
        raise FetchError(url, "robots.txt of this site does not allow fetching it")
    current = url
    for _ in range(policy.max_redirects + 1):
        check_address(current, policy)
        try:
            headers = {"User-Agent": policy.user_agent}
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            with client.stream("GET", current, headers=headers) as response:
                if response.status_code == 304:
                    return Page(str(response.url), b"", "", etag, last_modified, not_modified=True)
                if response.is_redirect and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                if response.status_code == 404:
                    raise FetchError(url, "not found (HTTP 404)")
                if response.status_code in {401, 402, 403}:
                    raise FetchError(url, f"access denied (HTTP {response.status_code}); a paywall or login?")
                if response.status_code >= 400:
                    raise FetchError(url, f"the server answered HTTP {response.status_code}")
                content = bytearray()
                for piece in response.iter_bytes():
                    content += piece
                    if len(content) > policy.max_bytes:
                        raise FetchError(url, f"larger than the {policy.max_bytes // 1_000_000} MB limit")
                return Page(
                    str(response.url),
                    bytes(content),
                    response.headers.get("content-type", ""),
                    response.headers.get("etag"),
                    response.headers.get("last-modified"),
                )
        except httpx.TimeoutException:
            raise FetchError(url, f"no answer within {policy.timeout:.0f} s") from None
        except httpx.HTTPError as exc:
            raise FetchError(url, f"could not be fetched ({type(exc).__name__})") from None
    raise FetchError(url, f"more than {policy.max_redirects} redirects")


def robots_allow(url: str, policy: FetchPolicy, client: httpx.Client) -> bool:
    """What the site's robots.txt says for our User-Agent (allowed when there is none)."""
    parts = urlsplit(url)
    robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
    try:
        page = fetch(robots_url, policy, client, check_robots=False)
    except FetchError:
        return True
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(page.content.decode("utf-8", errors="replace").splitlines())
    return parser.can_fetch(policy.user_agent, url)


def extract(page: Page) -> WebArticle:
    """The main text and metadata of an HTML page (trafilatura); FetchError when there is none."""
    if "html" not in page.content_type.lower() and not page.content.lstrip()[:15].lower().startswith(
        b"<!doctype html"
    ):
        raise FetchError(page.url, f"not an HTML page ({page.content_type or 'unknown type'})")
    import trafilatura

    document = trafilatura.bare_extraction(
        page.content, url=page.url, with_metadata=True, include_comments=False
    )
    text = getattr(document, "text", None) if document is not None else None
    if not text or len(text.split()) < 30:
        raise FetchError(page.url, "no article text found on the page (empty, a paywall, or not an article)")
    paragraphs = "\n\n".join(line.strip() for line in text.splitlines() if line.strip())
    canonical = getattr(document, "url", None) or page.url
    title = getattr(document, "title", None) or paragraphs.split("\n", 1)[0][:200]
    return WebArticle(
        url=canonical,
        title=title,
        text=paragraphs,
        author=getattr(document, "author", None),
        date=getattr(document, "date", None),
    )


def file_name(article: WebArticle) -> str:
    """`web/<host>/<slug>.md`, the same for the same canonical URL."""
    parts = urlsplit(article.url)
    host = _SLUG.sub("-", (parts.hostname or "site").lower()).strip("-") or "site"
    slug = _SLUG.sub("-", parts.path.lower()).strip("-")[:80] or "index"
    return f"web/{host}/{slug}.md"


def save(seeds_dir: Path, article: WebArticle) -> str:
    """Write (or update) the article as a seed file with YAML front matter; returns its doc_id."""
    meta = {"title": article.title, "url": article.url}
    if article.author:
        meta["author"] = article.author
    if article.date:
        meta["date"] = article.date
    header = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)
    data = f"---\n{header}---\n{article.text}\n".encode()
    name = file_name(article)
    target = seeds_dir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    added = corpus.add_file(target.parent, target.name, data, replace=True)
    return corpus.doc_id_for(target.parent / added.doc_id, seeds_dir)


def add(urls: list[str], seeds_dir: Path, policy: FetchPolicy) -> tuple[list[str], list[FetchError]]:
    """Fetch, extract and save each URL; returns the doc_ids written and the URLs that failed."""
    written: list[str] = []
    failed: list[FetchError] = []
    with httpx.Client(timeout=policy.timeout, follow_redirects=False) as client:
        for url in urls:
            try:
                written.append(save(seeds_dir, extract(fetch(url, policy, client))))
            except FetchError as exc:
                failed.append(exc)
            except CorpusError as exc:
                failed.append(FetchError(url, str(exc)))
    return written, failed
