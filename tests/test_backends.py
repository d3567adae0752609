"""One suite, two vector stores: FAISS files and the real Milvus server behave the same.

Retrieval, incremental indexing (add, replace, delete: a removed article is never returned), crashes,
the manifest checks and the answers; then what only a shared store has (migration, orphan clean-up).
Plumbing uses the model-free hashing embedder; the last test compares real-model answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from index.errors import IndexCorruptError, IndexMismatchError, IndexWriteError, VectorStoreError
from index.ingest.chunking import ChunkingParams
from index.ingest.embedding import HashingEmbedder
from index.ingest.indexing import build
from index.query.engine import Engine, EngineParams
from index.storage import store
from index.storage.faiss_store import FaissStore
from index.storage.milvus_store import INTENT, MilvusStore
from index.storage.vectors import VectorStore
from index.types import Answer, Vectors

PARAMS = ChunkingParams()
BACKENDS = ["faiss", pytest.param("milvus", marks=pytest.mark.milvus)]


class CountingEmbedder(HashingEmbedder):
    """Counts the texts it embeds; can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.embedded = 0
        self.fail = fail

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if self.fail:
            raise RuntimeError("simulated crash while embedding")
        self.embedded += len(texts)
        return super().embed_passages(texts)


def new_milvus(uri: str) -> MilvusStore:
    """A store on a collection of its own (Strong reads, so assertions need no waiting)."""
    return MilvusStore(uri, collection=f"t_{uuid.uuid4().hex[:12]}", consistency="Strong")


@pytest.fixture
def make_store(request: pytest.FixtureRequest) -> Iterator[Callable[[], VectorStore]]:
    """Builds stores of the backend under test (each Milvus one on a fresh collection)."""
    made: list[MilvusStore] = []

    def make() -> VectorStore:
        if request.param == "faiss":
            return FaissStore()
        milvus = new_milvus(request.getfixturevalue("milvus_uri"))
        made.append(milvus)
        return milvus

    yield make
    for milvus in made:
        milvus.client().drop_collection(milvus.collection)
        milvus.close()


@pytest.fixture
def milvus(milvus_uri: str) -> Iterator[MilvusStore]:
    """A Milvus store on a fresh collection, dropped after the test."""
    fresh = new_milvus(milvus_uri)
    yield fresh
    fresh.client().drop_collection(fresh.collection)
    fresh.close()


@pytest.fixture
def seeds(write_article: Callable[..., Path], tmp_path: Path) -> Path:
    write_article("alpha.txt", "Alpha article talks about apples. Apples are red and sweet.", title="Alpha")
    write_article("beta.md", "Beta article talks about bananas. Bananas are yellow.", title="Beta")
    write_article("delta.md", "Delta article talks about dates. Dates grow on palm trees.", title="Delta")
    return tmp_path / "seeds"


def shape(answer: Answer) -> tuple[object, ...]:
    """What a reader sees of an answer: abstention, passages and quotes (not the float scores)."""
    return (
        answer.abstained,
        [(p.doc_id, p.start, p.end) for p in answer.passages],
        [(q.n, q.doc_id, q.start, q.end, q.text) for q in answer.quotes],
    )


def open_engine(index_dir: Path, vector_store: VectorStore) -> Engine:
    return Engine.open(index_dir, HashingEmbedder(), PARAMS, EngineParams(), vector_store)


def rows_in(vector_store: VectorStore) -> int:
    """Rows the store holds in all (Milvus: the collection's count at Strong consistency)."""
    assert isinstance(vector_store, MilvusStore)
    result = vector_store.client().query(
        vector_store.collection, filter="", output_fields=["count(*)"], consistency_level="Strong"
    )
    return int(result[0]["count(*)"])


@pytest.mark.parametrize("make_store", BACKENDS, indirect=True)
def test_build_search_and_a_noop_rebuild(
    make_store: Callable[[], VectorStore], seeds: Path, tmp_path: Path
) -> None:
    vector_store = make_store()
    report = build(seeds, tmp_path / "index", CountingEmbedder(), PARAMS, vector_store)
    assert report.added == ("alpha.txt", "beta.md", "delta.md")

    engine = open_engine(tmp_path / "index", vector_store)
    assert engine.ask("bananas yellow").passages[0].doc_id == "beta.md"
    assert engine.ask("palm trees dates").passages[0].doc_id == "delta.md"
    assert len(engine.stored.search.search(engine.retriever.embed("apples"), 10)) == 3
    # The vectors read back from the store are the model's unit vectors.
    np.testing.assert_allclose(np.linalg.norm(engine.stored.chunk_vectors(), axis=1), 1.0, rtol=1e-5)

    idle = CountingEmbedder(fail=True)
    assert not build(seeds, tmp_path / "index", idle, PARAMS, vector_store).wrote


@pytest.mark.parametrize("make_store", BACKENDS, indirect=True)
def test_incremental_add_replace_delete_and_a_removed_article_is_never_returned(
    make_store: Callable[[], VectorStore], seeds: Path, tmp_path: Path, write_article: Callable[..., Path]
) -> None:
    vector_store = make_store()
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, vector_store)
    serving_before = open_engine(index_dir, vector_store)

    write_article("gamma.txt", "Gamma article talks about grapes. Grapes grow on vines.", title="Gamma")
    write_article("alpha.txt", "Alpha article now talks about apricots. Apricots are orange.", title="Alpha")
    (seeds / "beta.md").unlink()
    counter = CountingEmbedder()
    report = build(seeds, index_dir, counter, PARAMS, vector_store)
    assert (report.added, report.changed, report.removed) == (("gamma.txt",), ("alpha.txt",), ("beta.md",))
    assert counter.embedded == 2, "only the new and changed articles are embedded (sentences pooled)"

    engine = open_engine(index_dir, vector_store)
    for question in ("bananas yellow", "Beta article talks about bananas"):
        answer = engine.ask(question, k=10)
        assert all(p.doc_id != "beta.md" for p in answer.passages), "a removed article is never returned"
        assert all(q.doc_id != "beta.md" for q in answer.quotes)
    assert "apricots" in engine.ask("apricots orange").passages[0].text
    assert all("apples" not in p.text for p in engine.ask("apples red sweet", k=10).passages)
    assert engine.ask("grapes vines").passages[0].doc_id == "gamma.txt"

    # An engine still serving the previous generation never sees the new generation's rows.
    stale = serving_before.ask("grapes vines", k=10)
    assert all(p.doc_id != "gamma.txt" for p in stale.passages)
    if isinstance(vector_store, MilvusStore):
        assert rows_in(vector_store) == engine.stored.manifest.chunk_count, "old versions' rows are gone"


@pytest.mark.parametrize("make_store", BACKENDS, indirect=True)
def test_a_crash_at_any_step_leaves_the_old_index_serving_and_the_next_build_completes(
    make_store: Callable[[], VectorStore],
    seeds: Path,
    tmp_path: Path,
    write_article: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vector_store = make_store()
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, vector_store)
    generation = store.current_generation(index_dir)
    write_article("gamma.txt", "Gamma article talks about grapes. Grapes grow on vines.", title="Gamma")
    (seeds / "beta.md").unlink()

    with pytest.raises(RuntimeError, match="simulated crash"):
        build(seeds, index_dir, CountingEmbedder(fail=True), PARAMS, vector_store)

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    # After the new vectors are stored, before the new generation becomes current.
    monkeypatch.setattr(store, "_replace_pointer", crash)
    with pytest.raises(IndexWriteError, match="No space left"):
        build(seeds, index_dir, HashingEmbedder(), PARAMS, vector_store)
    monkeypatch.undo()

    assert store.current_generation(index_dir) == generation
    old = open_engine(index_dir, vector_store)
    assert sorted(old.stored.articles) == ["alpha.txt", "beta.md", "delta.md"]
    assert old.ask("bananas yellow").passages[0].doc_id == "beta.md"
    assert all(p.doc_id != "gamma.txt" for p in old.ask("grapes vines", k=10).passages)

    report = build(seeds, index_dir, HashingEmbedder(), PARAMS, vector_store)
    assert (report.added, report.removed) == (("gamma.txt",), ("beta.md",))
    assert open_engine(index_dir, vector_store).ask("grapes vines").passages[0].doc_id == "gamma.txt"
    if isinstance(vector_store, MilvusStore):
        assert not (index_dir / INTENT).exists()
        chunk_count = store.load(index_dir, vector_store).manifest.chunk_count
        assert rows_in(vector_store) == chunk_count, "the crashed build's rows were cleaned up"


class RenamedEmbedder(HashingEmbedder):
    """Another model of the same dimension (the hashing vectors, salted, under another id)."""

    @property
    def id(self) -> str:
        return "renamed-hashing-256"

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return super().embed_passages([f"{t} salt" for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.embed_passages(texts)


@pytest.mark.parametrize("make_store", BACKENDS, indirect=True)
def test_manifest_checks_embedder_and_store(
    make_store: Callable[[], VectorStore], seeds: Path, tmp_path: Path
) -> None:
    vector_store = make_store()
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, vector_store)
    with pytest.raises(IndexMismatchError, match="embedder"):
        Engine.open(index_dir, RenamedEmbedder(), PARAMS, EngineParams(), vector_store)
    other: VectorStore = FaissStore() if isinstance(vector_store, MilvusStore) else _NamedStore("milvus:x")
    with pytest.raises(IndexMismatchError, match="vector store"):
        Engine.open(index_dir, HashingEmbedder(), PARAMS, EngineParams(), other)
    with pytest.raises(IndexMismatchError, match="run `footnote index`"):
        store.load(index_dir, other)

    report = build(seeds, index_dir, RenamedEmbedder(), PARAMS, vector_store)
    assert report.rebuild_reason and "embedder" in report.rebuild_reason
    engine = Engine.open(index_dir, RenamedEmbedder(), PARAMS, EngineParams(), vector_store)
    assert engine.ask("bananas yellow").passages[0].doc_id == "beta.md"
    if isinstance(vector_store, MilvusStore):
        assert rows_in(vector_store) == 3, "the other model's vectors were removed"


@pytest.mark.milvus
def test_a_model_of_another_dimension_needs_another_collection(
    milvus: MilvusStore, seeds: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, milvus)
    with pytest.raises(VectorStoreError, match=r"holds 256-d vectors.*FOOTNOTE_MILVUS_COLLECTION"):
        build(seeds, index_dir, HashingEmbedder(dim=128), PARAMS, milvus)
    assert open_engine(index_dir, milvus).ask("bananas yellow").passages[0].doc_id == "beta.md"


class _NamedStore(FaissStore):
    """A FAISS store under another name, standing in for a store the index was not built with."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.id = name  # type: ignore[misc]


@pytest.mark.milvus
def test_full_rebuild_migrates_between_faiss_and_milvus(
    milvus: MilvusStore, seeds: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    faiss_store = FaissStore()
    build(seeds, index_dir, HashingEmbedder(), PARAMS, faiss_store)
    faiss_answer = open_engine(index_dir, faiss_store).ask("bananas yellow")

    report = build(seeds, index_dir, HashingEmbedder(), PARAMS, milvus)
    assert report.rebuild_reason and "vector store 'faiss', not 'milvus:" in report.rebuild_reason
    generation = store.current_generation(index_dir)
    assert generation is not None and not (generation / "chunks.faiss").exists()
    milvus_answer = open_engine(index_dir, milvus).ask("bananas yellow")
    assert shape(milvus_answer) == shape(faiss_answer)

    back = build(seeds, index_dir, HashingEmbedder(), PARAMS, faiss_store, full=True)
    assert back.added == ("alpha.txt", "beta.md", "delta.md")
    assert shape(open_engine(index_dir, faiss_store).ask("bananas yellow")) == shape(faiss_answer)
    store.check_files(index_dir)


@pytest.mark.milvus
def test_full_rebuild_sweeps_rows_no_generation_serves(
    milvus: MilvusStore, seeds: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, milvus)
    stray = np.zeros((1, 256), dtype=np.float32)
    stray[0, 0] = 1.0
    milvus.client().upsert(milvus.collection, [{"pk": 7, "doc": 7, "vector": stray[0]}])
    assert rows_in(milvus) == 4
    build(seeds, index_dir, HashingEmbedder(), PARAMS, milvus, full=True)
    assert rows_in(milvus) == 3


@pytest.mark.milvus
def test_a_failed_clean_up_is_finished_by_the_next_build(
    milvus: MilvusStore, seeds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, milvus)
    (seeds / "beta.md").unlink()

    def down(*args: object) -> None:
        raise VectorStoreError("Milvus at x: deleting retired vectors failed (simulated)")

    monkeypatch.setattr(milvus, "_delete", down)
    report = build(seeds, index_dir, HashingEmbedder(), PARAMS, milvus)
    assert report.removed == ("beta.md",), "the new generation is live even though clean-up failed"
    monkeypatch.undo()
    assert (index_dir / INTENT).exists()
    assert rows_in(milvus) == 3
    answer = open_engine(index_dir, milvus).ask("bananas yellow", k=10)
    assert all(p.doc_id != "beta.md" for p in answer.passages), "retired rows are never returned"

    assert not build(seeds, index_dir, HashingEmbedder(), PARAMS, milvus).wrote
    assert not (index_dir / INTENT).exists()
    assert rows_in(milvus) == 2


@pytest.mark.milvus
def test_an_emptied_or_missing_collection_is_named_and_full_rebuild_repairs(
    milvus: MilvusStore, seeds: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, milvus)
    milvus.client().drop_collection(milvus.collection)
    with pytest.raises(IndexCorruptError, match=f"collection '{milvus.collection}'.*index --full"):
        open_engine(index_dir, milvus)
    build(seeds, index_dir, HashingEmbedder(), PARAMS, milvus, full=True)
    assert open_engine(index_dir, milvus).ask("bananas yellow").passages[0].doc_id == "beta.md"

    milvus.client().delete(milvus.collection, filter="pk >= 0")
    with pytest.raises(IndexCorruptError, match="holds none of this index's vectors"):
        open_engine(index_dir, new_view(milvus))


def new_view(milvus: MilvusStore) -> MilvusStore:
    return MilvusStore(milvus.uri, collection=milvus.collection, consistency="Strong")


def test_an_unreachable_milvus_is_one_clear_error(seeds: Path, tmp_path: Path) -> None:
    unreachable = MilvusStore("http://127.0.0.1:9", collection="footnote", timeout=2)
    with pytest.raises(VectorStoreError, match=r"Milvus at http://127.0.0.1:9: cannot connect"):
        build(seeds, tmp_path / "index", HashingEmbedder(), PARAMS, unreachable)
    assert store.current_generation(tmp_path / "index") is None


@pytest.mark.milvus
@pytest.mark.model
def test_real_model_answers_are_the_same_on_both_stores(
    milvus: MilvusStore, minilm: object, tmp_path: Path
) -> None:
    from index.ingest.embedding import MiniLMEmbedder
    from tests.helpers import SEEDS, read_questions

    assert isinstance(minilm, MiniLMEmbedder)
    faiss_dir, milvus_dir = tmp_path / "faiss", tmp_path / "milvus"
    build(SEEDS, faiss_dir, minilm, PARAMS, FaissStore())
    build(SEEDS, milvus_dir, minilm, PARAMS, milvus)
    on_faiss = Engine.open(faiss_dir, minilm, PARAMS, EngineParams(), FaissStore())
    on_milvus = Engine.open(milvus_dir, minilm, PARAMS, EngineParams(), milvus)
    for item in read_questions():
        question = str(item["question"])
        assert shape(on_faiss.ask(question)) == shape(on_milvus.ask(question)), question
