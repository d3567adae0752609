"""Write the documents the reader's training questions are written over (index/training/articles/).

Two sources of real text no one here wrote, both inside the gensim 4.4.0 wheel:
- the Lee news corpus (`lee_background.cor`, one article a line): every article that is in neither
  eval/news/articles/ nor ../shared/reader-train/articles/ (those are evaluation and given training data);
- the Wikipedia sample (`enwiki-...-shortened.bz2`): real articles of over 500 words, redirects dropped,
  taken in file order and cut into sections. Only the articles that are among the first 60 under any
  reasonable count of "over 500 words" are used (see WIKI_LAST); the rest are reserved for held-out
  evaluation and must never be read here.

Run once, by hand (needs the gensim wheel unpacked and mwparserfromhell installed):
    python index/training/make_articles.py GENSIM_TEST_DATA_DIR
"""

from __future__ import annotations

import bz2
import contextlib
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "articles"
LEE = "lee_background.cor"
WIKI = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
# Counting every page of over 150 words, redirects dropped, the 60th is "A Modest Proposal": stopping there
# keeps every article used inside the first 60 however the 500-word count is made.
WIKI_LAST = "A Modest Proposal"
MIN_WORDS = 500
SECTION_MIN, SECTION_MAX = 120, 900
SKIP_SECTIONS = {
    "see also",
    "references",
    "notes",
    "external links",
    "further reading",
    "bibliography",
    "sources",
    "footnotes",
    "citations",
    "works cited",
    "selected works",
    "filmography",
}


def lee_articles(data_dir: Path) -> dict[str, str]:
    """Return the Lee articles that no evaluation set and no given training set holds."""
    taken = {p.name for p in (ROOT / "eval" / "news" / "articles").glob("lee-*.txt")}
    taken |= {p.name for p in (ROOT.parent / "shared" / "reader-train" / "articles").glob("lee-*.txt")}
    lines = (data_dir / LEE).read_text(encoding="utf-8").splitlines()
    return {
        f"lee-{i:03d}.txt": line.strip() for i, line in enumerate(lines) if f"lee-{i:03d}.txt" not in taken
    }


def _plain(wikitext: str) -> str:
    import mwparserfromhell  # a tool of this script only (pip install mwparserfromhell): not a dependency

    code = mwparserfromhell.parse(wikitext)
    files = code.filter_wikilinks(
        matches=lambda n: str(n.title).strip().lower().startswith(("file:", "image:"))
    )
    nodes = (
        code.filter_templates(recursive=False) + code.filter_tags(matches=lambda n: n.tag == "ref") + files
    )
    for node in nodes:
        with contextlib.suppress(ValueError):
            code.remove(node)
    text = code.strip_code()
    text = re.sub(r"\n{3,}", "\n\n", text)
    return re.sub(r"[ \t]+", " ", text)


def wiki_sections(data_dir: Path) -> dict[str, str]:
    """Cut the allowed Wikipedia articles into sections of readable length, one document each."""
    with bz2.open(data_dir / WIKI) as packed:
        root = ET.fromstring(packed.read())
    ns = root.tag.split("}")[0] + "}"
    docs: dict[str, str] = {}
    for page in root.findall(f"{ns}page"):
        title = page.findtext(f"{ns}title") or ""
        raw = page.findtext(f"{ns}revision/{ns}text") or ""
        if page.find(f"{ns}redirect") is not None or raw.lower().startswith("#redirect"):
            continue
        if len(_plain(raw).split()) > MIN_WORDS and "disambiguation" not in title:
            slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
            for n, (heading, body) in enumerate(_split_sections(raw)):
                text = _plain(body).strip()
                words = len(text.split())
                if words < SECTION_MIN:
                    continue
                if words > SECTION_MAX:
                    text = _cut(text, SECTION_MAX)
                head = f"{title}: {heading}" if heading else title
                docs[f"wiki-{slug}-{n:02d}.txt"] = f"{head}\n\n{text}\n"
        if title == WIKI_LAST:
            break
    return docs


def _split_sections(raw: str) -> list[tuple[str, str]]:
    parts = re.split(r"^(={2,3})\s*(.+?)\s*\1\s*$", raw, flags=re.M)
    sections = [("", parts[0])]
    for i in range(1, len(parts) - 2, 3):
        heading = _plain(parts[i + 1]).strip()
        if heading.lower() not in SKIP_SECTIONS:
            sections.append((heading, parts[i + 2]))
    return sections


def _cut(text: str, max_words: int) -> str:
    """Keep whole paragraphs up to about max_words."""
    kept: list[str] = []
    count = 0
    for para in text.split("\n\n"):
        n = len(para.split())
        if kept and count + n > max_words:
            break
        kept.append(para)
        count += n
    return "\n\n".join(kept)


def main(data_dir: Path) -> None:
    """Write the documents into index/training/articles/ (beside the given reader-train articles)."""
    OUT.mkdir(parents=True, exist_ok=True)
    docs = {**lee_articles(data_dir), **wiki_sections(data_dir)}
    for name, text in docs.items():
        (OUT / name).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    print(f"{len(docs)} documents in {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
