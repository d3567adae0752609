"""`footnote add URL` against a local HTTP server: pages, redirects, errors, a slow page; no internet."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from index.sources import corpus, fetch
from tests.fake_telegram import FakeTelegram
from tests.helpers import ADMIN, Cli, bot_settings, started, stopped, text_has, wait

BODY = " ".join(
    f"Sentence {i} of a long analytical article about grain exports and river barges." for i in range(40)
)
ARTICLE = f"""<!doctype html><html><head><title>Grain on the river</title>
<meta name="author" content="Ann Writer"><link rel="canonical" href="/news/grain-on-the-river">
</head><body><nav>Home | About | Contact</nav><article><h1>Grain on the river</h1>
<p>{BODY}</p><p>Barges carry most of the harvest downstream &amp; to the port.</p></article>
<footer>Copyright</footer></body></html>"""
PAGES: dict[str, tuple[int, str, bytes]] = {
    "/news/grain-on-the-river": (200, "text/html; charset=utf-8", ARTICLE.encode()),
    "/robots.txt": (200, "text/plain", b"User-agent: *\nDisallow: /private/\n"),
    "/private/secret": (200, "text/html", ARTICLE.encode()),
    "/image.png": (200, "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 100),
    "/empty": (200, "text/html", b"<html><body><nav>menu</nav></body></html>"),
    "/paywall": (402, "text/html", b"pay first"),
    "/huge": (200, "text/html", b"<html>" + b"x" * 300_000 + b"</html>"),
}


SECOND = ARTICLE.replace("Grain on the river", "Barges in winter").replace(
    "grain-on-the-river", "barges-in-winter"
)
PAGES["/news/barges-in-winter"] = (200, "text/html", SECOND.encode())
RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>
<item><title>Grain</title><link>{site}/news/grain-on-the-river</link>
<pubDate>Mon, 01 Sep 2025 10:00:00 GMT</pubDate></item>
<item><title>Barges</title><link>{site}/news/barges-in-winter</link>
<pubDate>Tue, 02 Sep 2025 10:00:00 GMT</pubDate></item>
</channel></rss>"""
SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>{site}/news/grain-on-the-river</loc><lastmod>2025-09-01</lastmod></url>
<url><loc>{site}/missing</loc><lastmod>2025-09-03</lastmod></url>
</urlset>"""
REQUESTS: list[tuple[str, str | None]] = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        REQUESTS.append((self.path, self.headers.get("If-None-Match")))
        site = f"http://{self.headers['Host']}".encode()
        if self.path in {"/feed.rss", "/sitemap.xml"}:
            if self.headers.get("If-None-Match") == '"v1"':
                self.send_response(304)
                self.end_headers()
                return
            body = (RSS if self.path == "/feed.rss" else SITEMAP).replace(b"{site}", site)
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/old":
            self.send_response(301)
            self.send_header("Location", "/news/grain-on-the-river")
            self.end_headers()
            return
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
            return
        if self.path == "/slow":
            time.sleep(3)
        status, kind, body = PAGES.get(self.path, (404, "text/plain", b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that stops reading
            self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


LOCAL = fetch.FetchPolicy(timeout=1.0, max_bytes=200_000, allow_private=True)


def test_add_extracts_the_article_with_front_matter_and_follows_redirects(site: str, tmp_path: Path) -> None:
    written, failed = fetch.add([f"{site}/old"], tmp_path, LOCAL)
    assert not failed
    [doc_id] = written
    assert doc_id == "web/127-0-0-1/news-grain-on-the-river.md"
    [source] = corpus.scan(tmp_path)
    article = corpus.load(source)
    assert article.title == "Grain on the river"
    assert article.source == f"{site}/news/grain-on-the-river"
    assert article.author == "Ann Writer"
    assert "Barges carry most of the harvest downstream & to the port." in article.text
    assert "Home | About" not in article.text
    again, _ = fetch.add([f"{site}/news/grain-on-the-river"], tmp_path, LOCAL)
    assert again == written and len(corpus.scan(tmp_path)) == 1, "the same URL updates the same file"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing", "not found (HTTP 404)"),
        ("/paywall", "access denied (HTTP 402)"),
        ("/image.png", "not an HTML page (image/png)"),
        ("/empty", "no article text found"),
        ("/huge", "larger than"),
        ("/loop", "more than 5 redirects"),
        ("/slow", "no answer within"),
        ("/private/secret", "robots.txt"),
    ],
)
def test_bad_pages_are_clear_errors_and_write_nothing(
    site: str, tmp_path: Path, path: str, reason: str
) -> None:
    written, [problem] = fetch.add([f"{site}{path}"], tmp_path, LOCAL)
    assert written == [] and reason in str(problem) and str(problem).startswith(f"{site}{path}: ")
    assert not list(tmp_path.rglob("*.md"))


@pytest.mark.parametrize("url", ["ftp://example.org/a", "file:///etc/passwd", "javascript:alert(1)"])
def test_only_http_and_https(url: str) -> None:
    with httpx.Client() as client, pytest.raises(fetch.FetchError, match="only http"):
        fetch.fetch(url, fetch.FetchPolicy(), client)


def test_private_and_loopback_addresses_are_refused_by_default(site: str) -> None:
    for url in (
        f"{site}/news/grain-on-the-river",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://169.254.169.254/",
    ):
        with pytest.raises(fetch.FetchError, match="private or local address"):
            fetch.check_address(url, fetch.FetchPolicy())


def test_footnote_add_command_saves_and_indexes(
    site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    footnote = Cli(
        capsys,
        tmp_path,
        FOOTNOTE_SEEDS_DIR=str(tmp_path / "seeds"),
        FOOTNOTE_INDEX_DIR=str(tmp_path / "index"),
        FOOTNOTE_EMBEDDER="hashing",
        FOOTNOTE_FETCH_ALLOW_PRIVATE="true",
    )
    (tmp_path / "seeds").mkdir()
    result = footnote("add", f"{site}/news/grain-on-the-river", f"{site}/missing")
    assert result.returncode == 1, "one URL failed"
    assert "saved web/127-0-0-1/news-grain-on-the-river.md" in result.stdout
    assert "index updated: added 1" in result.stdout
    assert "/missing: not found (HTTP 404)" in result.stderr and "Traceback" not in result.stderr
    answer = footnote("ask", "What do barges carry downstream?", "--json")
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["passages"][0]["source"] == f"{site}/news/grain-on-the-river"


def test_sync_reads_feeds_and_sitemaps_conditionally_and_removes_nothing(site: str, tmp_path: Path) -> None:
    from index.sources.feeds import sync

    seeds, state = tmp_path / "seeds", tmp_path / "feeds.json"
    (seeds / "own.md").parent.mkdir(parents=True)
    (seeds / "own.md").write_text("An article the admin wrote by hand.")
    first = sync([f"{site}/feed.rss", f"{site}/sitemap.xml"], seeds, state, LOCAL)
    assert sorted(first.added) == [
        "web/127-0-0-1/news-barges-in-winter.md",
        "web/127-0-0-1/news-grain-on-the-river.md",
    ]
    assert [str(p) for p in first.failed] == [f"{site}/missing: not found (HTTP 404)"]
    assert first.unchanged == 1, "the sitemap's copy of an article just saved from the feed is unchanged"

    REQUESTS.clear()
    second = sync([f"{site}/feed.rss", f"{site}/sitemap.xml"], seeds, state, LOCAL)
    assert not second.changed and not second.failed
    assert ("/feed.rss", '"v1"') in REQUESTS, "the feed was asked for conditionally (ETag)"
    assert not any(path.startswith("/news/") for path, _ in REQUESTS), "304: no article fetched again"
    assert (seeds / "own.md").exists(), "a sync removes nothing"


def test_sync_command_needs_feeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = Cli(capsys, tmp_path)("sync")
    assert result.returncode == 1 and "FOOTNOTE_FEEDS is empty" in result.stderr


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
async def test_bot_add_command_and_scheduled_feed_sync(site: str, tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "apples.md").write_text(
        "---\ntitle: Apples\n---\nFarmers pick ripe apples in autumn.\n"
    )
    fake = FakeTelegram().start()
    settings = bot_settings(
        fake, tmp_path, fetch_allow_private=True, feeds=[f"{site}/feed.rss"], feeds_interval_minutes=60
    )
    application = await started(settings)
    try:
        [note] = await wait(fake, "sendMessage", text_has("Feeds synced: 2 new"))
        assert note.params["chat_id"] == ADMIN and "news-barges-in-winter.md" in note.params["text"]
        fake.push_message("barges carry harvest downstream to the port", user_id=7)
        [answer] = await wait(fake, "sendMessage", lambda c: c.params["chat_id"] == 7)
        assert "Barges carry most of the harvest downstream" in answer.params["text"]
        assert "#:~:text=" in answer.params["text"], "the citation points at the quoted sentence"

        fake.push_message(f"/add {site}/news/grain-on-the-river", user_id=8)
        await wait(fake, "sendMessage", text_has("Admins only"))
        fake.push_message(f"/add {site}/missing", user_id=ADMIN)
        await wait(fake, "sendMessage", text_has("not found (HTTP 404)"))
    finally:
        await stopped(application)
        fake.stop()


def test_atom_feeds_and_sitemap_indexes_are_read() -> None:
    from index.sources.feeds import entries

    atom = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title>
<entry><title>One</title><link href="https://blog.example/one"/><updated>2025-09-01T10:00:00Z</updated></entry>
<entry><title>Two</title><link href="https://blog.example/two"/><published>2025-09-02T10:00:00Z</published></entry>
</feed>"""
    page = fetch.Page("https://blog.example/atom.xml", atom, "application/atom+xml")
    assert entries(page) == [
        ("https://blog.example/one", "2025-09-01T10:00:00Z"),
        ("https://blog.example/two", "2025-09-02T10:00:00Z"),
    ]
    broken = fetch.Page("https://x.example/sitemap.xml", b"<urlset><url><loc>unclosed", "application/xml")
    assert entries(broken) == []


def test_a_feed_state_that_cannot_be_written_is_named(site: str, tmp_path: Path) -> None:
    from index.errors import FootnoteError
    from index.sources.feeds import sync

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should go")
    with pytest.raises(FootnoteError, match=r"not-a-folder/feeds\.json: cannot be written"):
        sync([f"{site}/feed.rss"], tmp_path / "seeds", blocker / "feeds.json", LOCAL)
