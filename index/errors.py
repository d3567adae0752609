"""Footnote's exceptions, one small hierarchy:

    FootnoteError
    ├── CorpusError          an article file cannot be read (names the file and the reason)
    ├── FetchError           a page or feed cannot be fetched or holds no article (names the URL)
    ├── IndexMissingError    no index on disk yet: run `footnote index`
    ├── IndexMismatchError   the index was built by another embedder, chunking or format: rebuild it
    ├── IndexCorruptError    an index file is unreadable or inconsistent (names the file)
    ├── IndexBusyError       another process holds the index lock
    ├── IndexWriteError      the index cannot be written (permissions, disk full; names the folder)
    ├── QuestionError        a question cannot be asked (empty)
    ├── InputError           a file given on the command line cannot be read (names the file)
    ├── ModelError           the embedding model's files cannot be loaded (a broken install)
    ├── CalibrationError     no thresholds are calibrated for the embedder (index/query/reader_weights.json)
    ├── VectorStoreError     the vector store (Milvus) is unreachable or refused a request
    └── WatchError           a watch cannot be kept or found (no such watch, an unreadable file)
        └── WatchLimitError  its owner already has as many watches as FOOTNOTE_WATCHES_PER_USER allows

Every message says what happened and what to do next.
"""


class FootnoteError(Exception):
    """Base class of every error Footnote raises on purpose."""


class CorpusError(FootnoteError):
    """An article file cannot be read."""

    def __init__(self, doc_id: str, reason: str) -> None:
        super().__init__(f"{doc_id}: {reason}")
        self.doc_id = doc_id
        self.reason = reason


class FetchError(FootnoteError):
    """A page could not be fetched or holds no article; the message names the URL and the reason, on one
    line (a URL longer than 200 characters is shortened, control characters are replaced)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{shown_url(url)}: {reason}")
        self.url = url


def shown_url(url: str, limit: int = 200) -> str:
    """The URL as it may appear in a one-line message."""
    url = "".join("?" if ord(c) < 32 or ord(c) == 127 else c for c in url)
    return url if len(url) <= limit else f"{url[:limit]}… ({len(url)} characters)"


class IndexMissingError(FootnoteError):
    """There is no index on disk yet."""


class IndexMismatchError(FootnoteError):
    """The index on disk was built with other settings than the current ones."""


class IndexCorruptError(FootnoteError):
    """An index file is unreadable or inconsistent."""


class IndexBusyError(FootnoteError):
    """Another process is writing the index."""


class VectorStoreError(FootnoteError):
    """The external vector store (Milvus) is unreachable or refused a request."""


class IndexWriteError(FootnoteError):
    """The operating system refused to write the index (permissions, a full disk)."""


class QuestionError(FootnoteError, ValueError):
    """A question that cannot be asked (empty once cleaned)."""


class InputError(FootnoteError):
    """A file the user named (questions, an evaluation set) cannot be read."""


class ModelError(FootnoteError):
    """The embedding model cannot be loaded from its package (files missing or unreadable)."""


class CalibrationError(FootnoteError):
    """No thresholds are calibrated for an embedder, or its entry lacks some (names the embedder)."""


class WatchError(FootnoteError):
    """A watch cannot be added, found or kept (no such watch, an unreadable watches file)."""


class WatchLimitError(WatchError):
    """The owner already has as many watches as they may keep."""
