"""Incremental, atomic indexing on disk (plumbing: the model-free hashing embedder)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from index.errors import (
    IndexBusyError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    IndexWriteError,
)
from index.ingest.chunking import ChunkingParams
from index.ingest.embedding import HashingEmbedder, PassageVectors, Span, UnitVectors
from index.ingest.indexing import build
from index.query.engine import Engine, EngineParams
from index.storage import store
from index.storage.faiss_store import FaissStore
from index.types import Vectors
from tests.helpers import lock_held_elsewhere

PARAMS = ChunkingParams()


class CountingEmbedder(HashingEmbedder):
    """Counts the texts it embeds; can be told to fail."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.embedded = 0
        self.fail_after = fail_after

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if self.fail_after is not None and self.embedded + len(texts) > self.fail_after:
            raise RuntimeError("simulated crash while embedding")
        self.embedded += len(texts)
        return super().embed_passages(texts)


@pytest.fixture
def seeds(write_article: Callable[..., Path], tmp_path: Path) -> Path:
    write_article("alpha.txt", "Alpha article talks about apples. Apples are red and sweet.", title="Alpha")
    write_article("beta.md", "Beta article talks about bananas. Bananas are yellow.", title="Beta")
    return tmp_path / "seeds"


def engine(index_dir: Path, embedder: HashingEmbedder | None = None) -> Engine:
    return Engine.open(index_dir, embedder or HashingEmbedder(), PARAMS, EngineParams(), FaissStore())


def test_first_build_then_noop_without_touching_the_model(seeds: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    first = build(seeds, index_dir, CountingEmbedder(), PARAMS, FaissStore())
    assert (first.added, first.changed, first.removed) == (("alpha.txt", "beta.md"), (), ())
    assert first.wrote and first.chunks == 2

    idle = CountingEmbedder(fail_after=0)  # any embedding would raise
    again = build(seeds, index_dir, idle, PARAMS, FaissStore())
    assert not again.wrote
    assert again.unchanged == ("alpha.txt", "beta.md")
    assert idle.embedded == 0


def test_incremental_add_change_remove(
    seeds: Path, tmp_path: Path, write_article: Callable[..., Path]
) -> None:
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())

    write_article("gamma.txt", "Gamma article talks about grapes. Grapes grow on vines.", title="Gamma")
    write_article("alpha.txt", "Alpha article now talks about apricots. Apricots are orange.", title="Alpha")
    (seeds / "beta.md").unlink()
    counter = CountingEmbedder()
    report = build(seeds, index_dir, counter, PARAMS, FaissStore())
    assert report.added == ("gamma.txt",)
    assert report.changed == ("alpha.txt",)
    assert report.removed == ("beta.md",)
    assert report.unchanged == ()
    assert counter.embedded == 2  # two chunks (their four sentences pooled), nothing else re-embedded

    loaded = engine(index_dir)
    assert sorted(loaded.stored.articles) == ["alpha.txt", "gamma.txt"]
    for question in ("bananas yellow", "Beta article"):
        answer = loaded.ask(question, k=10)
        assert all(p.doc_id != "beta.md" for p in answer.passages), "a removed article is never returned"
        assert all(q.doc_id != "beta.md" for q in answer.quotes)
    assert "apricots" in loaded.ask("apricots orange").passages[0].text


def test_unchanged_articles_keep_their_vectors(
    seeds: Path, tmp_path: Path, write_article: Callable[..., Path]
) -> None:
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    before = store.load(index_dir, FaissStore())
    write_article("gamma.txt", "Gamma grapes.", title="Gamma")
    build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    after = store.load(index_dir, FaissStore())
    old = {c.doc_id: v for c, v in zip(before.chunks, before.chunk_vectors(), strict=True)}
    new = {c.doc_id: v for c, v in zip(after.chunks, after.chunk_vectors(), strict=True)}
    np.testing.assert_array_equal(old["alpha.txt"], new["alpha.txt"])
    assert [c.doc_id for c in after.chunks] == ["alpha.txt", "beta.md", "gamma.txt"]


def test_a_broken_file_is_reported_and_the_rest_indexes(
    seeds: Path, tmp_path: Path, write_article: Callable[..., Path]
) -> None:
    index_dir = tmp_path / "index"
    (seeds / "broken.md").write_text("---\ntitle: [x\n---\nbody", encoding="utf-8")
    report = build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    assert [p.doc_id for p in report.problems] == ["broken.md"]
    assert "front matter is not valid YAML" in str(report.problems[0])
    assert report.added == ("alpha.txt", "beta.md")


def test_a_broken_edit_keeps_the_old_version_serving(seeds: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    (seeds / "alpha.txt").write_bytes(b"\xff\xfe not utf-8")
    report = build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    assert [p.doc_id for p in report.problems] == ["alpha.txt"]
    assert "alpha.txt" in report.unchanged
    assert "apples" in store.load(index_dir, FaissStore()).articles["alpha.txt"].text


def test_crash_mid_build_leaves_the_previous_index_loadable(
    seeds: Path, tmp_path: Path, write_article: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    generation = store.current_generation(index_dir)
    write_article("gamma.txt", "Gamma article about grapes.", title="Gamma")

    with pytest.raises(RuntimeError, match="simulated crash"):
        build(seeds, index_dir, CountingEmbedder(fail_after=0), PARAMS, FaissStore())
    assert store.current_generation(index_dir) == generation

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.np, "save", crash)
    with pytest.raises(IndexWriteError, match="No space left"):
        build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    monkeypatch.undo()
    assert store.current_generation(index_dir) == generation
    assert sorted(engine(index_dir).stored.articles) == ["alpha.txt", "beta.md"]
    assert not list(index_dir.glob(".staging-*")), "a failed build cleans up after itself"

    report = build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    assert report.added == ("gamma.txt",)


def test_only_two_generations_are_kept(
    seeds: Path, tmp_path: Path, write_article: Callable[..., Path]
) -> None:
    index_dir = tmp_path / "index"
    for i in range(4):
        write_article("alpha.txt", f"Version {i} of alpha.", title="Alpha")
        build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    assert len(list(index_dir.glob("gen-*"))) == 2


def test_another_embedder_is_a_clear_error_and_triggers_a_rebuild(seeds: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(dim=64), PARAMS, FaissStore())
    with pytest.raises(IndexMismatchError, match="run `footnote index`"):
        engine(index_dir, HashingEmbedder(dim=128))
    report = build(seeds, index_dir, HashingEmbedder(dim=128), PARAMS, FaissStore())
    assert report.rebuild_reason and "embedder" in report.rebuild_reason
    assert report.added == ("alpha.txt", "beta.md")
    engine(index_dir, HashingEmbedder(dim=128))


def test_other_chunking_triggers_a_rebuild(seeds: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    other = ChunkingParams(target_words=50, max_words=80)
    report = build(seeds, index_dir, HashingEmbedder(), other, FaissStore())
    assert report.rebuild_reason and "chunking" in report.rebuild_reason


class EncodingEmbedder(CountingEmbedder):
    """Embeds every unit on its own, as e5 does (and every index built before pooling)."""

    @property
    def unit_vectors(self) -> UnitVectors:
        return "encoded"

    def embed_with_units(self, texts: Sequence[str], spans: Sequence[Span]) -> PassageVectors:
        return PassageVectors.unpooled(self.embed_passages(texts), len(spans))


class FirstSpanOnly(CountingEmbedder):
    """Pools only a chunk's first unit, as if the rest lay past the model's token limit."""

    def embed_with_units(self, texts: Sequence[str], spans: Sequence[Span]) -> PassageVectors:
        out = super().embed_with_units(texts, spans)
        out.pooled[[start > 0 for _, start, _ in spans]] = False
        out.spans[~out.pooled] = 0.0
        return out


def test_units_are_pooled_in_the_chunk_pass_and_the_manifest_says_so(seeds: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    counter = CountingEmbedder()
    build(seeds, index_dir, counter, PARAMS, FaissStore())
    stored = store.load(index_dir, FaissStore())
    assert counter.embedded == len(stored.chunks) == 2, "no unit is embedded on its own"
    assert stored.manifest.unit_vectors == "pooled"
    own = HashingEmbedder().embed_passages([u.text for u in stored.units])
    np.testing.assert_allclose(stored.unit_vectors, own, atol=1e-6)


def test_units_that_cannot_be_pooled_are_encoded_on_their_own(seeds: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    partial = FirstSpanOnly()
    build(seeds, index_dir, partial, PARAMS, FaissStore())
    stored = store.load(index_dir, FaissStore())
    assert len(stored.units) == 4 and partial.embedded == 2 + 2, "two chunks, then the two second sentences"
    own = HashingEmbedder().embed_passages([u.text for u in stored.units])
    np.testing.assert_allclose(stored.unit_vectors, own, atol=1e-6)


@pytest.mark.parametrize("old", ["encoded", "unrecorded"])
def test_an_index_with_unit_vectors_made_another_way_serves_and_is_rebuilt(
    seeds: Path, tmp_path: Path, old: str
) -> None:
    index_dir = tmp_path / "index"
    encoding = EncodingEmbedder()
    build(seeds, index_dir, encoding if old == "encoded" else HashingEmbedder(), PARAMS, FaissStore())
    generation = store.serving_generation(index_dir)
    if old == "encoded":
        assert encoding.embedded == 2 + 4 and store.read_manifest(generation).unit_vectors == "encoded"
    else:  # a manifest written before unit vectors were recorded
        path = generation / "manifest.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        del manifest["unit_vectors"]
        path.write_text(json.dumps(manifest), encoding="utf-8")
        assert store.read_manifest(generation).unit_vectors == "encoded"
    assert engine(index_dir).ask("Are apples red and sweet?").passages, "it still serves (no mismatch error)"
    report = build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    assert report.rebuild_reason and "unit vectors encoded, not pooled" in report.rebuild_reason
    assert report.added == ("alpha.txt", "beta.md")
    assert store.load(index_dir, FaissStore()).manifest.unit_vectors == "pooled"
    again = build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    assert not again.wrote and again.rebuild_reason is None


def test_missing_index_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="run `footnote index` first"):
        store.load(tmp_path / "nothing", FaissStore())


@pytest.mark.parametrize(
    "victim", ["manifest.json", "chunks.jsonl", "units.npy", "chunks.faiss", "articles.jsonl"]
)
def test_corrupt_files_are_named_and_full_rebuild_repairs(seeds: Path, tmp_path: Path, victim: str) -> None:
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    generation = store.current_generation(index_dir)
    assert generation is not None
    path = generation / victim
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(IndexCorruptError) as caught:
        store.load(index_dir, FaissStore())
    assert victim in str(caught.value) and "footnote index --full" in str(caught.value)

    report = build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore(), full=True)
    assert report.added == ("alpha.txt", "beta.md")
    store.load(index_dir, FaissStore())


def test_manifest_from_a_future_format_is_refused(seeds: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore())
    generation = store.current_generation(index_dir)
    assert generation is not None
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest["format_version"] = 99
    (generation / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="format 99"):
        store.load(index_dir, FaissStore())
    assert build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore()).rebuild_reason


def test_a_second_writer_waits_or_is_told(seeds: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    with lock_held_elsewhere(index_dir), pytest.raises(IndexBusyError, match="another `footnote index`"):
        build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore(), wait=False)
    assert build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore(), wait=False).wrote


def test_empty_seeds_folder_gives_an_empty_index(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    report = build(tmp_path / "seeds", tmp_path / "index", HashingEmbedder(), PARAMS, FaissStore())
    assert report.chunks == 0
    answer = engine(tmp_path / "index").ask("anything at all?")
    assert answer.abstained and answer.passages == ()


def test_large_corpora_get_an_ivf_index_that_round_trips(seeds: Path, tmp_path: Path) -> None:
    from index.storage import faiss_store
    from index.storage.faiss_store import FaissStore

    rng = np.random.default_rng(0)
    data = rng.normal(size=(3000, 32)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    assert faiss_store.choose(3000, "auto", flat_max=1000) == "ivf"
    assert faiss_store.choose(500, "auto", flat_max=1000) == "flat"
    index = faiss_store.build(data, 32, "auto", flat_max=1000)
    assert faiss_store.describe(index).startswith("ivf")
    np.testing.assert_allclose(index.reconstruct_n(0, 3000), data, atol=1e-6)
    faiss_store.set_nprobe(index, index.nlist)  # visiting every list is exact
    _, found = index.search(data[:5], 1)
    assert found[:, 0].tolist() == [0, 1, 2, 3, 4]

    index_dir = tmp_path / "index"
    build(seeds, index_dir, HashingEmbedder(), PARAMS, FaissStore("ivf"))
    loaded = store.load(index_dir, FaissStore())
    assert loaded.search.describe().startswith("ivf")
    assert loaded.chunk_vectors().shape == (2, 256), "vectors can be read back for incremental builds"
    answer = Engine(loaded, HashingEmbedder(), EngineParams()).ask("bananas yellow")
    assert answer.passages[0].doc_id == "beta.md"


def test_an_index_folder_that_cannot_be_made_is_a_clear_error(seeds: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the index folder should go")
    with pytest.raises(IndexWriteError, match=r"cannot write the index in .*not-a-folder/index"):
        build(seeds, blocker / "index", HashingEmbedder(), PARAMS, FaissStore())


def test_errors_inside_a_build_are_not_blamed_on_writing(seeds: Path, tmp_path: Path) -> None:
    """Only taking the lock and writing a generation turn an OSError into IndexWriteError."""
    with pytest.raises(FileNotFoundError), store.writer_lock(tmp_path / "index"):
        (tmp_path / "missing.txt").read_text()
