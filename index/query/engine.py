"""The engine: one open index generation that answers questions.

`Engine.ask` walks a question through the steps once each, in the order the data flows:

    followup.plan       alone, or continuing the reader's previous turn          -> Plan
    lexical.read_question  its language, words and weights, names, BM25 scores   -> QuestionWords
    retrieval.find      dense + BM25 passages (narrowed to the previous answer's articles) -> Found
    reader.read         relevance, every candidate sentence's log-odds, the checks -> Reading
    answer.compose      verbatim quotes, or an abstention with its reason          -> Answer

`index.pipeline.Pipeline` opens it from settings. The CLI, the terminal chat and the bot each hold one
`Engine`; it is safe to call `ask` from several threads at once (the model is loaded once, under a lock).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from config.defaults import MAX_QUESTION_CHARS, RETRIEVAL, RRF_K, TOP_K, Mode
from index.errors import QuestionError
from index.ingest.chunking import ChunkingParams, chunking_record
from index.ingest.embedding import Embedder
from index.query.answer import AnswerParams, Composer
from index.query.followup import Conversation, plan
from index.query.lexical import mostly_latin
from index.query.reader import Reader, load_word_lists
from index.query.reader_model import CrossReader
from index.query.retrieval import Fusion, Retrieval, Retriever
from index.storage import store
from index.storage.vectors import VectorStore
from index.types import Answer, Chunk, Quote

__all__ = ["Engine", "EngineParams", "clean_question", "mostly_latin"]

_SPACE = re.compile(r"\s+")
_SURROGATE = re.compile("[\ud800-\udfff]")  # in a Python str, always a lone one


@dataclass(frozen=True, slots=True)
class EngineParams:
    """Everything `ask` needs besides the index and the model."""

    top_k: int = TOP_K
    rrf_k: int = RRF_K
    retrieval: Mode = RETRIEVAL
    fusion: Fusion = "rrf"
    answer: AnswerParams = field(default_factory=AnswerParams)
    max_question_chars: int = MAX_QUESTION_CHARS
    # How far a follow-up's vector moves away from its predecessor's (index/query/followup.py).
    follow_up_away: float = 1.0
    # A question that names nothing ("Was anybody hurt overnight?") is a follow-up when its best sentence
    # in the previous answer's articles scores at least this (reader log-odds); inf: never.
    vague_follow_up_floor: float = math.inf


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
        self.reader = Reader(stored, self.retriever.lexical)
        self.composer = Composer(stored, params.answer)
        self.model = reader  # the trained reader, or None: the rules read alone
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
        model = self.model
        return f"{model.name} sha256:{model.hash}" if model is not None else "rules"

    @property
    def generation(self) -> str:
        """Name of the loaded generation (changes when a reindex is swapped in)."""
        return self.stored.path.name

    def ask(self, question: str, k: int | None = None, previous: Conversation | None = None) -> Answer:
        """Answer one question with verbatim quotes, or abstain. `previous` is the reader's previous turn
        (`turn` makes one from a bare question): a follow-up ("and the informal ones?") is searched together
        with it and answered from the articles the previous answer quoted (index/query/followup.py). A
        question that names nothing is tried the same way, and answered alone when the previous answer's
        articles do not answer it well enough (`vague_follow_up_floor`)."""
        question = clean_question(question, self.params.max_question_chars)
        if not question:
            raise QuestionError("the question is empty")
        if previous is not None:
            previous = replace(
                previous, question=clean_question(previous.question, self.params.max_question_chars)
            )
        params = self.params
        turn = plan(question, previous, vague=params.vague_follow_up_floor < math.inf)
        words = self.retriever.lexical.read_question(
            question, turn.search, rare_zipf=params.answer.rare_zipf, alone=turn.vague
        )
        found = self.retriever.find(turn, words, k or params.top_k, params.follow_up_away)
        reading = self.reader.read(
            words,
            found.retrieval,
            params.answer,
            self.composer.weights,
            own=found.own,
            quoted=turn.quoted,
            follows=turn.search is not None,
            foreign=not self.embedder.multilingual and not words.latin,
            model=self.model,
        )
        alone = None
        if found.alone is not None and words.alone is not None:  # a vague question, read alone too
            alone = self.reader.read(
                words.alone,
                found.alone,
                params.answer,
                self.composer.weights,
                foreign=not self.embedder.multilingual and not words.alone.latin,
                model=self.model,
            )
        return self.composer.compose(reading, alone, params.vague_follow_up_floor)

    def answer_from(self, question: str, retrieval: Retrieval) -> Answer:
        """Answer a question from a retrieval made elsewhere (a watch's, narrowed to new articles)."""
        words = self.retriever.lexical.read_question(question, rare_zipf=self.params.answer.rare_zipf)
        reading = self.reader.read(
            words, retrieval, self.params.answer, self.composer.weights, model=self.model
        )
        return self.composer.compose(reading)

    def turn(self, question: str, k: int | None = None, now: float = 0.0) -> Conversation:
        """The turn of a question asked afresh: its answer's quotes kept for a follow-up (an evaluation
        file's context is asked so, as its reader asked it)."""
        return Conversation.start(question, self.ask(question, k), now)

    def chunk_around(self, doc_id: str, start: int, end: int) -> Chunk | None:
        """The first chunk that contains [start, end) of an article (a quote's passage in context)."""
        for chunk in self._chunks_by_doc.get(doc_id, ()):
            if chunk.start <= start and end <= chunk.end:
                return chunk
        return None

    def neighbour_texts(self, quote: Quote) -> tuple[str, ...]:
        """The texts of the units directly before and after a quote in its article (for evaluation)."""
        row = self.reader.row_at(quote.doc_id, quote.start)
        return () if row is None else tuple(u.text for u in self.reader.neighbours(row))

    def titles(self) -> list[tuple[str, str, str | None]]:
        """(doc_id, title, url) of every indexed article, by title."""
        articles = self.stored.articles.values()
        return sorted(((a.doc_id, a.title, a.source) for a in articles), key=lambda t: t[1].casefold())

    def warm_up(self) -> None:
        """Load the model and the reader's word lists now rather than on the first question."""
        self.embedder.embed_queries(["warm up"])
        load_word_lists()


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
