"""Watches: standing questions, checked against the passages each new index generation brings.

A watch is a question its owner (a Telegram reader, `telegram:<user id>`, or `cli` for the terminal) wants
answered again whenever new articles speak to it. When a new generation is served, only the articles whose
content hash is new or changed since the generation last checked are looked at, in three stages:

1. vectors: one matrix product of the watches' question vectors (computed once per embedder and kept on
   disk) with the stored vectors of the new articles' chunks; a watch goes on only if some new chunk could
   still reach the composer's relevance threshold, its cosine plus everything words can add;
2. words: for those, the composer's own relevance test on each new chunk (cosine, the cross-language
   allowance and the lexical weight times the share of the question's words the chunk holds:
   index/query/answer.py), so only watches that a new passage is relevant to go on;
3. reader: for those, the engine's own answer, retrieved as the question would be and narrowed to the new
   articles (`Retriever.within`), with the same reader and thresholds; an abstention notifies nobody.

Stages 1 and 2 only skip watches whose answer would abstain anyway, so a watch that never matches costs its
row of the product. Each watch remembers the passages it was told about (article, content hash, unit start,
and a digest of the sentence, so an edited article does not repeat a sentence it kept); a notice quotes at
most three passages its watch was not told about, one notice per watch per round.

On disk, in the data folder:

    watches/
      watches.json           the watches, each with the passages it was told about
      outbox.json            notices decided and not yet delivered
      checked-<audience>.json  the articles (id -> content hash) of the generation last checked
      vectors-<key>.npz      the watches' question vectors for one embedder (`key` hashes its id)
      senders/<token>        held (flock) by each process delivering notices, while it runs
      .lock                  held (flock) while any of these changes, across processes

Every file is written whole to a temporary name and renamed. A round writes its notices to the outbox
before it records their passages as told and the generation as checked, so a crash loses no match (the
round runs again) and repeats none (passages waiting in the outbox count as told). A sender claims notices
before sending and removes each as soon as it is delivered; the claim of a process that is gone (its sender
lock released) is taken over at once, so a restart delivers what a crash left unsent. Bot replicas sharing
the data folder check each generation once: the first to take the lock records it as checked.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import TypeAdapter, ValidationError

from config.defaults import MAX_QUESTION_CHARS, WATCHES_PER_USER
from index.errors import FootnoteError, WatchError, WatchLimitError
from index.ingest.embedding import Embedder
from index.languages import ENGLISH
from index.query.engine import Engine, clean_question, mostly_latin
from index.query.lexical import LexicalIndex
from index.storage import store
from index.storage.store import Manifest
from index.types import Answer, Quote, Vectors

log = logging.getLogger(__name__)

CLI = "cli"
TELEGRAM = "telegram"
FORMAT = 1
MAX_QUOTES = 3  # quoted in one notice
WATCHES = "watches.json"
OUTBOX = "outbox.json"
_KEEP_TOLD = 500  # passages a watch remembers being told about (older ones can only come back re-added)
_GIVE_UP_AFTER = 3  # refusals by the messenger before a notice is dropped
_BLOCK = 1024  # new chunks per block of the matrix product (bounds its memory)
# The vector stage compares cached question vectors with stored chunk vectors; the answer compares a fresh
# embedding with the store's search scores. This much slack keeps float noise from dropping a match.
_SLACK = 1e-3
_AUDIENCE = re.compile(r"^[a-z]+$")
_TOKEN = re.compile(r"^[0-9a-f]{16}$")
_SPACE = re.compile(r"\s+")

# A passage a watch was told about: article, its content hash, the unit's start, a digest of its text.
Told = tuple[str, str, int, str]
Mask = npt.NDArray[np.bool_]
Scores = npt.NDArray[np.float32]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Watch:
    """A standing question of one owner, and the passages it was already told about."""

    id: int
    owner: str
    question: str
    chat_id: int | None = None
    language: str | None = None  # the owner's language code (the bot words its notices in it)
    created_at: str = ""
    told: tuple[Told, ...] = ()

    @property
    def audience(self) -> str:
        """Who delivers its notices: "telegram" (the bot) or "cli" (the terminal)."""
        return audience_of(self.owner)


@dataclass(frozen=True, slots=True)
class Notice:
    """One message owed to a watch's owner: the new quotes that answer the watch."""

    id: str
    watch_id: int
    owner: str
    question: str
    generation: str
    quotes: tuple[Quote, ...]
    told: tuple[Told, ...]
    chat_id: int | None = None
    language: str | None = None
    claimed_by: str | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Checked:
    """The generation an audience's watches were last checked against, and its articles' hashes."""

    generation: str
    created_at: str
    documents: dict[str, str]

    @classmethod
    def of(cls, generation: str, manifest: Manifest) -> Checked:
        """What checking this generation records."""
        return cls(generation, manifest.created_at, documents_of(manifest))


@dataclass(frozen=True, slots=True)
class Match:
    """A watch that new passages answer, with the quotes it was not told about yet (renumbered from 1)."""

    watch: Watch
    quotes: tuple[Quote, ...]
    told: tuple[Told, ...]


@dataclass(frozen=True, slots=True)
class RoundReport:
    """What one check of an audience's watches against a generation did, and what each stage cost."""

    generation: str
    new_articles: tuple[str, ...] = ()
    new_chunks: int = 0
    watches: int = 0
    near: int = 0  # watches past the vector stage
    read: int = 0  # distinct questions past the words stage, whose answer was composed
    notices: tuple[Notice, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class _Book:
    format: int = FORMAT
    next_id: int = 1
    watches: list[Watch] = field(default_factory=list)


@dataclass
class _Outbox:
    format: int = FORMAT
    notices: list[Notice] = field(default_factory=list)


_BOOK = TypeAdapter(_Book)
_OUTBOX = TypeAdapter(_Outbox)
_CHECKED = TypeAdapter(Checked)


def audience_of(owner: str) -> str:
    """The audience of an owner: "telegram" for "telegram:123", "cli" for "cli"."""
    return owner.partition(":")[0]


def telegram_owner(user_id: int) -> str:
    """The owner name of a Telegram user's watches."""
    return f"{TELEGRAM}:{user_id}"


def documents_of(manifest: Manifest) -> dict[str, str]:
    """Each article of a generation with its content hash."""
    return {doc_id: entry.content_hash for doc_id, entry in manifest.documents.items()}


def new_articles(before: Mapping[str, str], manifest: Manifest) -> list[str]:
    """The articles of a generation that are new or changed since `before` (id -> content hash)."""
    return sorted(doc_id for doc_id, digest in documents_of(manifest).items() if before.get(doc_id) != digest)


def digest(text: str) -> str:
    """A short digest of a quoted text, its whitespace folded."""
    return hashlib.sha256(_SPACE.sub(" ", text).strip().encode("utf-8", "replace")).hexdigest()[:16]


# -- matching ----------------------------------------------------------------------------------------


@dataclass
class Stages:
    """Milliseconds spent in each stage of a round."""

    spent: dict[str, float] = field(default_factory=lambda: {"vectors": 0.0, "words": 0.0, "reader": 0.0})

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Count the time of the block as the stage's."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.spent[name] += (time.perf_counter() - began) * 1000.0


def match(
    engine: Engine,
    watches: Sequence[Watch],
    vectors: Vectors,
    doc_ids: Collection[str],
    timer: Stages | None = None,
) -> tuple[list[Match], int, int]:
    """The watches that passages of `doc_ids` answer, with their quotes not told yet; also how many watches
    passed the vector stage and how many distinct questions were read. `vectors` holds each watch's question
    vector."""
    timer = timer or Stages()
    rows = [i for i, chunk in enumerate(engine.stored.chunks) if chunk.doc_id in doc_ids]
    if not rows or not watches:
        return [], 0, 0
    near, relevant = _relevant(engine, [w.question for w in watches], vectors, rows, timer)
    matches = []
    articles = sorted(set(doc_ids))
    hashes = documents_of(engine.stored.manifest)
    answers: dict[str, Answer | None] = {}  # one reading per distinct question
    with timer.stage("reader"):
        chunk_vectors = (
            np.asarray(engine.stored.search.vectors(rows), dtype=np.float32) if relevant.any() else None
        )
        for i in np.flatnonzero(relevant):
            watch = watches[int(i)]
            if watch.question not in answers:
                vector = vectors[int(i) : int(i) + 1]
                assert chunk_vectors is not None
                cosines = dict(zip(rows, (chunk_vectors @ vector[0]).tolist(), strict=True))
                answers[watch.question] = answer_within(engine, watch.question, articles, vector, cosines)
            answer = answers[watch.question]
            if answer is None:
                continue
            told = set(watch.told)
            told_texts = {(doc_id, text) for doc_id, _, _, text in watch.told}
            fresh: list[tuple[Quote, Told]] = []
            for quote in answer.quotes:
                key = (quote.doc_id, hashes.get(quote.doc_id, ""), quote.start, digest(quote.text))
                if key in told or (key[0], key[3]) in told_texts:
                    continue
                fresh.append((quote, key))
            if fresh:
                fresh = fresh[:MAX_QUOTES]
                quotes = tuple(replace(quote, n=n) for n, (quote, _) in enumerate(fresh, 1))
                matches.append(Match(watch, quotes, tuple(key for _, key in fresh)))
    return matches, int(near.sum()), len(answers)


def answer_within(
    engine: Engine,
    question: str,
    doc_ids: Sequence[str],
    vector: Vectors | None = None,
    cosines: Mapping[int, float] | None = None,
) -> Answer | None:
    """The engine's answer to a question from these articles only (retrieved as the question would be,
    then narrowed to them), or None when it abstains. `vector`: the question's, and `cosines`: its cosine
    with each chunk of the articles, when already computed."""
    if not engine.embedder.multilingual and not mostly_latin(question):
        return None  # the engine answers such a question with an abstention (index/query/engine.py)
    retrieval = engine.retriever.retrieve(question, engine.params.top_k, query=vector)
    narrowed = engine.retriever.within(retrieval, doc_ids, cosines=cosines)
    if not narrowed.passages:
        return None
    narrowed = replace(narrowed, best_dense=max(p.dense for p in narrowed.passages))
    answer = engine.answer_from(question, narrowed)
    return None if answer.abstained or not answer.quotes else answer


def _relevant(
    engine: Engine, questions: Sequence[str], vectors: Vectors, rows: list[int], timer: Stages
) -> tuple[Mask, Mask]:
    """(near, relevant): boolean masks over the questions. Near: some new chunk could reach the composer's
    relevance threshold on its cosine plus the most words can add. Relevant: some new chunk does."""
    params = engine.params.answer
    threshold = params.abstain_threshold - _SLACK
    gap = max(params.crosslingual_gap, 0.0)
    lift = gap + max(params.abstain_lexical_weight, 0.0)
    stored, lexical = engine.stored, engine.retriever.lexical
    near = np.zeros(len(questions), dtype=bool)
    relevant = np.zeros(len(questions), dtype=bool)
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    for first in range(0, len(rows), _BLOCK):
        block = rows[first : first + _BLOCK]
        with timer.stage("vectors"):
            chunk_vectors = np.asarray(stored.search.vectors(block), dtype=np.float32)
            dense = matrix @ chunk_vectors.T
            close = np.flatnonzero((dense.max(axis=1) + lift >= threshold) & ~relevant)
            near[close] = True
        if not len(close):
            continue
        with timer.stage("words"):
            scores = dense[close]
            if lift > 0.0:
                scores = _word_relevance(engine, lexical, [questions[int(i)] for i in close], scores, block)
            relevant[close[(scores >= threshold).any(axis=1)]] = True
    return near, relevant


def _word_relevance(
    engine: Engine, lexical: LexicalIndex, questions: list[str], dense: Scores, rows: list[int]
) -> Scores:
    """The composer's relevance of each chunk to each question: cosine, plus the cross-language allowance
    for a chunk in another language, plus the lexical weight times the share of the question's word weight
    (idf) the chunk holds."""
    params = engine.params.answer
    stored = engine.stored
    chunk_languages = [stored.articles[stored.chunks[i].doc_id].lang or ENGLISH for i in rows]
    terms = [
        frozenset(lexical.words(stored.chunks[i].text, language))
        for i, language in zip(rows, chunk_languages, strict=True)
    ]
    vocabulary = {word: k for k, word in enumerate(sorted(frozenset().union(*terms)))}
    present = np.zeros((len(vocabulary) + 1, len(rows)), dtype=np.float32)  # a last row for unknown words
    for column, words in enumerate(terms):
        present[[vocabulary[w] for w in words], column] = 1.0
    which: list[int] = []
    where: list[int] = []
    weights: list[float] = []
    totals = np.zeros(len(questions), dtype=np.float32)
    question_languages = []
    for position, question in enumerate(questions):
        language, words = _question_terms(lexical, question)
        question_languages.append(language)
        for word in words:
            weight = lexical.idf(word)
            totals[position] += weight
            which.append(position)
            where.append(vocabulary.get(word, len(vocabulary)))
            weights.append(weight)
    covered = np.zeros((len(questions), len(rows)), dtype=np.float32)
    if which:
        np.add.at(covered, np.asarray(which), np.asarray(weights, dtype=np.float32)[:, None] * present[where])
    share = covered / np.where(totals > 0, totals, 1.0)[:, None]
    languages = sorted(set(question_languages) | set(chunk_languages))
    code = {language: k for k, language in enumerate(languages)}
    asked = np.asarray([code[language] for language in question_languages])[:, None]
    written = np.asarray([code[language] for language in chunk_languages])[None, :]
    allowance = np.where(asked == written, 0.0, params.crosslingual_gap)
    relevance = dense + allowance + params.abstain_lexical_weight * share
    return np.asarray(relevance, dtype=np.float32)


_TERMS: dict[tuple[str, frozenset[str]], tuple[str, frozenset[str]]] = {}
_TERMS_KEPT = 100_000


def _question_terms(lexical: LexicalIndex, question: str) -> tuple[str, frozenset[str]]:
    """A question's language and its analysed words as the composer weighs them (kept across rounds:
    they depend only on the question and the corpus's languages)."""
    key = (question, lexical.languages)
    found = _TERMS.get(key)
    if found is None:
        language = lexical.question_language(question)
        found = (language, frozenset(lexical.words(question, language)))
        if len(_TERMS) >= _TERMS_KEPT:
            _TERMS.clear()
        _TERMS[key] = found
    return found


# -- the store ---------------------------------------------------------------------------------------


class Sender:
    """A process's right to deliver notices while it runs: a token, and a lock on a file named by it that
    the operating system releases when the process ends (so its claims can be taken over)."""

    def __init__(self, directory: Path) -> None:
        self.token = uuid.uuid4().hex[:16]
        folder = directory / "senders"
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / self.token
        self._handle: IO[str] | None = self.path.open("a+")
        fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def close(self) -> None:
        """Give up the right (claims left unsent are taken over by the next sender)."""
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None


class WatchStore:
    """The watches, the outbox and the question vectors in one folder. Safe across threads and processes:
    every change holds the folder's lock and rewrites whole files."""

    def __init__(self, directory: Path, per_owner: int = WATCHES_PER_USER) -> None:
        self.directory = directory
        self.per_owner = per_owner

    @property
    def exists(self) -> bool:
        """Whether anyone ever kept a watch here."""
        return (self.directory / WATCHES).is_file()

    # -- watches --

    def watches(self, owner: str | None = None) -> list[Watch]:
        """The watches, of one owner or of everyone, oldest first."""
        return [w for w in self._book().watches if owner is None or w.owner == owner]

    def add(
        self,
        owner: str,
        question: str,
        *,
        chat_id: int | None = None,
        language: str | None = None,
        embedder: Embedder | None = None,
        baseline: Checked | None = None,
    ) -> tuple[Watch, bool]:
        """Keep a watch; returns it and whether it is new (the owner's watch of the same question is
        returned as it is). Its question vector is computed now when `embedder` is given; `baseline` is the
        generation being served, recorded as checked when no watch of the owner's audience was waiting
        for a newer one (so the next generation's new articles are what the watch hears about).
        WatchLimitError when the owner has as many watches as allowed."""
        question = clean_question(question, MAX_QUESTION_CHARS)
        if not question:
            raise WatchError("the question to watch is empty")
        vector = embedder.embed_queries([question]) if embedder is not None else None
        with self._locked():
            book = self._book()
            mine = [w for w in book.watches if w.owner == owner]
            same = next((w for w in mine if w.question.casefold() == question.casefold()), None)
            if same is not None:
                return same, False
            if len(mine) >= self.per_owner:
                raise WatchLimitError(
                    f"{owner} already keeps {len(mine)} watches, the most allowed "
                    "(FOOTNOTE_WATCHES_PER_USER); remove one first"
                )
            watch = Watch(book.next_id, owner, question, chat_id, language, _now())
            self._write_book(_Book(FORMAT, book.next_id + 1, [*book.watches, watch]))
            audience = audience_of(owner)
            waiting = any(w.audience == audience for w in book.watches)
            if baseline is not None and (not waiting or self._checked(audience) is None):
                # Nobody of this audience was waiting for the generations since the last check.
                self._write_checked(audience, baseline)
            if embedder is not None and vector is not None:
                ids, matrix = self._load_vectors(embedder.id)
                self._save_vectors(embedder.id, [*ids, watch.id], _stacked(matrix, vector))
        return watch, True

    def add_many(self, entries: Iterable[tuple[str, str]]) -> list[Watch]:
        """Keep many (owner, question) watches in one write (imports, benchmarks); the per-owner limit
        holds, repeated questions are kept once."""
        with self._locked():
            book = self._book()
            kept = list(book.watches)
            counts: dict[str, int] = {}
            seen: set[tuple[str, str]] = set()
            for watch in kept:
                counts[watch.owner] = counts.get(watch.owner, 0) + 1
                seen.add((watch.owner, watch.question.casefold()))
            added = []
            next_id = book.next_id
            for owner, question in entries:
                question = clean_question(question, MAX_QUESTION_CHARS)
                key = (owner, question.casefold())
                if not question or key in seen or counts.get(owner, 0) >= self.per_owner:
                    continue
                watch = Watch(next_id, owner, question, created_at=_now())
                next_id += 1
                counts[owner] = counts.get(owner, 0) + 1
                seen.add(key)
                added.append(watch)
            self._write_book(_Book(FORMAT, next_id, [*kept, *added]))
        return added

    def remove(self, owner: str, watch_id: int) -> Watch | None:
        """Remove one of the owner's watches and the notices still owed to it; None when the owner has
        no such watch."""
        with self._locked():
            book = self._book()
            gone = next((w for w in book.watches if w.id == watch_id and w.owner == owner), None)
            if gone is None:
                return None
            self._write_book(replace(book, watches=[w for w in book.watches if w is not gone]))
            self._drop_notices(lambda n: n.watch_id == watch_id)
        return gone

    def drop_owner(self, owner: str) -> int:
        """Remove every watch of an owner (a reader who blocked the bot) and the notices owed to them;
        returns how many watches."""
        if not self.exists:
            return 0
        with self._locked():
            book = self._book()
            kept = [w for w in book.watches if w.owner != owner]
            if len(kept) != len(book.watches):
                self._write_book(replace(book, watches=kept))
            self._drop_notices(lambda n: n.owner == owner)
        return len(book.watches) - len(kept)

    # -- question vectors --

    def vectors(self, embedder: Embedder, watches: Sequence[Watch]) -> Vectors:
        """The watches' question vectors, in their order: from the cache kept for this embedder, the
        missing ones (new watches, another embedder) computed and kept."""
        with self._locked():
            return self._vectors(embedder, watches)

    def _vectors(self, embedder: Embedder, watches: Sequence[Watch]) -> Vectors:
        """`vectors`, the lock held (the model runs under it only for watches it never embedded)."""
        ids, matrix = self._load_vectors(embedder.id)
        row = {watch_id: i for i, watch_id in enumerate(ids)}
        missing = [w for w in watches if w.id not in row]
        if missing:
            fresh = embedder.embed_queries([w.question for w in missing])
            live = {w.id for w in self._book().watches}
            keep = [i for i, watch_id in enumerate(ids) if watch_id in live]
            ids = [ids[i] for i in keep] + [w.id for w in missing]
            matrix = _stacked(matrix[keep], fresh)
            self._save_vectors(embedder.id, ids, matrix)
            row = {watch_id: i for i, watch_id in enumerate(ids)}
        if not watches:
            return np.zeros((0, embedder.dim), dtype=np.float32)
        return np.ascontiguousarray(matrix[[row[w.id] for w in watches]], dtype=np.float32)

    def put_vectors(self, embedder_id: str, vectors: Mapping[int, Vectors]) -> None:
        """Keep question vectors computed elsewhere (by watch id), beside those already kept."""
        with self._locked():
            ids, matrix = self._load_vectors(embedder_id)
            given = set(vectors)
            keep = [i for i, watch_id in enumerate(ids) if watch_id not in given]
            rows = np.vstack([np.asarray(v, dtype=np.float32).reshape(1, -1) for v in vectors.values()])
            self._save_vectors(
                embedder_id, [ids[i] for i in keep] + list(vectors), _stacked(matrix[keep], rows)
            )

    # -- rounds --

    def last_checked(self, audience: str) -> str | None:
        """The generation this audience's watches were last checked against."""
        checked = self._checked(audience)
        return checked.generation if checked is not None else None

    def check(
        self,
        engine: Engine,
        audience: str,
        previous: Manifest | None = None,
        *,
        allowed: Callable[[Watch], bool] | None = None,
    ) -> RoundReport:
        """Match the audience's watches (those `allowed`) against the articles of the engine's generation
        that are new or changed since the generation last checked (or, when none was, since `previous`),
        and put a notice for each match in the outbox. Only the current generation is checked: an engine
        that another process's newer generation has replaced is checked when that one is loaded."""
        manifest, generation = engine.stored.manifest, engine.generation
        with self._locked():
            checked = self._checked(audience)
            if (checked is not None and checked.generation == generation) or not _current(engine):
                return RoundReport(generation)
            before = checked.documents if checked is not None else None
            if before is None and previous is not None:
                before = documents_of(previous)
            if before is None:  # the first look: the articles already there are nobody's news
                self._write_checked(audience, Checked.of(generation, manifest))
                return RoundReport(generation)
            articles = new_articles(before, manifest)
            book, outbox = self._book(), self._outbox()
            owed: dict[int, set[Told]] = {}
            for notice in outbox.notices:
                owed.setdefault(notice.watch_id, set()).update(notice.told)
            book_watches = [_told_also(w, owed.get(w.id, set())) for w in book.watches]
            watches = [w for w in book_watches if w.audience == audience and (allowed is None or allowed(w))]
            timer = Stages()
            matches: list[Match] = []
            near = read = chunks = 0
            if articles and watches:
                vectors = self._vectors(engine.embedder, watches)
                wanted = set(articles)
                chunks = sum(1 for c in engine.stored.chunks if c.doc_id in wanted)
                matches, near, read = match(engine, watches, vectors, wanted, timer)
            notices = [
                Notice(
                    uuid.uuid4().hex[:16],
                    m.watch.id,
                    m.watch.owner,
                    m.watch.question,
                    generation,
                    m.quotes,
                    m.told,
                    m.watch.chat_id,
                    m.watch.language,
                )
                for m in matches
            ]
            if notices:
                self._write_outbox(replace(outbox, notices=[*outbox.notices, *notices]))
                told = {m.watch.id: m.told for m in matches}
                book_watches = [
                    replace(w, told=(*w.told, *told[w.id])[-_KEEP_TOLD:]) if w.id in told else w
                    for w in book_watches
                ]
            if book_watches != book.watches:
                self._write_book(replace(book, watches=book_watches))
            self._write_checked(audience, Checked.of(generation, manifest))
        timings = dict(timer.spent)
        timings["total"] = sum(timings.values())
        return RoundReport(
            generation, tuple(articles), chunks, len(watches), near, read, tuple(notices), timings
        )

    # -- the outbox --

    def pending(self, audience: str) -> list[Notice]:
        """The notices owed to an audience's owners, claimed or not."""
        if not (self.directory / OUTBOX).is_file():
            return []
        return [n for n in self._outbox().notices if audience_of(n.owner) == audience]

    def sender(self) -> Sender:
        """This process's right to claim notices, until `close()` (the files of senders that ended without
        closing are cleared on the way)."""
        folder = self.directory / "senders"
        if folder.is_dir():
            for path in folder.iterdir():
                self._alive(path.name)
        return Sender(self.directory)

    def claim(self, audience: str, sender: str) -> list[Notice]:
        """The notices owed to an audience that no other live sender has claimed, now claimed by `sender`
        (a token from `sender()`); deliver each, then call `delivered`."""
        if not (self.directory / OUTBOX).is_file():
            return []
        with self._locked():
            outbox = self._outbox()
            alive: dict[str, bool] = {}
            taken, notices = [], []
            for notice in outbox.notices:
                owner = notice.claimed_by
                if audience_of(notice.owner) == audience and (
                    owner in (None, sender) or not alive.setdefault(owner, self._alive(owner))
                ):
                    notice = replace(notice, claimed_by=sender)
                    taken.append(notice)
                notices.append(notice)
            if notices != outbox.notices:
                self._write_outbox(replace(outbox, notices=notices))
        return taken

    def delivered(self, notice_id: str) -> None:
        """A notice reached its owner: it is never sent again."""
        with self._locked():
            self._drop_notices(lambda n: n.id == notice_id)

    def failed(self, notice_id: str) -> bool:
        """The messenger refused a notice: it is released for another try, or dropped (True) after a few
        refusals."""
        with self._locked():
            outbox = self._outbox()
            notices, dropped = [], False
            for notice in outbox.notices:
                if notice.id == notice_id:
                    if notice.attempts + 1 >= _GIVE_UP_AFTER:
                        dropped = True
                        continue
                    notice = replace(notice, claimed_by=None, attempts=notice.attempts + 1)
                notices.append(notice)
            self._write_outbox(replace(outbox, notices=notices))
        return dropped

    def put_notices(self, notices: Iterable[Notice]) -> None:
        """Add notices to the outbox as they are (restoring an outbox; tests)."""
        with self._locked():
            outbox = self._outbox()
            self._write_outbox(replace(outbox, notices=[*outbox.notices, *notices]))

    # -- files --

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with store.file_lock(
            self.directory / ".lock", wait=True, busy=f"another process is changing {self.directory}"
        ):
            yield

    def _alive(self, token: str) -> bool:
        """Whether the sender with this token still runs (holds its lock)."""
        if not _TOKEN.match(token):
            return False
        path = self.directory / "senders" / token
        try:
            handle = path.open("r")
        except OSError:
            return False
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            with contextlib.suppress(OSError):
                path.unlink()  # a sender that ended without closing: its file goes
            fcntl.flock(handle, fcntl.LOCK_UN)
        return False

    def _book(self) -> _Book:
        return self._read(WATCHES, _BOOK, _Book())

    def _outbox(self) -> _Outbox:
        return self._read(OUTBOX, _OUTBOX, _Outbox())

    def _checked(self, audience: str) -> Checked | None:
        return self._read(_checked_name(audience), _CHECKED, None)

    def _write_book(self, book: _Book) -> None:
        _write(self.directory / WATCHES, _BOOK.dump_json(book))

    def _write_outbox(self, outbox: _Outbox) -> None:
        _write(self.directory / OUTBOX, _OUTBOX.dump_json(outbox))

    def _write_checked(self, audience: str, checked: Checked) -> None:
        _write(self.directory / _checked_name(audience), _CHECKED.dump_json(checked))

    def _drop_notices(self, drop: Callable[[Notice], bool]) -> None:
        if not (self.directory / OUTBOX).is_file():
            return
        outbox = self._outbox()
        kept = [n for n in outbox.notices if not drop(n)]
        if len(kept) != len(outbox.notices):
            self._write_outbox(replace(outbox, notices=kept))

    def _read(self, name: str, adapter: TypeAdapter[Any], default: _T) -> _T:
        path = self.directory / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return default
        except OSError as exc:
            raise WatchError(f"{path}: unreadable ({exc.strerror or exc})") from None
        try:
            value: _T = adapter.validate_json(data)
        except ValidationError as exc:
            raise WatchError(
                f"{path}: not a valid watches file ({exc.errors()[0]['msg']}); restore it or remove it"
            ) from None
        if isinstance(value, _Book | _Outbox) and value.format != FORMAT:
            raise WatchError(f"{path}: written by another version of Footnote (format {value.format})")
        return value

    def _vectors_path(self, embedder_id: str) -> Path:
        key = hashlib.sha256(embedder_id.encode("utf-8")).hexdigest()[:16]
        return self.directory / f"vectors-{key}.npz"

    def _load_vectors(self, embedder_id: str) -> tuple[list[int], Vectors]:
        path = self._vectors_path(embedder_id)
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["embedder"]) == embedder_id:
                    ids = [int(i) for i in data["ids"]]
                    matrix = np.asarray(data["vectors"], dtype=np.float32)
                    if matrix.ndim == 2 and matrix.shape[0] == len(ids):
                        return ids, matrix
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError) as exc:
            log.warning("%s: unreadable, the question vectors are computed again (%s)", path, exc)
        return [], np.zeros((0, 0), dtype=np.float32)

    def _save_vectors(self, embedder_id: str, ids: list[int], matrix: Vectors) -> None:
        """Keep the vectors of one embedder (those of any other embedder go: they are computed again if
        it comes back). Caller holds the lock."""
        path = self._vectors_path(embedder_id)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        with temporary.open("wb") as handle:
            np.savez(
                handle,
                embedder=np.asarray(embedder_id),
                ids=np.asarray(ids, dtype=np.int64),
                vectors=np.asarray(matrix, dtype=np.float32),
            )
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
        for other in self.directory.glob("vectors-*.npz"):
            if other != path:
                other.unlink(missing_ok=True)


def _told_also(watch: Watch, owed: set[Told]) -> Watch:
    """A watch with the passages of notices still owed to it counted as told (a round that crashed after
    writing the outbox is not repeated)."""
    missing = [key for key in sorted(owed) if key not in set(watch.told)]
    return replace(watch, told=(*watch.told, *missing)[-_KEEP_TOLD:]) if missing else watch


def _current(engine: Engine) -> bool:
    """Whether the engine's generation is the one its index directory serves now."""
    try:
        current = store.current_generation(engine.stored.path.parent)
    except FootnoteError:
        return False
    return current is not None and current.name == engine.generation


def _stacked(kept: Vectors, added: Vectors) -> Vectors:
    """Kept rows, then added ones (kept rows of no width: none, an empty cache)."""
    return np.vstack([kept, added]) if len(kept) else np.asarray(added, dtype=np.float32)


def _checked_name(audience: str) -> str:
    if not _AUDIENCE.match(audience):
        raise ValueError(f"not an audience: {audience!r}")
    return f"checked-{audience}.json"


def _write(path: Path, data: bytes) -> None:
    """Write a whole file under a temporary name, then rename it over the old one."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise WatchError(
            f"cannot write {path}: {exc.strerror or exc}; check the folder's permissions"
        ) from exc


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
