"""Step 1: article files in the seeds folder -> `Article`s.

`.txt` and `.md` files may start with YAML front matter (`title`, `url`, `date`, `author`, `lang`);
offsets always count from the first character of the decoded file, front matter included.
`.html` files go through trafilatura's main-text extractor; offsets point into the extracted text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from index.errors import CorpusError
from index.types import Article

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES

_FRONT_MATTER_OPEN = re.compile(r"\A---[ \t]*\r?\n")
_FRONT_MATTER_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.MULTILINE)
_MAX_TITLE_CHARS = 200


@dataclass(frozen=True, slots=True)
class SourceFile:
    """An article file found in the seeds folder, identified by its content hash."""

    doc_id: str
    path: Path
    content_hash: str


def doc_id_for(path: Path, seeds_dir: Path) -> str:
    """The article's id: its path relative to the seeds folder, in POSIX form."""
    return path.relative_to(seeds_dir).as_posix()


def scan(seeds_dir: Path) -> list[SourceFile]:
    """List the article files under `seeds_dir` with their content hashes, sorted by doc_id."""
    if not seeds_dir.is_dir():
        raise CorpusError(str(seeds_dir), "seeds folder not found (set FOOTNOTE_SEEDS_DIR)")
    found = []
    for path in _article_paths(seeds_dir):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found.append(SourceFile(doc_id_for(path, seeds_dir), path, digest))
    return sorted(found, key=lambda f: f.doc_id)


def _article_paths(seeds_dir: Path) -> Iterator[Path]:
    for path in seeds_dir.rglob("*"):
        relative = path.relative_to(seeds_dir).parts
        if any(part.startswith(".") for part in relative):
            continue
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            yield path


def load(source: SourceFile) -> Article:
    """Read one article file; raise CorpusError naming the file and the problem."""
    try:
        raw = source.path.read_bytes()
    except OSError as exc:
        raise CorpusError(source.doc_id, f"cannot be read ({exc.strerror or exc})") from None
    if source.path.suffix.lower() in HTML_SUFFIXES:
        return _load_html(source, raw)
    return _load_text(source, raw)


def _decode(doc_id: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            doc_id,
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); re-save it as UTF-8",
        ) from None


def _load_text(source: SourceFile, raw: bytes) -> Article:
    text = _decode(source.doc_id, raw)
    meta, body_start = _front_matter(source.doc_id, text)
    body = text[body_start:]
    if not body.strip():
        raise CorpusError(source.doc_id, "has no article text")
    title = shown_text(_text(meta.get("title")) or _first_line(body) or "") or source.path.stem
    return Article(
        doc_id=source.doc_id,
        title=title[:_MAX_TITLE_CHARS],
        text=text,
        body_start=body_start,
        content_hash=source.content_hash,
        source=_text(meta.get("url") or meta.get("source") or meta.get("link")),
        date=_text(meta.get("date")),
        author=_text(meta.get("author")),
        lang=_text(meta.get("lang") or meta.get("language")),
    )


def _front_matter(doc_id: str, text: str) -> tuple[dict[str, Any], int]:
    """Parse leading YAML front matter; return it and where the body begins."""
    opening = _FRONT_MATTER_OPEN.match(text)
    if not opening:
        return {}, 0
    closing = _FRONT_MATTER_CLOSE.search(text, opening.end())
    if not closing:
        raise CorpusError(doc_id, "front matter starts with '---' but never ends (add a closing '---' line)")
    block = text[opening.end() : closing.start()]
    try:
        meta = yaml.load(block, Loader=_FrontMatterLoader)  # a SafeLoader that also refuses aliases
    except _AliasRefused as exc:
        raise CorpusError(
            doc_id,
            f"front matter uses a YAML alias (*name) on line {exc.line + 2}; write the value out instead",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise CorpusError(doc_id, f"front matter is not valid YAML{where}") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise CorpusError(doc_id, "front matter must be a YAML mapping such as 'title: ...'")
    return meta, closing.end()


class _AliasRefused(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases: a few hundred bytes of nested aliases (a "billion laughs")
    would otherwise expand to gigabytes when a value is read. Front matter never needs them."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise _AliasRefused(self.peek_event().start_mark.line)  # type: ignore[no-untyped-call]
        return super().compose_node(parent, index)


def _load_html(source: SourceFile, raw: bytes) -> Article:
    import trafilatura  # slow import, needed only for HTML

    document = trafilatura.bare_extraction(raw, with_metadata=True, include_comments=False)
    extracted = getattr(document, "text", None) if document is not None else None
    if not extracted or not extracted.strip():
        raise CorpusError(source.doc_id, "no article text could be extracted from this HTML page")
    # One paragraph per line in trafilatura's output; blank lines make the paragraphs explicit for chunking.
    text = "\n\n".join(line.strip() for line in extracted.splitlines() if line.strip())
    title = shown_text(_text(getattr(document, "title", None)) or _first_line(text) or "") or source.path.stem
    return Article(
        doc_id=source.doc_id,
        title=title[:_MAX_TITLE_CHARS],
        text=text,
        body_start=0,
        content_hash=source.content_hash,
        source=_text(getattr(document, "url", None)),
        date=_text(getattr(document, "date", None)),
        author=_text(getattr(document, "author", None)),
        lang=_text(getattr(document, "language", None)),
    )


# What a title or label may never carry: C0 and C1 control characters (U+0085 and U+009B are C1) and the
# bidirectional controls that reorder what follows ("\u202e" shows "txt.exe" as "exe.txt").
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def shown_text(text: str) -> str:
    """A title or label as Footnote shows it: control and bidirectional characters become spaces, runs of
    spaces one."""
    return " ".join(_INVISIBLE.sub(" ", text).split())


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _first_line(body: str) -> str | None:
    for line in body.splitlines():
        stripped = line.strip().lstrip("#").strip()
        if stripped:
            return stripped
    return None


# -- adding and removing files (admins from the chat) ------------------------------------------------

_UNSAFE = re.compile(r"[^\w.-]+", re.UNICODE)
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
)
# In UTF-8 bytes, as file systems count (most allow 255 per name): a stem of 100 CJK characters is 300.
_MAX_NAME_BYTES = 100
_MAX_SUFFIX_BYTES = 16


@dataclass(frozen=True, slots=True)
class Added:
    """What `add_file` did: the article's doc_id, and whether a different file already had the wanted name."""

    doc_id: str
    wanted: str
    renamed: bool
    unchanged: bool


def safe_file_name(name: str) -> str:
    """A plain file name for an uploaded article: no folders, no traversal, no odd characters."""
    import unicodedata

    base = unicodedata.normalize("NFKC", name).replace("\\", "/").split("/")[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = _cut(_UNSAFE.sub("-", stem), _MAX_NAME_BYTES).strip("-._") or "article"
    suffix = _cut(_UNSAFE.sub("", suffix).lower(), _MAX_SUFFIX_BYTES)
    if stem.lower() in _RESERVED:
        stem = f"article-{stem}"
    return f"{stem}.{suffix}" if suffix else stem


def _cut(text: str, max_bytes: int) -> str:
    """At most `max_bytes` of UTF-8, never splitting a character."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def add_file(seeds_dir: Path, name: str, data: bytes, *, replace: bool = False) -> Added:
    """Validate an uploaded article and write it into the seeds folder atomically, never over another file
    unless `replace`; raise CorpusError (naming the file) when it cannot be loaded."""
    import os
    import tempfile

    wanted = safe_file_name(name)
    if Path(wanted).suffix not in SUFFIXES:
        raise CorpusError(wanted, f"only {', '.join(sorted(SUFFIXES))} files can be added")
    try:
        seeds_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorpusError(wanted, f"cannot be saved in {seeds_dir} ({exc.strerror or exc})") from exc
    with tempfile.TemporaryDirectory() as scratch:
        trial = Path(scratch) / wanted
        trial.write_bytes(data)
        load(SourceFile(wanted, trial, hashlib.sha256(data).hexdigest()))

    target = seeds_dir / wanted
    renamed = False
    if target.exists() and not replace:
        if target.read_bytes() == data:
            return Added(wanted, wanted, renamed=False, unchanged=True)
        stem, suffix = target.stem, target.suffix
        number = 2
        while target.exists():
            target = seeds_dir / f"{stem}-{number}{suffix}"
            number += 1
        renamed = True
    try:
        handle, temporary = tempfile.mkstemp(prefix=".upload-", dir=seeds_dir)
    except OSError as exc:
        raise CorpusError(wanted, f"cannot be saved in {seeds_dir} ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        Path(temporary).replace(target)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CorpusError(wanted, f"cannot be saved in {seeds_dir} ({exc.strerror or exc})") from exc
        raise
    return Added(doc_id_for(target, seeds_dir), wanted, renamed=renamed, unchanged=False)


def remove_file(seeds_dir: Path, doc_id: str) -> bool:
    """Delete one article by doc_id; False when there is none. Never leaves the seeds folder."""
    root = seeds_dir.resolve()
    path = (seeds_dir / doc_id).resolve()
    if root not in path.parents or path.suffix.lower() not in SUFFIXES or not path.is_file():
        return False
    try:
        path.unlink()
    except OSError as exc:
        raise CorpusError(doc_id, f"cannot be removed ({exc.strerror or exc})") from exc
    return True


def copy_initial_seeds(initial: Path, seeds_dir: Path) -> int:
    """Fill an empty or missing seeds folder from `initial` (e.g. the articles baked into an image).
    Returns how many files were copied; a folder that already has articles is left alone. Each file
    appears whole (copied to a temporary name, then renamed): replicas starting together on one empty
    volume may all copy, and an indexer never reads half a file."""
    import shutil
    import uuid

    if seeds_dir.is_dir() and any(_article_paths(seeds_dir)):
        return 0
    if not initial.is_dir():
        return 0
    copied = 0
    for path in _article_paths(initial):
        target = seeds_dir / path.relative_to(initial)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, temporary)
            temporary.replace(target)
        except OSError as exc:
            doc_id = str(path.relative_to(initial))
            raise CorpusError(doc_id, f"cannot be copied into {seeds_dir} ({exc.strerror or exc})") from exc
        copied += 1
    return copied
