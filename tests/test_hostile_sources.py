"""Issue 14, sources and indexing side: hostile feeds, pages, files and settings, each against the real
code path (the `footnote` process where users meet it) and a local HTTP server on 127.0.0.1 only."""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from index.errors import CorpusError, IndexCorruptError
from index.sources import corpus, fetch
from index.storage import store
from index.storage.faiss_store import FaissStore
from tests.helpers import ROOT
from tests.test_fetch import ARTICLE

Route = Callable[[BaseHTTPRequestHandler], None]


def send(body: bytes, kind: str = "text/html; charset=utf-8", **headers: str) -> Route:
    """A route answering 200 with `body`."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(body)

    return route


def trickle(head_too: bool) -> Route:
    """A route sending one byte every 50 ms (at most 1,000 of them) until the client goes away."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n"
        try:
            if head_too:
                for byte in head:
                    handler.wfile.write(bytes([byte]))
                    handler.wfile.flush()
                    time.sleep(0.05)
            else:
                handler.wfile.write(head)
            for _ in range(1000):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    return route


class Site:
    """A loopback HTTP server with routes set per test, recording every path asked for."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                site.requests.append(self.path)
                route = site.routes.get(self.path)
                if route is None:
                    send(b"not found", "text/plain")(self)
                    return
                route(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    yield server
    server.stop()


def rss(*links: str) -> bytes:
    items = "".join(
        f"<item><title>Item {i}</title><link>{link}</link>"
        f"<pubDate>Mon, 0{i % 9 + 1} Sep 2025 10:00:00 GMT</pubDate></item>"
        for i, link in enumerate(links)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()
    )


def article(title: str, canonical: str = "") -> bytes:
    page = ARTICLE.replace("Grain on the river", title)
    return page.replace('href="/news/grain-on-the-river"', f'href="{canonical}"').encode()


def footnote(
    tmp_path: Path, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """The real `footnote` command, with a hashing embedder and loopback fetching allowed."""
    (tmp_path / "seeds").mkdir(exist_ok=True)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FOOTNOTE_")},
        "FOOTNOTE_SEEDS_DIR": str(tmp_path / "seeds"),
        "FOOTNOTE_INDEX_DIR": str(tmp_path / "data" / "index"),
        "FOOTNOTE_EMBEDDER": "hashing",
        "FOOTNOTE_FETCH_ALLOW_PRIVATE": "true",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


LOCAL = fetch.FetchPolicy(timeout=5.0, max_bytes=200_000, allow_private=True)


# -- 1: a feed body is parsed as bytes, never opened as a file -----------------------------------------


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
def test_a_feed_body_naming_a_local_file_or_fifo_is_never_opened(site: Site, tmp_path: Path) -> None:
    local = tmp_path / "local.xml"
    local.write_bytes(rss(f"{site.url}/news/from-a-local-file"))
    fifo = tmp_path / "endless"
    os.mkfifo(fifo)  # opening it for reading would block forever, as /dev/zero would read forever
    site.routes["/news/from-a-local-file"] = send(article("Read from a local file"))
    site.routes["/file.rss"] = send(str(local).encode(), "application/rss+xml")
    site.routes["/fifo.rss"] = send(str(fifo).encode(), "application/rss+xml")
    result = footnote(tmp_path, "sync", FOOTNOTE_FEEDS=f"{site.url}/file.rss {site.url}/fifo.rss")
    assert result.returncode == 0, result.stderr
    assert "feeds: 0 new, 0 updated, 0 unchanged, 0 failed" in result.stdout
    assert "/news/from-a-local-file" not in site.requests, "the local file's entry was never fetched"
    assert not list((tmp_path / "seeds").rglob("*.md"))


# -- 4: SSRF -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
        "[2002:a00:1::]",  # 6to4 of 10.0.0.1
        "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::127.0.0.1]",  # IPv4-compatible
    ],
)
def test_ipv6_forms_of_private_addresses_are_refused(host: str) -> None:
    with pytest.raises(fetch.FetchError, match="private or local address"):
        fetch.check_address(f"http://{host}/x", fetch.FetchPolicy())


def test_ipv6_forms_of_public_addresses_pass() -> None:
    for host in ("[64:ff9b::808:808]", "[2002:808:808::1]", "8.8.8.8"):
        fetch.check_address(f"http://{host}/x", fetch.FetchPolicy())


@pytest.fixture
def rebinding_dns(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """`rebind.example` answers a public address, then 127.0.0.1, alternately (DNS rebinding); outgoing
    connections anywhere but loopback are refused on the spot, so nothing leaves the machine. Returns the
    list of addresses connections were opened to."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection
    answers = iter(["93.184.216.34", "127.0.0.1"] * 50)
    targets: list[object] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            address = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        targets.append(address[0])
        host = address[0]
        resolved = host if host != "rebind.example" else getaddrinfo(host, address[1])[0][4][0]
        if not ipaddress.ip_address(resolved).is_loopback:
            raise ConnectionRefusedError(f"test: no traffic to {resolved}")
        return real_connect((resolved, address[1]), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return targets


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(
    site: Site, tmp_path: Path, rebinding_dns: list[object]
) -> None:
    site.routes["/news/x"] = send(article("Internal page"))
    port = site.url.rsplit(":", 1)[1]
    written, failed = fetch.add([f"http://rebind.example:{port}/news/x"], tmp_path, fetch.FetchPolicy())
    assert written == [] and len(failed) == 1
    assert site.requests == [], "nothing reached the loopback server"
    assert "rebind.example" not in rebinding_dns, "connections go to the vetted address, never the name"


def test_environment_proxies_do_not_bypass_the_check(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rebinding_dns: list[object]
) -> None:
    site.routes["http://93.184.216.34/news/x"] = send(article("Through the proxy"))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, site.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    written, [problem] = fetch.add(["http://93.184.216.34/news/x"], tmp_path, fetch.FetchPolicy(timeout=2))
    assert written == [] and "could not be fetched" in str(problem)
    assert site.requests == [], "the proxy on loopback was never asked"
    assert rebinding_dns == ["93.184.216.34", "93.184.216.34"], "robots.txt, then the page, directly"


# -- 5: malformed links --------------------------------------------------------------------------------


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
def test_malformed_links_are_skipped_and_the_rest_of_the_feed_is_saved(site: Site, tmp_path: Path) -> None:
    long_url = f"{site.url}/{'a' * 70_000}"
    site.routes["/news/good"] = send(article("A good article"))
    site.routes["/feed.rss"] = send(
        rss("http://host:abc/", "http://127.0.0.1:99999/x", long_url, f"{site.url}/news/good"),
        "application/rss+xml",
    )
    result = footnote(tmp_path, "sync", FOOTNOTE_FEEDS=f"{site.url}/feed.rss")
    assert result.returncode == 1, "some entries failed"
    assert "Traceback" not in result.stderr
    assert "new web/127-0-0-1/news-good.md" in result.stdout
    assert "index updated: added 1" in result.stdout
    problems = result.stderr.splitlines()
    assert len(problems) == 3 and all(line.startswith("footnote: ") for line in problems)
    assert all(len(line) < 400 for line in problems), "one short line each, even for a 70,000-char URL"
    assert "http://host:abc/: malformed URL" in problems[0]
    assert "http://127.0.0.1:99999/x: malformed URL" in problems[1]
    assert "longer than 8000 characters" in problems[2]
    state = json.loads((tmp_path / "data" / "feeds.json").read_text(encoding="utf-8"))
    assert f"{site.url}/news/good" in state[f"{site.url}/feed.rss"]["entries"], "the sync state was saved"


# -- 6: a total deadline per page and per feed ---------------------------------------------------------


@pytest.mark.parametrize("head_too", [False, True], ids=["body", "headers"])
def test_a_trickling_page_is_cut_at_the_page_deadline(site: Site, head_too: bool) -> None:
    site.routes["/slow"] = trickle(head_too)
    policy = fetch.FetchPolicy(timeout=5.0, page_deadline=0.5, allow_private=True)
    with fetch.http_client(policy) as client, pytest.raises(fetch.FetchError) as caught:
        fetch.fetch(f"{site.url}/slow", policy, client, check_robots=False)
    assert str(caught.value) == f"{site.url}/slow: took longer than the 0.5 s limit for one page"


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
def test_a_feed_of_trickling_pages_is_cut_at_the_feed_deadline(site: Site, tmp_path: Path) -> None:
    from index.sources.feeds import sync

    site.routes["/feed.rss"] = send(rss(*(f"{site.url}/slow/{i}" for i in range(3))), "application/rss+xml")
    for i in range(3):
        site.routes[f"/slow/{i}"] = trickle(False)
    policy = fetch.FetchPolicy(timeout=5.0, page_deadline=60, feed_deadline=2.0, allow_private=True)
    report = sync([f"{site.url}/feed.rss"], tmp_path / "seeds", tmp_path / "feeds.json", policy)
    assert [str(p) for p in report.failed] == [
        f"{site.url}/slow/0: stopped: the feed's time limit has passed",
        f"{site.url}/feed.rss: took longer than the 2 s limit for one feed; 2 entries wait for the next sync",
    ]
    state = json.loads((tmp_path / "feeds.json").read_text(encoding="utf-8"))
    assert state[f"{site.url}/feed.rss"]["entries"] == {}, "cut entries are tried again next time"


# -- 9: canonical URLs -----------------------------------------------------------------------------------


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
def test_a_canonical_url_on_another_site_is_ignored(site: Site, tmp_path: Path) -> None:
    site.routes["/news/hijack"] = send(article("Hijack", "https://victim.example/news/stolen"))
    result = footnote(tmp_path, "add", f"{site.url}/news/hijack")
    assert result.returncode == 0, result.stderr
    assert "saved web/127-0-0-1/news-hijack.md" in result.stdout
    assert not (tmp_path / "seeds" / "web" / "victim-example").exists()
    saved = (tmp_path / "seeds" / "web" / "127-0-0-1" / "news-hijack.md").read_text(encoding="utf-8")
    assert f"url: {site.url}/news/hijack\n" in saved and "victim" not in saved


@pytest.mark.parametrize(
    ("fetched", "canonical", "kept"),
    [
        ("https://www.example.co.uk/a", "https://example.co.uk/b", "https://example.co.uk/b"),
        ("https://news.example.org/a?utm=1", "/a", "https://news.example.org/a"),
        ("https://example.org/a", "https://example.org.evil.net/a", "https://example.org/a"),
        ("https://blog.example.co.uk/a", "https://other.co.uk/a", "https://blog.example.co.uk/a"),
        ("http://127.0.0.1:8080/a", "http://127.0.0.2:8080/a", "http://127.0.0.1:8080/a"),
        ("https://example.org/a", "javascript:alert(1)", "https://example.org/a"),
        ("https://example.org/a", "https://example.org:abc/", "https://example.org/a"),
    ],
)
def test_canonical_urls_are_kept_only_on_the_same_registrable_domain(
    fetched: str, canonical: str, kept: str
) -> None:
    assert fetch.accepted_canonical(fetched, canonical) == kept


# -- 10: YAML alias bombs --------------------------------------------------------------------------------


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
def test_a_yaml_alias_bomb_is_refused_by_name_and_the_rest_still_indexes(tmp_path: Path) -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(4)]
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "bomb.md").write_text("---\n" + "\n".join(levels) + "\ntitle: *e\n---\nBody text.\n")
    (seeds / "good.md").write_text("---\ntitle: Apples\n---\nFarmers pick ripe apples in autumn.\n")
    result = footnote(tmp_path, "index")
    assert "Traceback" not in result.stderr
    assert "warning: bomb.md: front matter uses a YAML alias (*name) on line 3" in result.stderr
    assert "index updated: added 1" in result.stdout
    assert list(store.load(tmp_path / "data" / "index", FaissStore()).articles) == ["good.md"]


# -- 14: size limits ---------------------------------------------------------------------------------


def test_a_gzip_bomb_is_cut_as_it_inflates(site: Site) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)
    site.routes["/bomb"] = send(bomb, Content_Encoding="gzip")
    policy = fetch.FetchPolicy(max_bytes=200_000, allow_private=True)
    with fetch.http_client(policy) as client:
        tracemalloc.start()
        try:
            with pytest.raises(fetch.FetchError, match=r"larger than the 0\.2 MB limit"):
                fetch.fetch(f"{site.url}/bomb", policy, client, check_robots=False)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert len(bomb) < 100_000 and peak < 5_000_000, f"peak {peak} bytes while reading a 50 MB bomb"


def test_gzip_and_both_deflate_forms_decode() -> None:
    text = b"plain text " * 1000
    deflater = zlib.compressobj(wbits=-15)
    raw_deflate = deflater.compress(text) + deflater.flush()
    for body, encoding in (
        (gzip.compress(text), "gzip"),
        (zlib.compress(text), "deflate"),
        (raw_deflate, "deflate"),
    ):
        pieces = iter([body[:7], body[7:]])
        assert fetch.read_body("u", pieces, encoding, 100_000) == text
    with pytest.raises(fetch.FetchError, match="unsupported content encoding"):
        fetch.read_body("u", iter([b"x"]), "br", 100_000)


@pytest.mark.parametrize("name", ["文" * 300 + ".md", "\U00020000" * 300 + ".txt", "я" * 120 + ".md"])
def test_long_unicode_upload_names_are_cut_by_bytes_and_saved(name: str, tmp_path: Path) -> None:
    safe = corpus.safe_file_name(name)
    stem = safe.rsplit(".", 1)[0]
    assert len(stem.encode("utf-8")) <= 100 and stem and name.startswith(stem)
    added = corpus.add_file(tmp_path, name, b"An article with a long title in another script.")
    assert (tmp_path / added.doc_id).read_bytes().startswith(b"An article")


# -- 15: robustness ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda row: {**row, "unexpected": 1},
        lambda row: {k: v for k, v in row.items() if k != "text"},
        lambda row: {**row, "text": 5},
        lambda row: {**row, "body_start": "0"},
    ],
    ids=["unknown field", "missing field", "text not a string", "offset not a number"],
)
def test_a_malformed_articles_row_is_index_corrupt(
    tmp_path: Path, write_article: Callable[..., Path], change: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    from index.ingest.chunking import ChunkingParams
    from index.ingest.embedding import HashingEmbedder
    from index.ingest.indexing import build

    write_article("a.md", "Farmers pick ripe apples in autumn.", title="Apples")
    build(tmp_path / "seeds", tmp_path / "index", HashingEmbedder(), ChunkingParams(), FaissStore())
    generation = store.serving_generation(tmp_path / "index")
    path = generation / "articles.jsonl"
    [row] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    path.write_text(json.dumps(change(row)) + "\n", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match=r"articles\.jsonl: entry .* is malformed"):
        store.load(tmp_path / "index", FaissStore())


def test_feeds_json_forgets_entries_and_feeds_older_than_the_retention(site: Site, tmp_path: Path) -> None:
    from index.sources.feeds import sync

    site.routes["/news/fresh"] = send(article("Fresh"))
    site.routes["/feed.rss"] = send(rss(f"{site.url}/news/fresh"), "application/rss+xml")
    feed, gone = f"{site.url}/feed.rss", "https://removed.example/feed.rss"
    long_ago = time.time() - 100 * 86_400
    state_path = tmp_path / "feeds.json"
    state_path.write_text(
        json.dumps(
            {
                feed: {
                    "etag": None,
                    "modified": None,
                    "synced": long_ago,
                    "entries": {
                        f"{site.url}/news/dropped-from-the-feed": {"stamp": "x", "seen": long_ago},
                        f"{site.url}/news/old-format": "Mon, 01 Sep 2025 10:00:00 GMT",
                    },
                },
                gone: {
                    "etag": None,
                    "modified": None,
                    "synced": long_ago,
                    "entries": {"https://removed.example/a": None},
                },
            }
        ),
        encoding="utf-8",
    )
    report = sync([feed], tmp_path / "seeds", state_path, LOCAL, keep_days=90)
    assert report.added == ["web/127-0-0-1/news-fresh.md"]
    state = json.loads(state_path.read_text(encoding="utf-8"))
    assert list(state) == [feed], "a feed not synced for 100 days is forgotten"
    assert sorted(state[feed]["entries"]) == [f"{site.url}/news/fresh", f"{site.url}/news/old-format"]


def test_a_milvus_password_never_appears_in_an_error() -> None:
    from index.storage.milvus_store import MilvusStore

    uri, token = "http://root:Pa55-word@milvus.internal:19530", "root:T0ken-secret"
    milvus = MilvusStore(uri, token=token)
    echoed = Exception(f"Fail connecting to server on {uri}, token {token}, illegal connection params")
    message = str(milvus._failure("cannot connect", echoed))
    assert "Pa55-word" not in message and "T0ken-secret" not in message
    assert message.startswith("Milvus at http://root:***@milvus.internal:19530: cannot connect (")
    assert milvus.shown_uri == "http://root:***@milvus.internal:19530"


def test_corpus_errors_name_the_file_for_aliases_in_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "x.md"
    path.write_text("---\nbase: &b Apples\ntitle: *b\n---\nBody.\n")
    with pytest.raises(CorpusError, match=r"^x\.md: front matter uses a YAML alias"):
        corpus.load(corpus.SourceFile("x.md", path, "h"))
