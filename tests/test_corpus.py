"""Loading articles: formats, front matter, titles, ids, and clear errors for bad files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from index.errors import CorpusError
from index.sources import corpus
from tests.helpers import SEEDS, SHARED


def load_one(path: Path, seeds: Path) -> corpus.Article:
    [source] = [s for s in corpus.scan(seeds) if s.path == path]
    return corpus.load(source)


def test_front_matter_gives_metadata_and_offsets_count_from_file_start(
    write_article: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_article(
        "a.md", "Body line one.\n\nSecond paragraph.", title="A title", url="https://ex.org/a"
    )
    article = load_one(path, tmp_path / "seeds")
    assert article.title == "A title"
    assert article.source == "https://ex.org/a"
    assert article.text == path.read_text(encoding="utf-8")
    assert article.text[article.body_start :].startswith("Body line one.")


def test_title_falls_back_to_first_line(write_article: Callable[..., Path], tmp_path: Path) -> None:
    path = write_article("notes/b.txt", "\n\n# The heading\n\nText of the article.")
    article = load_one(path, tmp_path / "seeds")
    assert article.title == "The heading"
    assert article.doc_id == "notes/b.txt"
    assert article.body_start == 0


def test_html_goes_through_the_main_text_extractor(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    body = "This is the first paragraph of a real article with enough words to count as content. " * 4
    (seeds / "page.html").write_text(
        f"<html><head><title>Page title</title></head><body><nav>Home | About</nav>"
        f"<article><h1>Big news</h1><p>{body}</p><p>Second paragraph &amp; more.</p></article>"
        f"<footer>Copyright</footer></body></html>",
        encoding="utf-8",
    )
    article = load_one(seeds / "page.html", seeds)
    assert "first paragraph of a real article" in article.text
    assert "Second paragraph & more." in article.text
    assert "Home | About" not in article.text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xff\xfe bad bytes \xc3\x28", "is not UTF-8 text"),
        (b"---\nlang: en\ntitle: a: b\n---\nBody", "front matter is not valid YAML (line 3)"),
        (b"---\ntitle: x\nBody without an end", "never ends"),
        (b"---\n- a list\n---\nBody", "must be a YAML mapping"),
        (b"   \n\n  ", "has no article text"),
        (b"---\ntitle: only metadata\n---\n\n", "has no article text"),
    ],
)
def test_bad_files_name_the_file_and_the_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "bad.md").write_bytes(content)
    with pytest.raises(CorpusError) as caught:
        corpus.load(corpus.scan(seeds)[0])
    assert str(caught.value).startswith("bad.md: ")
    assert reason in str(caught.value)


def test_scan_skips_hidden_and_unknown_files(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    (seeds / ".git").mkdir(parents=True)
    (seeds / ".git" / "x.txt").write_text("hidden")
    (seeds / "image.png").write_bytes(b"\x89PNG")
    (seeds / "ok.txt").write_text("fine")
    assert [s.doc_id for s in corpus.scan(seeds)] == ["ok.txt"]


def test_missing_seeds_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="seeds folder not found"):
        corpus.scan(tmp_path / "nope")


def test_seed_article_text_is_unchanged_from_the_users_file() -> None:
    original = SHARED / "seeds" / "000_8ba366a7ccf8e19c.txt"
    if not original.exists():
        pytest.skip("../shared/seeds is not beside this checkout")
    [source] = corpus.scan(SEEDS)
    article = corpus.load(source)
    assert article.text[article.body_start :] == original.read_text(encoding="utf-8")
    assert article.title == "“Iskander” in Belarus: never ever"


def test_titles_lose_bidirectional_and_c1_controls(
    write_article: Callable[..., Path], tmp_path: Path
) -> None:
    write_article("hostile.md", "Body text of the article.", title="Invoice\u202efdp.exe\x85")
    [source] = corpus.scan(tmp_path / "seeds")
    assert corpus.load(source).title == "Invoice fdp.exe"
