"""The engine: one open index generation that answers questions (retrieval, then answer composition).

`index.pipeline.Pipeline` opens it from settings. The CLI, the terminal chat and the bot each hold one
`Engine`; it is safe to call `ask` from several threads at once (the model is loaded once, under a lock).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import KW_ONLY, dataclass, field, replace
from pathlib import Path

from index.errors import QuestionError
from index.ingest.chunking import ChunkingParams, chunking_record
from index.ingest.embedding import Embedder
from index.query.answer import ABSTAIN_TEXT, AnswerParams, Composer, foreign_script_reason
from index.query.followup import Conversation, away_from, is_follow_up, names_nothing
from index.query.reader import load_word_lists
from index.query.reader_model import CrossReader
from index.query.retrieval import Fusion, Mode, Retrieval, Retriever
from index.storage import store
from index.storage.vectors import VectorStore
from index.types import Answer, Chunk, Note, Quote, Vectors

_SPACE = re.compile(r"\s+")
_SURROGATE = re.compile("[\ud800-\udfff]")  # in a Python str, always a lone one
# The notes in English, for the CLI (the bot words them in the reader's language: bot/messages.py).
NOTE_TEXTS: dict[Note, str] = {
    Note.FOREIGN_SCRIPT: (
        "The current model reads English only, so this question cannot be matched reliably. Ask in "
        "English, or ask an admin to switch to the multilingual model (FOOTNOTE_EMBEDDER=e5-multilingual)."
    ),
}


@dataclass(frozen=True, slots=True)
class EngineParams:
    """Everything `ask` needs besides the index and the model."""

    top_k: int = 5
    rrf_k: int = 60
    retrieval: Mode = "hybrid"
    fusion: Fusion = "rrf"
    answer: AnswerParams = field(default_factory=AnswerParams)
    max_question_chars: int = 500
    # How far a follow-up's vector moves away from its predecessor's (index/query/followup.py).
    follow_up_away: float = 1.0
    # A question that names nothing ("Was anybody hurt overnight?") is a follow-up when its best sentence
    # in the previous answer's articles scores at least this (reader log-odds); inf: never.
    vague_follow_up_floor: float = math.inf


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a question is answered from: its passages and, for a follow-up, the text searched (the
    previous question joined to it) and its own vector (moved away from the previous question's).
    `vague`: taken for a follow-up only because it names nothing (its answer must reach the floor)."""

    retrieval: Retrieval
    search: str | None = None
    own: Vectors | None = None
    _: KW_ONLY
    vague: bool = False
    near: frozenset[int] = frozenset()


class Engine:
    """Answers questions from one loaded index generation."""

    def __init__(
        self,
        stored: store.StoredIndex,
        embedder: Embedder,
        params: EngineParams,
        reader: CrossReader | None = None,
    ) -> None:
        self.stored = stored
        self.embedder = embedder
        self.params = params
        self.retriever = Retriever(
            stored,
            embedder,
            rrf_k=params.rrf_k,
            mode=params.retrieval,
            fusion=params.fusion,
            crosslingual_gap=params.answer.crosslingual_gap,
        )
        self.composer = Composer(stored, self.retriever.lexical, params.answer)
        self.composer.model = reader
        self._chunks_by_doc: dict[str, list[Chunk]] = {}
        for chunk in stored.chunks:
            self._chunks_by_doc.setdefault(chunk.doc_id, []).append(chunk)

    @classmethod
    def open(
        cls,
        index_dir: Path,
        embedder: Embedder,
        chunking: ChunkingParams,
        params: EngineParams,
        vector_store: VectorStore,
        reader: CrossReader | None = None,
    ) -> Engine:
        """Load the current index, refusing one built with another embedder, chunking or vector store."""
        generation = store.serving_generation(index_dir)
        store.check_compatible(
            store.read_manifest(generation), embedder.id, chunking_record(chunking), vector_store.id
        )
        return cls(store.load_generation(generation, vector_store), embedder, params, reader)

    @property
    def reader_name(self) -> str:
        """Which reader picks the quotes: the trained model's name and hash, or "rules"."""
        model = self.composer.model
        return f"{model.name} sha256:{model.hash}" if model is not None else "rules"

    @property
    def generation(self) -> str:
        """Name of the loaded generation (changes when a reindex is swapped in)."""
        return self.stored.path.name

    def ask(self, question: str, k: int | None = None, previous: str | Conversation | None = None) -> Answer:
        """Answer one question with verbatim quotes, or abstain. `previous` is the reader's previous turn
        (or just its question): a follow-up ("and the informal ones?") is searched together with it and
        answered from the articles the previous answer quoted (index/query/followup.py)."""
        question = clean_question(question, self.params.max_question_chars)
        if not question:
            raise QuestionError("the question is empty")
        if isinstance(previous, str):
            previous = Conversation(previous) if previous.strip() else None
        if previous is not None:
            previous = replace(
                previous, question=clean_question(previous.question, self.params.max_question_chars)
            )
        prepared = self.prepare(question, k or self.params.top_k, previous)
        answer = self._answer(question, prepared.retrieval, prepared.search, prepared.own, prepared.near)
        if prepared.vague and best_score(answer) < self.params.vague_follow_up_floor:
            # Nothing in the previous answer's articles answers it well: a new subject after all.
            return self._answer(question, self.retriever.retrieve(question, k or self.params.top_k))
        return answer

    def prepare(self, question: str, k: int, previous: Conversation | None = None) -> Prepared:
        """What a question is answered from. A follow-up of `previous` is searched together with it,
        narrowed to the articles that the previous answer quoted (as the conversation kept them, or by
        answering a bare previous question again), and its quotes chosen by its own vector moved away
        from the previous question's. A question that names nothing is prepared the same way, marked
        `vague` (`ask` keeps its answer only above a floor)."""
        follows = is_follow_up(question)
        vague = not follows and self.params.vague_follow_up_floor < math.inf and names_nothing(question)
        if previous is None or not previous.question or not (follows or vague):
            return Prepared(self.retriever.retrieve(question, k))
        quoted = previous.quoted
        if previous.answered:
            prior_vector = self.retriever.embed(previous.question)
        else:
            prior = self.retriever.retrieve(previous.question, k)
            quoted = tuple(
                (q.doc_id, q.start) for q in self.composer.compose(previous.question, prior).quotes
            )
            prior_vector = prior.query_vector
        articles = tuple(
            doc_id for doc_id in dict.fromkeys(d for d, _ in quoted) if doc_id in self.stored.articles
        )
        search = f"{previous.question} {question}"
        retrieval = self.retriever.retrieve(search, k)
        own = self.retriever.embed(question)
        # One or two words ("electric trains") may as well start a new subject: those are not narrowed.
        if articles and len(question.split()) > 2:
            retrieval = self.retriever.within(retrieval, articles)
            own = away_from(own, prior_vector, self.params.follow_up_away)
        return Prepared(retrieval, search, own, vague=vague, near=self.composer.near_quotes(quoted))

    def _answer(
        self,
        question: str,
        retrieval: Retrieval,
        search: str | None = None,
        own: Vectors | None = None,
        near: frozenset[int] = frozenset(),
    ) -> Answer:
        """Compose the answer, unless an English-only model got a question in another script."""
        if not self.embedder.multilingual and not mostly_latin(search or question):
            # An English-only model matches such a question to passages at random: say so instead of quoting.
            titles = tuple(dict.fromkeys(p.title for p in retrieval.passages))[:3]
            return Answer(
                question=question,
                abstained=True,
                text=ABSTAIN_TEXT,
                quotes=(),
                passages=retrieval.passages,
                nearest_titles=titles,
                notes=(Note.FOREIGN_SCRIPT,),
                timings_ms=retrieval.timings_ms,
                reason=foreign_script_reason(),
            )
        if search is None:
            return self.composer.compose(question, retrieval)
        return self.composer.compose(question, retrieval, search, own, near)

    def chunk_around(self, doc_id: str, start: int, end: int) -> Chunk | None:
        """The first chunk that contains [start, end) of an article (a quote's passage in context)."""
        for chunk in self._chunks_by_doc.get(doc_id, ()):
            if chunk.start <= start and end <= chunk.end:
                return chunk
        return None

    def neighbour_texts(self, quote: Quote) -> tuple[str, ...]:
        """The texts of the units directly before and after a quote in its article (for evaluation)."""
        row = self.composer.row_at(quote.doc_id, quote.start)
        return () if row is None else tuple(u.text for u in self.composer.reader.neighbours(row))

    def titles(self) -> list[tuple[str, str, str | None]]:
        """(doc_id, title, url) of every indexed article, by title."""
        articles = self.stored.articles.values()
        return sorted(((a.doc_id, a.title, a.source) for a in articles), key=lambda t: t[1].casefold())

    def warm_up(self) -> None:
        """Load the model and the reader's word lists now rather than on the first question."""
        self.embedder.embed_queries(["warm up"])
        load_word_lists()


def best_score(answer: Answer) -> float:
    """The reader's log-odds for an answer's best quote (-inf when it quotes nothing)."""
    return max((quote.score for quote in answer.quotes), default=-math.inf)


def mostly_latin(text: str) -> bool:
    """Whether at least half of a text's letters are Latin (English-only models need that)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    latin = sum(1 for c in letters if c.isascii() or unicodedata.name(c, "").startswith("LATIN"))
    return latin * 2 >= len(letters)


def clean_question(question: str, max_chars: int) -> str:
    """Collapse whitespace, make it valid Unicode (a lone surrogate, from a JSON escape or a byte that is
    not UTF-8, becomes U+FFFD: nothing downstream could encode it) and cut an overlong question at a word
    boundary."""
    question = _SURROGATE.sub("\ufffd", question)
    question = _SPACE.sub(" ", question).strip()
    if len(question) <= max_chars:
        return question
    cut = question[:max_chars]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut
