"""Shared fixtures: tiny corpora in tmp_path, settings that never read a developer's .env, real models,
the fake Bot API. Plain helpers live in tests/helpers.py."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadFileScheduling

from bot.app import FootnoteApp
from index.ingest.embedding import E5Embedder, HashingEmbedder, MiniLMEmbedder
from tests.fake_telegram import FakeTelegram
from tests.helpers import bot_settings, started, stopped, write_articles

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _no_footnote_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FOOTNOTE_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _models_only_when_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that loads a real model without the `model` marker fails, naming itself: the fast tier
    (`-m "not model ..."`) stays fast. The one exception, `fast_model`, may load MiniLM (and only it):
    a few answer tests on one small index, kept in the fast tier on purpose (tests/test_answer_minilm.py)."""
    if request.node.get_closest_marker("model") is not None:
        return

    def refuse(self: object) -> None:
        raise AssertionError(f"{request.node.nodeid} loads a real model: mark it `model`")

    if request.node.get_closest_marker("fast_model") is None:
        monkeypatch.setattr(MiniLMEmbedder, "model", refuse)
    monkeypatch.setattr(E5Embedder, "model", refuse)


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


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus standalone server on loopback, started once per test session."""
    from tests.milvus_server import running_milvus

    with running_milvus(tmp_path_factory.mktemp("milvus")) as uri:
        yield uri


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    """The bot tests' small corpus (test modules about indexing define their own)."""
    return write_articles(tmp_path / "seeds")


@pytest.fixture
async def app(fake: FakeTelegram, tmp_path: Path, seeds: Path) -> AsyncIterator[FootnoteApp]:
    """The real bot, started against the fake Bot API over `seeds`."""
    application = await started(bot_settings(fake, tmp_path))
    yield application
    await stopped(application)


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    """The local fake Bot API server the real python-telegram-bot client talks to over HTTP."""
    server = FakeTelegram().start()
    yield server
    server.stop()


# Tests that need these fixtures must carry the marker, so `make test-fast` (-m "not model and ...")
# never loads a model, starts Milvus or builds the image's environment.
_MARKER_OF_FIXTURE = {"minilm": "model", "e5": "model", "milvus_uri": "milvus", "installed": "docker"}


# `make test` runs on two pytest-xdist workers, one test file at a time each (`--dist loadfile`), so a
# module-scoped index is built once. pytest-xdist's `xdist_group` does nothing under pytest 9.2, so the
# files holding `milvus` tests are one unit of work here (one Milvus server per machine: port 2380 is
# fixed). Workers take the files in this order of markers, longest first, so the venv build of the
# `docker` test overlaps everything else instead of finishing alone at the end.
# In the fast tier the `fast_model` tests are the only marked ones, so they come first: `-n 2` hands each
# worker a run of consecutive tests to start with, and one worker gets them all (MiniLM loads once).
MILVUS_FILES = ("tests/test_backends.py", "tests/test_replicas.py")
_WORKER_ORDER = ("docker", "milvus", "model", "fast_model", "slow")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> LoadFileScheduling | None:
    """Under `--dist loadfile`, schedule the MILVUS_FILES as one file (runs in the xdist controller)."""
    if config.getvalue("dist") != "loadfile":
        return None
    return _MilvusTogether(config, log)


class _MilvusTogether(LoadFileScheduling):
    """pytest-xdist's loadfile, with the files in MILVUS_FILES one unit of work."""

    def _split_scope(self, nodeid: str) -> str:
        scope = super()._split_scope(nodeid)
        return "milvus" if scope in MILVUS_FILES else scope


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse to run a test that uses a heavy fixture without the marker saying so, or a `milvus` test
    outside MILVUS_FILES; order the items for the xdist workers."""
    unmarked = [
        f"{item.nodeid} uses `{fixture}` but is not marked `{marker}`"
        for item in items
        for fixture, marker in _MARKER_OF_FIXTURE.items()
        if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None
    ]
    unmarked += [
        f"{item.nodeid} is marked `milvus` but its file is not in MILVUS_FILES (tests/conftest.py)"
        for item in items
        if item.get_closest_marker("milvus") is not None and item.nodeid.split("::")[0] not in MILVUS_FILES
    ]
    if unmarked:
        raise pytest.UsageError("\n".join(unmarked))
    if hasattr(config, "workerinput"):
        items.sort(key=_worker_rank)


def _worker_rank(item: pytest.Item) -> int:
    """The place of an item's heaviest marker in _WORKER_ORDER; unmarked items come last."""
    return next(
        (rank for rank, marker in enumerate(_WORKER_ORDER) if item.get_closest_marker(marker) is not None),
        len(_WORKER_ORDER),
    )
