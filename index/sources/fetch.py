"""Step 0: articles from the web -> seed files with front matter (`footnote add URL`).

Polite and careful: a User-Agent naming Footnote, a timeout per read and a deadline per page, a size limit
on the decoded body (checked as it streams, so a gzip bomb never inflates), robots.txt respected, at most a
few redirects (each hop checked again), http(s) only, and no requests to private, loopback or link-local
addresses unless `allow_private` (tests turn it on for their local server).

The address check happens where the connection is made (`_VettingBackend`): the host is resolved once,
every address is checked (IPv4 inside NAT64, 6to4, Teredo and mapped IPv6 forms too), and the socket
connects to exactly those addresses, so a DNS answer that changes between check and use (rebinding) gets
nowhere. TLS keeps the host name for SNI and certificate checks; environment proxy settings are ignored.

The page's main text, title, author, date and canonical URL come from trafilatura; a canonical URL on
another site is ignored. The article is written as `web/<host>/<slug>.md` so adding the same URL again
updates the same file. Nothing half-written reaches the seeds folder.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
import socket
import ssl
import time
import typing
import urllib.robotparser
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
import yaml

from config.defaults import (
    FEEDS_DEADLINE,
    FETCH_ALLOW_PRIVATE,
    FETCH_DEADLINE,
    FETCH_MAX_BYTES,
    FETCH_TIMEOUT,
)
from index.errors import CorpusError, FetchError
from index.sources import corpus

USER_AGENT = "FootnoteBot/0.1 (article indexer; respects robots.txt)"
_SLUG = re.compile(r"[^a-z0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_URL_CHARS = 8_000
# Bodies are decoded here, as they stream, so only encodings we can decode with a size cap are asked for.
_ACCEPT_ENCODING = "gzip, deflate"


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits for fetching pages."""

    timeout: float = FETCH_TIMEOUT
    max_bytes: int = FETCH_MAX_BYTES
    # Whole-page and whole-feed limits: a server that trickles bytes never holds a fetch longer.
    page_deadline: float = FETCH_DEADLINE
    feed_deadline: float = FEEDS_DEADLINE
    max_redirects: int = 5
    allow_private: bool = FETCH_ALLOW_PRIVATE
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
    """Refuse malformed and non-http(s) URLs, and literal private or loopback addresses unless allowed.
    Host names are resolved and checked when the connection is made (`_VettingBackend`)."""
    if len(url) > MAX_URL_CHARS:
        raise FetchError(url, f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise FetchError(url, f"malformed URL ({_CONTROL.sub('?', str(exc))[:100]})") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise FetchError(url, "only http:// and https:// URLs can be added")
    if port == 0:
        raise FetchError(url, "malformed URL (port 0)")
    if policy.allow_private:
        return
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return
    reason = refusal(address)
    if reason:
        raise FetchError(url, reason)


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: mapped, NAT64, 6to4, Teredo (both ends), compatible."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in network for network in _NAT64) or address in _IPV4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why Footnote will not connect to `address`, or None when it is a public address."""
    inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else []
    if not address.is_global or any(not ipv4.is_global for ipv4 in inner):
        return f"refusing to fetch from a private or local address ({address})"
    return None


class _Refused(Exception):
    """A host that cannot be resolved or may not be reached, raised inside the transport; `fetch` turns
    it into a FetchError naming the URL."""


class _DeadlinePassed(Exception):
    """Raised inside the transport when the page's whole deadline has passed."""


# The monotonic time by which the current page must be complete, read by the streams of the transport.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("fetch_deadline", default=None)


def _remaining(timeout: float | None) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise _DeadlinePassed
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write also stops at the page's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return self._inner.read(max_bytes, _remaining(timeout))
        except httpcore.ReadTimeout:
            _remaining(None)
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _VettingBackend(httpcore.NetworkBackend):
    """Resolves a host once, refuses it when any address is not public (unless allowed), and connects
    to exactly the addresses it checked."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _remaining(timeout)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise _Refused(f"the host {host} cannot be resolved") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not self._allow_private:
            for address in addresses:
                reason = refusal(address)
                if reason:
                    raise _Refused(reason)
        failure: Exception = httpcore.ConnectError(f"the host {host} has no address")
        for address in addresses:
            try:
                stream = self._sockets.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream)
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise _Refused("refusing to connect to a local socket")

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)


class _VettingTransport(httpx.HTTPTransport):
    """httpx's transport with the connection pool on `_VettingBackend`."""

    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=10,
            keepalive_expiry=5.0,
            network_backend=_VettingBackend(allow_private=policy.allow_private),
        )


def http_client(policy: FetchPolicy) -> httpx.Client:
    """The HTTP client every page and feed is fetched with: addresses checked at connect time, no
    environment proxies or certificates, no automatic redirects (each hop is checked by `fetch`)."""
    return httpx.Client(
        transport=_VettingTransport(policy),
        timeout=policy.timeout,
        follow_redirects=False,
        trust_env=False,
    )


def fetch(
    url: str,
    policy: FetchPolicy,
    client: httpx.Client,
    *,
    check_robots: bool = True,
    etag: str | None = None,
    last_modified: str | None = None,
    deadline: float | None = None,
) -> Page:
    """GET a page within the policy's limits, following a bounded number of redirects; with `etag` or
    `last_modified` the request is conditional and an unchanged page comes back as `not_modified`.
    The whole page (robots.txt and redirects included) must arrive within `policy.page_deadline`, and by
    `deadline` (a `time.monotonic()` value, e.g. the feed's) when given."""
    page_deadline = time.monotonic() + policy.page_deadline
    limit = page_deadline if deadline is None else min(page_deadline, deadline)
    token = _DEADLINE.set(limit)
    try:
        if check_robots and not robots_allow(url, policy, client):
            raise FetchError(url, "robots.txt of this site does not allow fetching it")
        return _fetch(url, policy, client, etag, last_modified)
    except _DeadlinePassed:
        if deadline is not None and deadline < page_deadline:
            raise FetchError(url, "stopped: the feed's time limit has passed") from None
        raise FetchError(url, f"took longer than the {policy.page_deadline:g} s limit for one page") from None
    except _Refused as exc:
        raise FetchError(url, str(exc)) from None
    finally:
        _DEADLINE.reset(token)


def _fetch(
    url: str, policy: FetchPolicy, client: httpx.Client, etag: str | None, last_modified: str | None
) -> Page:
    current = url
    for _ in range(policy.max_redirects + 1):
        check_address(current, policy)
        try:
            headers = {"User-Agent": policy.user_agent, "Accept-Encoding": _ACCEPT_ENCODING}
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
                content = read_body(
                    url, response.iter_raw(), response.headers.get("content-encoding", ""), policy.max_bytes
                )
                return Page(
                    str(response.url),
                    content,
                    response.headers.get("content-type", ""),
                    response.headers.get("etag"),
                    response.headers.get("last-modified"),
                )
        except httpx.TimeoutException:
            raise FetchError(url, f"no answer within {policy.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise FetchError(url, f"could not be fetched ({type(exc).__name__})") from None
    raise FetchError(url, f"more than {policy.max_redirects} redirects")


def read_body(url: str, raw: Iterator[bytes], encoding: str, max_bytes: int) -> bytes:
    """The decoded body, never more than `max_bytes` of it in memory: gzip and deflate are inflated
    piece by piece with a cap, so a small compressed body cannot expand past the limit."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip().lower() not in {"", "identity"}]
    if len(codings) > 1 or (codings and codings[0] not in {"gzip", "x-gzip", "deflate"}):
        raise FetchError(url, f"the server sent an unsupported content encoding ({encoding[:40]})")
    too_large = FetchError(url, f"larger than the {max_bytes / 1_000_000:g} MB limit")
    content = bytearray()
    if not codings:
        for piece in raw:
            content += piece
            if len(content) > max_bytes:
                raise too_large
        return bytes(content)
    # wbits 47 reads a zlib or a gzip header; "deflate" sent without the zlib header is raw deflate (-15).
    inflater = zlib.decompressobj(47)
    started = False
    for piece in raw:
        try:
            try:
                data = inflater.decompress(piece, max_bytes + 1 - len(content))
            except zlib.error:
                if started or codings[0] != "deflate":
                    raise
                inflater = zlib.decompressobj(-15)
                data = inflater.decompress(piece, max_bytes + 1 - len(content))
        except zlib.error:
            raise FetchError(url, f"the {codings[0]} body is corrupt") from None
        started = started or bool(piece)
        content += data
        if inflater.unconsumed_tail or len(content) > max_bytes:
            raise too_large
    content += inflater.flush()
    if len(content) > max_bytes:
        raise too_large
    return bytes(content)


def robots_allow(url: str, policy: FetchPolicy, client: httpx.Client) -> bool:
    """What the site's robots.txt says for our User-Agent (allowed when there is none)."""
    parts = urlsplit(url)
    robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
    try:
        page = fetch(robots_url, policy, client, check_robots=False, deadline=_DEADLINE.get())
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
    canonical = accepted_canonical(page.url, getattr(document, "url", None))
    title = getattr(document, "title", None) or paragraphs.split("\n", 1)[0][:200]
    return WebArticle(
        url=canonical,
        title=title,
        text=paragraphs,
        author=getattr(document, "author", None),
        date=getattr(document, "date", None),
    )


def accepted_canonical(fetched: str, canonical: str | None) -> str:
    """The page's canonical URL when it is on the fetched URL's host or registrable domain (so
    `www.example.org` may name `example.org`); otherwise the fetched URL, so that no page can claim to
    be another site's article."""
    if not canonical:
        return fetched
    candidate = urljoin(fetched, canonical.strip())
    try:
        theirs, ours = urlsplit(candidate), urlsplit(fetched)
        theirs.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return fetched
    if theirs.scheme not in {"http", "https"} or not theirs.hostname or len(candidate) > MAX_URL_CHARS:
        return fetched
    if theirs.hostname == ours.hostname:
        return candidate
    mine = registrable_domain(ours.hostname or "")
    return candidate if mine is not None and mine == registrable_domain(theirs.hostname) else fetched


def registrable_domain(host: str) -> str | None:
    """`example.co.uk` for `www.example.co.uk` (the Public Suffix List, shipped with `tld`); None for IP
    addresses and hosts without a known public suffix."""
    from tld import get_fld
    from tld.exceptions import TldBadUrl, TldDomainNotFound

    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        domain = get_fld(host.lower().rstrip("."), fix_protocol=True)
    except (TldBadUrl, TldDomainNotFound, ValueError):
        return None
    return str(domain) if domain else None


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
    with http_client(policy) as http:
        for url in urls:
            try:
                written.append(save(seeds_dir, extract(fetch(url, policy, http))))
            except FetchError as exc:
                failed.append(exc)
            except CorpusError as exc:
                failed.append(FetchError(url, str(exc)))
    return written, failed
