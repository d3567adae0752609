"""Helpers the test modules share: paths, settings without a .env, the CLI in-process or as a process,
and the real bot started against the fake Bot API. Fixtures live in conftest.py; test modules import
plain helpers from here only."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.ext import TypeHandler

from bot.app import FootnoteApp, build_application, on_startup, on_stop
from bot.state import Context
from config import Settings
from index.ingest.embedding import HashingEmbedder
from index.pipeline import Pipeline
from index.types import Vectors
from tests.fake_telegram import Call, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"
SEED_QUESTIONS = ROOT / "eval" / "seed_questions.jsonl"
FOOTNOTE = [sys.executable, "-m", "cli.main"]

ADMIN = 900
READER = 1

ARTICLES = {
    "apples.md": (
        "Apples",
        "Apples grow on trees in orchards. Farmers pick ripe apples in autumn when they turn red.\n\n"
        "Cider is pressed from apples in the cold months of winter.",
    ),
    "trains.md": ("Trains", "Electric trains run quietly on rails between the busy stations of the city."),
}


def make_settings(**values: object) -> Settings:
    """Settings from explicit values only (no .env, no FOOTNOTE_* from the developer's shell)."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def read_questions() -> list[dict[str, object]]:
    """The project's seed question set (a superset of ../shared/eval/seed_questions.jsonl)."""
    return [
        json.loads(line) for line in SEED_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


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


# -- the command line ---------------------------------------------------------------------------------


def process_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for `footnote` as a subprocess: this tree's code, a corpus and index in tmp_path, the
    model-free embedder, nothing from the developer's FOOTNOTE_* variables."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("FOOTNOTE_")},
        "FOOTNOTE_SEEDS_DIR": str(tmp_path / "seeds"),
        "FOOTNOTE_INDEX_DIR": str(tmp_path / "index"),
        "FOOTNOTE_EMBEDDER": "hashing",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


@dataclass(frozen=True, slots=True)
class Ran:
    """What one in-process `footnote` run printed, and its exit status."""

    returncode: int
    stdout: str
    stderr: str


class Cli:
    """Runs `cli.main.main(argv)` in this process, in `cwd` (so a developer's .env is never read), with
    FOOTNOTE_* variables set for the run only."""

    def __init__(self, capsys: pytest.CaptureFixture[str], cwd: Path, **env: str) -> None:
        self._capsys = capsys
        self.cwd = cwd
        self.env = {name: value for name, value in env.items() if name.startswith("FOOTNOTE_")}

    def __call__(self, *argv: str, stdin: str | None = None, **env: str) -> Ran:
        """Run `footnote ARGV...`; `env` adds variables to this run only."""
        from cli.main import main

        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(self.cwd)
            for name, value in {**self.env, **env}.items():
                patch.setenv(name, value)
            patch.setattr(sys, "stdin", io.StringIO(stdin or ""))
            levels = {name: logging.getLogger(name).level for name in ("footnote", "index", "bot", "cli")}
            self._capsys.readouterr()
            try:
                code = main(list(argv))
            finally:
                for name, level in levels.items():
                    logging.getLogger(name).setLevel(level)
            out, err = self._capsys.readouterr()
        return Ran(code, out, err)


# -- the bot against the fake Bot API ------------------------------------------------------------------


class SlowPassages(HashingEmbedder):
    """Embeds questions at once; passages wait for `gate` once it is armed, so a reindex can be held open."""

    def __init__(self) -> None:
        super().__init__()
        self.gate: threading.Event | None = None

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        return super().embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return HashingEmbedder.embed_passages(self, texts)


def write_articles(seeds: Path, articles: dict[str, tuple[str, str]] = ARTICLES) -> Path:
    """The small two-article corpus (with front matter) in `seeds`."""
    seeds.mkdir(parents=True, exist_ok=True)
    for name, (title, body) in articles.items():
        (seeds / name).write_text(
            f"---\ntitle: {title}\nurl: https://example.org/{title.lower()}\n---\n{body}\n", encoding="utf-8"
        )
    return seeds


def bot_settings(fake: FakeTelegram, tmp_path: Path, **extra: Any) -> Settings:
    """Settings of a bot on the fake Bot API with its corpus and index in tmp_path."""
    values: dict[str, Any] = {
        "bot_token": fake.token,
        "bot_api_url": fake.base_url,
        "admin_ids": [ADMIN],
        "seeds_dir": tmp_path / "seeds",
        "index_dir": tmp_path / "data" / "index",
        "embedder": "hashing",
        "abstain_threshold": 0.2,
        "rate_limit_per_minute": 100,
    }
    values.update(extra)
    return make_settings(**values)


def bot_process_env(fake: FakeTelegram, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for `footnote bot` as a subprocess against the fake API, its index built beforehand."""
    settings = bot_settings(fake, tmp_path)
    Pipeline(settings, HashingEmbedder()).build_index()
    return process_env(
        tmp_path,
        FOOTNOTE_BOT_TOKEN=fake.token,
        FOOTNOTE_BOT_API_URL=fake.base_url,
        FOOTNOTE_INDEX_DIR=str(settings.index_dir),
        FOOTNOTE_ABSTAIN_THRESHOLD="0.2",
        **extra,
    )


# Handlers of this group run after the bot's own for the same update, error handlers included.
_AFTER_EVERYTHING = 1_000_000


async def started(settings: Settings, embedder: HashingEmbedder | None = None) -> FootnoteApp:
    """The real bot, its index built, polling the fake Bot API; every update it finishes handling is
    reported to the fake (`FakeTelegram.wait_processed`)."""
    footnote = Pipeline(settings, embedder or SlowPassages())
    footnote.build_index()
    application = build_application(settings, footnote, footnote.open_engine())
    fake = FakeTelegram.serving(settings.bot_api_url)

    async def processed(update: Update, context: Context) -> None:
        if fake is not None:
            fake.mark_processed(update.update_id)

    application.add_handler(TypeHandler(Update, processed), group=_AFTER_EVERYTHING)
    await application.initialize()
    await on_startup(application)
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1)
    return application


async def stopped(application: FootnoteApp) -> None:
    """Stop what `started` started, as `footnote bot` does on SIGTERM."""
    assert application.updater is not None
    await application.updater.stop()
    await application.stop()
    await on_stop(application)
    await application.shutdown()


async def wait(
    fake: FakeTelegram,
    method: str,
    predicate: Callable[[Call], bool] = lambda c: True,
    count: int = 1,
    timeout: float = 20.0,  # noqa: ASYNC109 - the wait happens in a thread, bounded by the fake
) -> list[Call]:
    """Wait, off the event loop, until the bot has made `count` matching calls of `method`."""
    return await asyncio.to_thread(fake.wait_for, method, predicate, timeout, count)


async def processed(
    fake: FakeTelegram,
    *updates: dict[str, Any],
    timeout: float = 60.0,  # noqa: ASYNC109 - the wait happens in a thread, bounded by the fake
) -> None:
    """Wait until the bot has finished handling these updates (as pushed: `push_message` returns them)."""
    await asyncio.to_thread(fake.wait_processed, [u["update_id"] for u in updates], timeout)


def text_has(fragment: str) -> Callable[[Call], bool]:
    """A predicate: the call's text contains `fragment`."""
    return lambda call: fragment in str(call.params.get("text", ""))


def buttons(call: Call) -> list[str]:
    """The callback data of every inline button of a sent message."""
    return [b["callback_data"] for row in call.params["reply_markup"]["inline_keyboard"] for b in row]
