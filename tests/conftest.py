"""Shared fixtures: tiny corpora in tmp_path, settings that never read a developer's .env, real models."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from config import Settings
from index.build.embedding import E5Embedder, HashingEmbedder, MiniLMEmbedder
from tests.fake_telegram import FakeTelegram

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"
SEED_QUESTIONS = ROOT / "eval" / "seed_questions.jsonl"


def make_settings(**values: object) -> Settings:
    """Settings from explicit values only (no .env, no FOOTNOTE_* from the developer's shell)."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def _no_footnote_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FOOTNOTE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def write_article(tmp_path: Path) -> Callable[..., Path]:
    """Write an article file under tmp_path/seeds and return its path."""
    seeds = tmp_path / "seeds"
    seeds.mkdir(exist_ok=True)

    def write(name: str, body: str, **meta: str) -> Path:
        path = seeds / name
        path.parent.mkdir(parents=True, exist_ok=True)
        header = ""
        if meta:
            header = (
                "---\n"
                + "".join(f"{k}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in meta.items())
                + "---\n"
            )
        path.write_text(header + body, encoding="utf-8")
        return path

    return write


@pytest.fixture
def hashing() -> HashingEmbedder:
    """The deterministic model-free embedder, for plumbing tests."""
    return HashingEmbedder()


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    """The real default model, loaded once per test session."""
    embedder = MiniLMEmbedder()
    embedder.embed_queries(["load"])
    return embedder


@pytest.fixture(scope="session")
def e5() -> E5Embedder:
    """The real multilingual model, loaded once per test session."""
    return E5Embedder()


def read_questions() -> list[dict[str, object]]:
    """The project's seed question set (a superset of ../shared/eval/seed_questions.jsonl)."""
    return [
        json.loads(line) for line in SEED_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus standalone server on loopback, started once per test session."""
    from tests.milvus_server import running_milvus

    with running_milvus(tmp_path_factory.mktemp("milvus")) as uri:
        yield uri


@contextlib.contextmanager
def lock_held_elsewhere(index_dir: Path) -> Iterator[None]:
    """Hold the index's write lock from another thread (as another process would) until the block ends."""
    from index.storage import store

    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.writer_lock(index_dir):
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10), "could not take the lock"
        yield
    finally:
        release.set()
        holder.join()


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    """The local fake Bot API server the real python-telegram-bot client talks to over HTTP."""
    server = FakeTelegram().start()
    yield server
    server.stop()
