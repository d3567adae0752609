"""Faults, floods and hostile input (RELIABILITY.md lists every case and where it is tested)."""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from index.errors import CorpusError
from index.pipeline import Pipeline
from index.sources import corpus
from index.storage import store
from index.storage.faiss_store import FaissStore
from tests.fake_telegram import FakeTelegram
from tests.helpers import (
    ADMIN,
    FOOTNOTE,
    Cli,
    bot_settings,
    lock_held_elsewhere,
    make_settings,
    processed,
    started,
    stopped,
    text_has,
    wait,
)
from tests.helpers import process_env as cli_env


@pytest.fixture
def footnote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """`footnote` run in this process on tmp_path/seeds and tmp_path/index."""
    return Cli(capsys, tmp_path, **cli_env(tmp_path))


def many_articles(seeds: Path, count: int, start: int = 0) -> None:
    seeds.mkdir(exist_ok=True)
    for i in range(start, start + count):
        sentences = " ".join(
            f"Article {i} sentence {j} discusses topic {i * 7 + j} in detail." for j in range(60)
        )
        (seeds / f"a{i:04d}.txt").write_text(f"Title {i}\n\n{sentences}\n", encoding="utf-8")


# -- index and data ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_at_many_points_of_a_build_never_breaks_the_served_index(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    many_articles(seeds, 20)
    env = cli_env(tmp_path)
    subprocess.run([*FOOTNOTE, "index"], env=env, check=True, capture_output=True, timeout=120)
    first = store.current_generation(tmp_path / "index")
    many_articles(seeds, 300, start=20)

    began = time.monotonic()
    subprocess.run(
        [*FOOTNOTE, "index"],
        env={**env, "FOOTNOTE_INDEX_DIR": str(tmp_path / "probe")},
        check=True,
        capture_output=True,
        timeout=300,
    )
    duration = time.monotonic() - began
    killed_mid_build = 0
    for fraction in (0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 0.95):
        process = subprocess.Popen(
            [*FOOTNOTE, "index"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(duration * fraction)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        killed_mid_build += store.current_generation(tmp_path / "index") == first
        served = Pipeline(make_settings(seeds_dir=seeds, index_dir=tmp_path / "index", embedder="hashing"))
        engine = served.open_engine()
        assert engine.ask("What does article 3 discuss?").passages, (
            "the previous index still loads and answers"
        )
    assert killed_mid_build >= 3, "most kills landed before the swap"
    done = subprocess.run(
        [*FOOTNOTE, "index"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert len(store.load(tmp_path / "index", FaissStore()).articles) == 320, "the next build completes"
    assert len(list((tmp_path / "index").glob(".staging-*"))) == 0, "leftovers of killed builds are cleaned"


@pytest.mark.slow
def test_two_index_runs_at_once_wait_for_each_other(tmp_path: Path) -> None:
    many_articles(tmp_path / "seeds", 150)
    env = cli_env(tmp_path)
    runs = [
        subprocess.Popen(
            [*FOOTNOTE, "index"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    stdout = "".join(out for out, _ in outputs)
    assert "added 150" in stdout and "index up to date" in stdout, "one built, the other found it done"
    assert any("another `footnote index` is running; waiting" in err for _, err in outputs)
    store.load(tmp_path / "index", FaissStore())


def test_pickled_vectors_are_refused(tmp_path: Path, footnote: Cli) -> None:
    import numpy as np

    many_articles(tmp_path / "seeds", 2)
    assert footnote("index").returncode == 0
    generation = store.current_generation(tmp_path / "index")
    assert generation is not None
    np.save(generation / "units.npy", np.array([{"evil": "object"}], dtype=object), allow_pickle=True)
    with pytest.raises(Exception, match=r"units\.npy"):
        store.load(tmp_path / "index", FaissStore())


def test_permission_denied_while_writing_is_a_clear_error_and_the_old_index_stays(
    tmp_path: Path, footnote: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    many_articles(tmp_path / "seeds", 2)
    assert footnote("index").returncode == 0
    many_articles(tmp_path / "seeds", 1, start=5)
    mkdir = os.mkdir

    def deny(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if ".staging-" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "mkdir", deny)
    result = footnote("index")
    monkeypatch.undo()
    assert result.returncode == 1
    assert result.stderr.startswith("footnote: error: ") and "Traceback" not in result.stderr
    assert "[Errno 13] Permission denied" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert len(store.load(tmp_path / "index", FaissStore()).articles) == 2


# -- uploads -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd.md", "passwd.md"),
        ("/etc/cron.d/evil.txt", "evil.txt"),
        ("..\\..\\windows\\system.ini.md", "system.ini.md"),
        ("CON.txt", "article-CON.txt"),
        ("nul.md", "article-nul.md"),
        ("   .md", "article.md"),
        (".hidden.md", "hidden.md"),
        ("Ａｒｔｉｃｌｅ (draft) №1.md", "Article-draft-No1.md"),
        ("a\u202eevil\u0000.md", "a-evil.md"),
        ("x" * 300 + ".md", "x" * 100 + ".md"),
    ],
)
def test_upload_names_are_sanitised(name: str, expected: str) -> None:
    assert corpus.safe_file_name(name) == expected


def test_uploads_stay_inside_the_seeds_folder_and_never_overwrite_silently(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    added = corpus.add_file(seeds, "../../escape.md", b"# One\n\nFirst text.")
    assert added.doc_id == "escape.md" and (seeds / "escape.md").exists()
    assert not (tmp_path / "escape.md").exists()
    again = corpus.add_file(seeds, "escape.md", b"# One\n\nFirst text.")
    assert again.unchanged
    other = corpus.add_file(seeds, "escape.md", b"# Two\n\nOther text.")
    assert other.renamed and other.doc_id == "escape-2.md"
    assert (seeds / "escape.md").read_bytes() == b"# One\n\nFirst text."
    replaced = corpus.add_file(seeds, "escape.md", b"# Three\n\nNew text.", replace=True)
    assert replaced.doc_id == "escape.md" and b"Three" in (seeds / "escape.md").read_bytes()
    with pytest.raises(CorpusError, match="only"):
        corpus.add_file(seeds, "payload.sh", b"rm -rf /")
    with pytest.raises(CorpusError, match="not UTF-8"):
        corpus.add_file(seeds, "latin1.txt", "caf\xe9".encode("latin-1"))
    assert sorted(p.name for p in seeds.iterdir()) == ["escape-2.md", "escape.md"]


def test_an_upload_the_disk_refuses_is_named_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    with pytest.raises(CorpusError, match=r"new\.md: cannot be saved in .*No space left on device"):
        corpus.add_file(tmp_path / "seeds", "new.md", b"# New\n\nA new article.")
    assert list((tmp_path / "seeds").iterdir()) == []


def test_remove_never_leaves_the_seeds_folder(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (tmp_path / "outside.md").write_text("keep me")
    (seeds / "inside.md").write_text("bye")
    assert not corpus.remove_file(seeds, "../outside.md")
    assert not corpus.remove_file(seeds, str(tmp_path / "outside.md"))
    assert (tmp_path / "outside.md").exists()
    assert corpus.remove_file(seeds, "inside.md") and not (seeds / "inside.md").exists()


# -- the bot under load and odd input ----------------------------------------------------------------


def rss_kib() -> int:
    with Path(f"/proc/{os.getpid()}/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@pytest.mark.slow
async def test_burst_of_1000_questions_from_100_users(fake: FakeTelegram, tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "apples.md").write_text(
        "---\ntitle: Apples\n---\nFarmers pick ripe apples in autumn.\n"
    )
    # Telegram's own 30 requests/s cap would make this a minute-long test: lift it on loopback.
    application = await started(bot_settings(fake, tmp_path, rate_limit_per_minute=8, telegram_max_rate=0))
    try:
        # warm up, then measure
        await processed(fake, fake.push_message("When do farmers pick apples?", user_id=10_000))
        gc.collect()
        baseline_tasks = len(asyncio.all_tasks())
        before = rss_kib()
        began = time.monotonic()
        questions = [
            fake.push_message(f"When do farmers pick apples? ({round_})", user_id=user)
            for round_ in range(10)
            for user in range(1, 101)
        ]
        await processed(fake, *questions, timeout=120)
        elapsed = time.monotonic() - began
        answers = [c for c in fake.calls_to("sendMessage") if "Farmers pick ripe apples" in c.params["text"]]
        notices = [c for c in fake.calls_to("sendMessage") if "faster than I can read" in c.params["text"]]
        per_user: dict[int, int] = {}
        for call in fake.calls_to("sendMessage"):
            per_user[call.params["chat_id"]] = per_user.get(call.params["chat_id"], 0) + 1
        assert all(per_user[user] == 8 + 1 for user in range(1, 101)), "8 answers and exactly one notice each"
        assert len(answers) == 801 and len(notices) == 100
        gc.collect()
        after = rss_kib()
        assert after - before < 60_000, f"memory grew by {after - before} KiB"
        assert len(asyncio.all_tasks()) <= baseline_tasks, "no handler task left behind"
        assert elapsed < 120
    finally:
        await stopped(application)


async def test_malformed_and_unexpected_updates_never_crash_the_bot(
    fake: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "apples.md").write_text(
        "---\ntitle: Apples\n---\nFarmers pick ripe apples in autumn.\n"
    )
    application = await started(bot_settings(fake, tmp_path))
    try:
        now = int(time.time())
        chat = {"id": 1, "type": "private"}
        pushed: list[dict[str, object]] = []
        user = {"id": 1, "is_bot": False, "first_name": "x"}
        pushed.append(
            fake.push_update(
                {
                    "edited_message": {
                        "message_id": 5,
                        "date": now,
                        "edit_date": now,
                        "chat": chat,
                        "from": user,
                        "text": "edited question about apples",
                    }
                }
            )
        )
        pushed.append(
            fake.push_update(
                {
                    "channel_post": {
                        "message_id": 6,
                        "date": now,
                        "chat": {"id": -1001, "type": "channel"},
                        "text": "a channel post about apples",
                    }
                }
            )
        )
        pushed.append(
            fake.push_update(
                {
                    "message": {
                        "message_id": 7,
                        "date": now,
                        "chat": {"id": -5, "type": "group"},
                        "text": "no sender at all",
                    }
                }
            )
        )
        pushed.append(
            fake.push_update(
                {
                    "message": {
                        "message_id": 8,
                        "date": now,
                        "chat": chat,
                        "from": user,
                        "photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}],
                        "caption": "<b>" * 5000,
                    }
                }
            )
        )
        pushed.append(fake.push_update({"brand_new_update_type": {"whatever": True}}))
        pushed.append(
            fake.push_update(
                {
                    "message": {
                        "message_id": 9,
                        "date": now,
                        "chat": chat,
                        "from": user,
                        "text": "<script>alert(1)</script> & apples?",
                    }
                }
            )
        )
        question = fake.push_message("When do farmers pick ripe apples?", user_id=2)
        await processed(fake, *pushed, question)
        texts = fake.texts()
        assert not any("edited question" in t or "channel post" in t for t in texts)
        assert "I read text questions only — please type your question." in texts
        assert not [r for r in caplog.records if r.levelno >= 40], "no handler error"
    finally:
        await stopped(application)


async def test_reindex_while_the_cli_holds_the_lock_is_reported(fake: FakeTelegram, tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "apples.md").write_text(
        "---\ntitle: Apples\n---\nFarmers pick ripe apples in autumn.\n"
    )
    settings = bot_settings(fake, tmp_path)
    application = await started(settings)
    try:
        with lock_held_elsewhere(settings.index_dir):
            fake.push_message("/reindex", user_id=ADMIN)
            await wait(fake, "editMessageText", text_has("Another indexing run"))
            fake.push_message("When do farmers pick ripe apples?")
            await wait(fake, "sendMessage", text_has("Farmers pick ripe apples"))
    finally:
        await stopped(application)
