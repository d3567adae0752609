"""Watches (issue 28): the store and the matching of a generation's new passages (index/query/watches.py),
the real bot's /watch, /watches and notices against the fake Bot API (bot/watches.py), and the terminal's
`footnote watch` and `footnote sync --json`. The model-free hashing embedder throughout."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from bot import callbacks
from bot.app import FootnoteApp
from bot.messages import EN
from bot.render import utf16_len, watch_notice
from config import Settings
from index.errors import WatchError, WatchLimitError
from index.ingest.embedding import HashingEmbedder
from index.pipeline import Pipeline
from index.query import watches as core
from index.query.engine import Engine
from index.query.reader import Question
from index.query.retrieval import Retrieval
from index.query.watches import CLI, Checked, Notice, Watch, WatchStore, telegram_owner
from index.types import Passage, Quote
from tests.fake_telegram import Call, FakeTelegram
from tests.helpers import (
    ADMIN,
    Cli,
    bot_settings,
    buttons,
    make_settings,
    process_env,
    processed,
    started,
    stopped,
    text_has,
    wait,
    write_articles,
)

QUESTION = "When is pear cider pressed?"
PEARS = (
    "Pear cider",
    "Pear cider is pressed from ripe pears in the late autumn, after the harvest of the old orchards. "
    "The juice rests in oak barrels through the winter before it is bottled in the spring.",
)
FOOTBALL = (
    "Football",
    "Football clubs sign new players every summer during the transfer window, and fees keep rising. "
    "Supporters argue about the prices in every pub of the town.",
)
PEAR_SENTENCE = (
    "Pear cider is pressed from ripe pears in the late autumn, after the harvest of the old orchards."
)
READER = 7


# -- the core ----------------------------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Pipeline, Settings]:
    """The two-article corpus, indexed with the hashing embedder."""
    settings = make_settings(
        seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "data" / "index", embedder="hashing"
    )
    write_articles(settings.seeds_dir)
    footnote = Pipeline(settings, HashingEmbedder())
    footnote.build_index()
    return footnote, settings


def grow(footnote: Pipeline, articles: dict[str, tuple[str, str]]) -> Engine:
    """Add articles to the seeds folder, index them, and open the new generation."""
    write_articles(footnote.settings.seeds_dir, articles)
    assert footnote.build_index().wrote
    return footnote.open_engine()


def watch_here(store: WatchStore, engine: Engine, owner: str, question: str) -> Watch:
    watch, added = store.add(
        owner,
        question,
        embedder=engine.embedder,
        baseline=Checked.of(engine.generation, engine.stored.manifest),
    )
    assert added
    return watch


def test_watches_survive_a_new_store_and_every_file_is_replaced_whole(
    corpus: tuple[Pipeline, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    footnote, _ = corpus
    engine = footnote.open_engine()
    store = footnote.watch_store()
    first = watch_here(store, engine, CLI, QUESTION)
    second, added = store.add(telegram_owner(5), "Why do trains run quietly?", chat_id=5, language="ru")
    assert added and (second.chat_id, second.language) == (5, "ru")
    assert store.add(CLI, "  when IS pear   cider pressed? ") == (first, False), "the same question, once"

    again = WatchStore(store.directory)
    assert again.watches() == [first, second] and again.watches(CLI) == [first]
    assert again.vectors(engine.embedder, [first]).shape == (1, engine.embedder.dim)
    before = (store.directory / core.WATCHES).read_bytes()

    def crash(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(WatchError, match="No space left"):
        store.add(CLI, "Where do electric trains run?")
    monkeypatch.undo()
    assert (store.directory / core.WATCHES).read_bytes() == before, "a failed write leaves the file whole"
    assert not [p.name for p in store.directory.iterdir() if p.name.startswith(".watches")], "no temporaries"
    assert again.remove(CLI, second.id) is None, "only the owner removes a watch"
    assert again.remove(telegram_owner(5), second.id) == second
    assert store.watches() == [first]

    (store.directory / core.WATCHES).write_text("{not json", encoding="utf-8")
    with pytest.raises(WatchError, match=r"watches\.json: not a valid watches file"):
        store.watches()


def test_each_owner_keeps_at_most_the_allowed_number(tmp_path: Path) -> None:
    store = WatchStore(tmp_path / "watches", per_owner=2)
    store.add(CLI, "one question")
    store.add(CLI, "another question")
    with pytest.raises(WatchLimitError, match="FOOTNOTE_WATCHES_PER_USER"):
        store.add(CLI, "a third question")
    assert store.add(telegram_owner(1), "a third question")[1], "the limit is per owner"
    assert [w.question for w in store.add_many([(CLI, "four"), ("cli:x", "five")])] == ["five"]


def test_a_new_article_that_answers_a_watch_makes_one_notice_and_others_none(
    corpus: tuple[Pipeline, Settings],
) -> None:
    footnote, _ = corpus
    engine = footnote.open_engine()
    store = footnote.watch_store()
    pears = watch_here(store, engine, CLI, QUESTION)
    watch_here(store, engine, CLI, "How fast do glaciers melt?")
    newer = grow(footnote, {"pears.md": PEARS, "football.md": FOOTBALL})

    report = store.check(newer, CLI)
    assert report.new_articles == ("football.md", "pears.md") and report.watches == 2
    [notice] = report.notices
    assert notice.watch_id == pears.id and [q.text for q in notice.quotes] == [PEAR_SENTENCE]
    article = newer.stored.articles["pears.md"]
    assert all(article.text[q.start : q.end] == q.text for q in notice.quotes), "verbatim at its offsets"
    assert store.pending(CLI) == [notice]
    assert store.check(newer, CLI).notices == (), "a generation is checked once"
    assert store.last_checked(CLI) == newer.generation


def test_only_watches_a_new_passage_is_relevant_to_are_read(
    corpus: tuple[Pipeline, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    footnote, _ = corpus
    engine = footnote.open_engine()
    store = footnote.watch_store()
    watch_here(store, engine, CLI, QUESTION)
    store.add_many(
        (f"telegram:{n}", f"What did delegation number {n} decide about tariffs?") for n in range(200)
    )
    newer = grow(footnote, {"pears.md": PEARS})
    read: list[str] = []
    answer_within = core.answer_within
    monkeypatch.setattr(
        core, "answer_within", lambda e, q, d, v, c: read.append(q) or answer_within(e, q, d, v, c)
    )

    cli_round = store.check(newer, CLI)
    assert read == [QUESTION] and len(cli_round.notices) == 1
    telegram = store.check(newer, core.TELEGRAM, engine.stored.manifest)
    assert telegram.watches == 200 and telegram.read == 0 and read == [QUESTION], "none read, none noticed"
    assert set(telegram.timings_ms) == {"vectors", "words", "reader", "total"}


def test_the_word_stage_is_the_composer_s_own_relevance_test(corpus: tuple[Pipeline, Settings]) -> None:
    footnote, _ = corpus
    engine = grow(footnote, {"pears.md": PEARS, "football.md": FOOTBALL})
    questions = [QUESTION, "football transfer fees", "apples in autumn", "quiet electric trains", "cider"]
    vectors = np.vstack([engine.embedder.embed_queries([q]) for q in questions])
    rows = list(range(len(engine.stored.chunks)))
    dense = vectors @ engine.stored.chunk_vectors().T
    ours = core._word_relevance(engine, engine.retriever.lexical, questions, dense, rows)
    threshold = engine.params.answer.abstain_threshold
    for i, question in enumerate(questions):
        for j, row in enumerate(rows):
            chunk = engine.stored.chunks[row]
            passage = Passage(
                1, row, chunk.doc_id, "t", None, chunk.start, chunk.end, chunk.text, 0.0, dense[i, j], 0.0
            )
            retrieval = Retrieval(vectors[i : i + 1], (passage,), float(dense[i, j]))
            params = engine.params.answer
            words = engine.retriever.lexical.read_question(question, rare_zipf=params.rare_zipf)
            asked = Question(question, retrieval.query_vector[0], words.weights, words.language)
            theirs = bool(engine.reader.relevant(asked, retrieval, params))
            assert (ours[i, j] >= threshold) == theirs, (question, chunk.doc_id)


def test_a_passage_told_once_is_never_told_again(corpus: tuple[Pipeline, Settings]) -> None:
    footnote, _ = corpus
    engine = footnote.open_engine()
    store = footnote.watch_store()
    watch_here(store, engine, CLI, QUESTION)
    newer = grow(footnote, {"pears.md": PEARS})
    assert len(store.check(newer, CLI).notices) == 1
    # An edit of the article (its title) changes its hash but not the sentence the watch was told about.
    edited = ("Pear cider, revised", PEARS[1])
    assert store.check(grow(footnote, {"pears.md": edited}), CLI).notices == ()
    more = (PEARS[0], PEARS[1] + "\n\nPerry, the pear cider of the west, is pressed from pears in November.")
    [notice] = store.check(grow(footnote, {"pears.md": more}), CLI).notices
    assert PEAR_SENTENCE not in [q.text for q in notice.quotes] and [q.n for q in notice.quotes] == [1]


def test_a_round_that_crashes_after_its_outbox_is_written_repeats_nothing(
    corpus: tuple[Pipeline, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    footnote, _ = corpus
    engine = footnote.open_engine()
    store = footnote.watch_store()
    watch_here(store, engine, CLI, QUESTION)
    newer = grow(footnote, {"pears.md": PEARS})

    def crash(self: WatchStore, book: object) -> None:
        raise OSError("the process died here")

    monkeypatch.setattr(WatchStore, "_write_book", crash)
    with pytest.raises(OSError, match="died"):
        store.check(newer, CLI)
    monkeypatch.undo()
    assert len(store.pending(CLI)) == 1, "the notice was written first"
    assert store.last_checked(CLI) != newer.generation, "the generation counts as unchecked"
    assert store.check(newer, CLI).notices == (), "run again, the round finds the passage owed already"
    assert len(store.pending(CLI)) == 1


def test_a_claim_of_a_sender_that_is_gone_is_taken_over(tmp_path: Path) -> None:
    store = WatchStore(tmp_path / "watches")
    store.put_notices([notice_for(telegram_owner(1), 1, "n1"), notice_for(CLI, 2, "n2")])
    first, second = store.sender(), store.sender()
    assert [n.id for n in store.claim(core.TELEGRAM, first.token)] == ["n1"]
    assert store.claim(core.TELEGRAM, second.token) == [], "a live sender's claim holds"
    first.close()  # as its process ending would
    [taken] = store.claim(core.TELEGRAM, second.token)
    assert taken.claimed_by == second.token
    store.delivered("n1")
    assert store.pending(core.TELEGRAM) == [] and len(store.pending(CLI)) == 1
    assert store.failed("n2") is False and store.failed("n2") is False and store.failed("n2") is True
    assert store.pending(CLI) == [], "dropped after three refusals"
    second.close()


def test_question_vectors_are_kept_per_embedder(corpus: tuple[Pipeline, Settings]) -> None:
    footnote, _ = corpus
    engine = footnote.open_engine()
    store = footnote.watch_store()
    watch = watch_here(store, engine, CLI, QUESTION)
    kept = store.vectors(engine.embedder, [watch])
    assert np.allclose(kept, engine.embedder.embed_queries([QUESTION]))
    other = HashingEmbedder(dim=64)
    assert store.vectors(other, [watch]).shape == (1, 64), "another embedder: computed once more"
    assert [p.name for p in store.directory.glob("vectors-*.npz")] == [store._vectors_path(other.id).name]


def notice_for(owner: str, watch_id: int, notice_id: str, *, chat_id: int | None = None) -> Notice:
    quote = Quote(
        1,
        "pears.md",
        "Pear cider",
        "https://example.org/pear cider",
        37,
        37 + len(PEAR_SENTENCE),
        PEAR_SENTENCE,
        1.0,
        "2025-09-01",
    )
    told = (("pears.md", "h", quote.start, core.digest(quote.text)),)
    return Notice(notice_id, watch_id, owner, QUESTION, "gen-x", (quote,), told, chat_id)


def test_a_notice_is_one_message_within_telegram_s_limits() -> None:
    long = Quote(
        1,
        "a.md",
        "T&" * 150,
        "https://example.org/" + "a&" * 120,
        0,
        9000,
        "Sentence & more. " * 600,
        1.0,
        "2025-01-01",
    )
    quotes = tuple(replace(long, n=n, doc_id=f"{n}.md") for n in (1, 2, 3))
    rendered = watch_notice("<question> & " * 100, quotes, "0123456789abcdef", 12, EN)
    [text] = rendered.texts
    assert utf16_len(text) <= 4096 and "&lt;question&gt;" in text
    data = (
        [b.callback_data for row in rendered.keyboard.inline_keyboard for b in row]
        if rendered.keyboard
        else []
    )
    assert data == [callbacks.passage("0123456789abcdef", n) for n in (1, 2, 3)] + ["u:12:0"]
    assert all(len(str(d).encode()) <= 64 for d in data)
    assert callbacks.parse("u:12:1") == callbacks.Button(callbacks.UNWATCH, "12", 1)
    assert callbacks.parse("u:x:1") is None


# -- the bot -----------------------------------------------------------------------------------------


def watch_settings(fake: FakeTelegram, tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "channels": "analysts",
        "channel_min_words": 20,
        "channel_index_seconds": 0,
        "channel_notices": False,
        "index_check_seconds": 0.2,
    }
    values.update(extra)
    return bot_settings(fake, tmp_path, **values)


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Wait for an explicit state change of the bot under test."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.05)


def round_done(application: FootnoteApp) -> Callable[[], bool]:
    """True once the generation the bot serves has been checked and its notices handed to Telegram."""
    state, watching = application.bot_data.state, application.bot_data.watching
    return lambda: watching.checked == state.engine.generation and not watching.lock.locked()


def to(chat_id: int) -> Callable[[Call], bool]:
    return lambda call: call.params.get("chat_id") == chat_id


def notices_to(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [t for t in fake.texts(chat_id) if "New in the articles" in t or "Новое в статьях" in t]


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
async def test_a_reader_hears_once_with_the_quote_when_a_channel_post_answers_their_watch(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    application = await started(watch_settings(fake, tmp_path))
    try:
        fake.push_message(f"/watch {QUESTION}", user_id=READER)
        [added] = await wait(fake, "sendMessage", to(READER))
        assert "Watching" in added.params["text"] and QUESTION in added.params["text"]

        fake.push_channel_post("\n\n".join(PEARS), message_id=42)
        fake.push_channel_post("\n\n".join(FOOTBALL), message_id=43)
        [notice] = await wait(fake, "sendMessage", text_has("New in the articles"))
        text = notice.params["text"]
        assert notice.params["chat_id"] == READER and QUESTION in text
        assert f"<blockquote>{PEAR_SENTENCE} <b>[1]</b></blockquote>" in text, "the sentence, verbatim"
        assert 'href="https://t.me/analysts/42#:~:text=' in text and "(2025-11-24)" in text
        assert "Football" not in text
        data = buttons(notice)
        assert data[-1].startswith("u:") and data[0].startswith("p:")

        fake.push_callback(data[0], user_id=READER, message_id=notice.result["message_id"])
        [passage] = await wait(fake, "sendMessage", text_has("📖"))
        assert f"<b>{PEAR_SENTENCE}</b>" in passage.params["text"]

        await until(
            lambda: "telegram/c1001234567890/43.md" in application.bot_data.state.engine.stored.articles
        )
        await until(round_done(application))
        fake.push_channel_post(
            "\n\n".join(PEARS).replace("Pear cider\n", "Pear cider, revised\n"), message_id=42, edited=True
        )
        post = "telegram/c1001234567890/42.md"
        await until(
            lambda: application.bot_data.state.engine.stored.articles[post].title == "Pear cider, revised"
        )
        await until(round_done(application))
        assert len(notices_to(fake, READER)) == 1, "one notice per watch, never twice for a passage"
    finally:
        await stopped(application)


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
async def test_notices_left_in_the_outbox_by_a_crash_go_out_once_after_a_restart(
    fake: FakeTelegram, tmp_path: Path, seeds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = watch_settings(fake, tmp_path)
    application = await started(settings)
    stopped_already = False
    try:
        fake.push_message(f"/watch {QUESTION}", user_id=READER, language="ru")
        await wait(fake, "sendMessage", to(READER))
        delivered = asyncio.Event()

        async def crashed_before_sending(app: object) -> int:
            delivered.set()
            return 0

        monkeypatch.setattr("bot.watches.deliver", crashed_before_sending)
        write_articles(seeds, {"pears.md": PEARS})
        fake.push_message("/reindex", user_id=ADMIN)
        await asyncio.wait_for(delivered.wait(), 20)
        await until(round_done(application))
        store = application.bot_data.watching.store
        assert len(store.pending(core.TELEGRAM)) == 1 and notices_to(fake, READER) == []
        await stopped(application)
        stopped_already = True
    finally:
        if not stopped_already:
            await stopped(application)
    monkeypatch.undo()

    restarted = await started(settings)
    try:
        [notice] = await wait(fake, "sendMessage", text_has("Новое в статьях"))
        assert notice.params["chat_id"] == READER and PEAR_SENTENCE in notice.params["text"]
        await until(lambda: restarted.bot_data.watching.store.pending(core.TELEGRAM) == [])
        from bot.watches import sweep

        await sweep(restarted)
        assert len(notices_to(fake, READER)) == 1, "sent once"
    finally:
        await stopped(restarted)


async def test_a_reader_who_blocked_the_bot_loses_their_watches(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    application = await started(watch_settings(fake, tmp_path))
    try:
        fake.push_message(f"/watch {QUESTION}", user_id=READER)
        await wait(fake, "sendMessage", to(READER))
        store = application.bot_data.watching.store
        assert store.watches(telegram_owner(READER))
        fake.fail_next("sendMessage", 403, description="Forbidden: bot was blocked by the user")
        write_articles(seeds, {"pears.md": PEARS})
        await asyncio.to_thread(
            Pipeline(application.bot_data.state.footnote.settings, HashingEmbedder()).build_index
        )
        await wait(fake, "sendMessage:failed", to(READER))
        await until(lambda: store.watches(telegram_owner(READER)) == [])
        assert store.pending(core.TELEGRAM) == [] and notices_to(fake, READER) == []
    finally:
        await stopped(application)


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
async def test_readers_the_allow_list_no_longer_admits_are_sent_nothing(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    application = await started(watch_settings(fake, tmp_path, allowed_ids=[READER]))
    try:
        fake.push_message(f"/watch {QUESTION}", user_id=READER)
        await wait(fake, "sendMessage", to(READER))
        fake.push_message(f"/watch {QUESTION}", user_id=8)
        [refused] = await wait(fake, "sendMessage", to(8))
        assert "private" in refused.params["text"], "the allow-list covers /watch"
    finally:
        await stopped(application)
    application = await started(watch_settings(fake, tmp_path, allowed_ids=[9]))
    try:
        write_articles(seeds, {"pears.md": PEARS})
        fake.push_message("/reindex", user_id=ADMIN)
        await wait(fake, "editMessageText", text_has("Reindexed"))
        await until(round_done(application))
        assert notices_to(fake, READER) == []
        store = application.bot_data.watching.store
        assert store.watches(telegram_owner(READER)), "kept, should they come back"
    finally:
        await stopped(application)


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
async def test_watches_are_listed_removed_by_button_and_capped(
    fake: FakeTelegram, tmp_path: Path, seeds: Path
) -> None:
    application = await started(watch_settings(fake, tmp_path, watches_per_user=2))
    try:
        for question in ("When is pear cider pressed?", "Why do trains run quietly?", "Who picks apples?"):
            update = fake.push_message(f"/watch {question}", user_id=READER)
            await processed(fake, update)
        texts = fake.texts(READER)
        assert "Watching" in texts[0] and "Watching" in texts[1]
        assert "You already have 2 watches" in texts[2]
        fake.push_message("/watch", user_id=READER)
        await wait(fake, "sendMessage", text_has("<code>/watch Why did Moscow refuse?</code>"))
        group = fake.push_message(
            f"/watch {QUESTION}", user_id=READER, chat_id=-100500, chat_type="supergroup"
        )
        await processed(fake, group)
        assert "Only in our private chat" in fake.texts(-100500)[-1]

        fake.push_message("/watches", user_id=READER)
        [listing] = await wait(fake, "sendMessage", text_has("Your watches"))
        assert (
            "(2 of 2)" in listing.params["text"]
            and "1. <i>When is pear cider pressed?</i>" in listing.params["text"]
        )
        first, second = buttons(listing)
        assert first.startswith("u:") and first.endswith(":1")
        fake.push_callback(first, user_id=READER, message_id=listing.result["message_id"])
        [edited] = await wait(fake, "editMessageText", text_has("Your watches"))
        assert "(1 of 2)" in edited.params["text"] and "pear cider" not in edited.params["text"]
        assert buttons(edited) == [second]
        [toast] = await wait(fake, "answerCallbackQuery")
        assert "Stopped" in toast.params["text"]
        fake.push_callback(first, user_id=READER)  # pressed again, or forged
        await wait(fake, "answerCallbackQuery", text_has("already gone"))
        fake.push_callback(second, user_id=8)  # not theirs
        await wait(fake, "answerCallbackQuery", text_has("already gone"), count=2)

        fake.push_message("/unwatch 1", user_id=READER)
        await wait(fake, "sendMessage", text_has("No longer watching <i>Why do trains run quietly?</i>"))
        fake.push_message("/watches", user_id=READER)
        await wait(fake, "sendMessage", text_has("You watch nothing yet"))
    finally:
        await stopped(application)


# -- the command line --------------------------------------------------------------------------------


@pytest.fixture
def terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    write_articles(tmp_path / "seeds")
    return Cli(capsys, tmp_path, **process_env(tmp_path))


def test_footnote_watch_add_list_remove_and_index_reports_matches(terminal: Cli, tmp_path: Path) -> None:
    assert terminal("index").returncode == 0
    added = terminal("watch", "add", QUESTION)
    assert added.returncode == 0 and f"watching [1] {QUESTION}" in added.stdout
    terminal("watch", "add", "How fast do glaciers melt?")
    listed = json.loads(terminal("watch", "list", "--json").stdout)
    assert [(w["id"], w["question"]) for w in listed] == [
        (1, QUESTION),
        (2, "How fast do glaciers melt?"),
    ]
    assert "[2] How fast do glaciers melt?" in terminal("watch", "list").stdout

    write_articles(tmp_path / "seeds", {"pears.md": PEARS, "football.md": FOOTBALL})
    indexed = terminal("index")
    assert indexed.returncode == 0, indexed.stderr
    assert f"watch [1] “{QUESTION}”: new in the articles" in indexed.stdout
    shown = " ".join(indexed.stdout.split())
    assert (
        f"“{PEAR_SENTENCE}” [1]" in shown
        and "[1] Pear cider (pears.md) https://example.org/pear cider" in shown
    )
    assert "watch [2]" not in indexed.stdout
    assert "watch [" not in terminal("index").stdout, "told once"

    removed = terminal("watch", "remove", "2")
    assert removed.returncode == 0 and "removed [2]" in removed.stdout
    missing = terminal("watch", "remove", "2")
    assert missing.returncode == 1 and "there is no watch 2" in missing.stderr


class _Site(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        content_type, body = self.pages.get(self.path, ("text/plain", b""))
        self.send_response(200 if self.path in self.pages else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    paragraphs = "".join(f"<p>{PEARS[1]} Orchard note {i} of the season.</p>" for i in range(6))
    page = (
        "<html><head><title>Pear cider</title></head><body><article><h1>Pear cider</h1>"
        f"{paragraphs}</article></body></html>"
    )
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
        f"<item><title>Pear cider</title><link>{url}/pear-cider</link>"
        "<pubDate>Mon, 01 Sep 2025 10:00:00 GMT</pubDate></item></channel></rss>"
    )
    _Site.pages = {
        "/pear-cider": ("text/html", page.encode()),
        "/feed.rss": ("application/rss+xml", rss.encode()),
    }
    yield url
    server.shutdown()
    server.server_close()


def test_footnote_sync_json_names_the_watches_new_articles_answer(terminal: Cli, site: str) -> None:
    env = {"FOOTNOTE_FEEDS": f"{site}/feed.rss", "FOOTNOTE_FETCH_ALLOW_PRIVATE": "true"}
    assert terminal("index").returncode == 0
    terminal("watch", "add", QUESTION)
    synced = terminal("sync", "--json", **env)
    assert synced.returncode == 0, synced.stderr
    data = json.loads(synced.stdout)
    assert data["added"] == ["web/127-0-0-1/pear-cider.md"] and data["index"]["added"] == data["added"]
    [match] = data["watches"]
    assert match["id"] == 1 and match["question"] == QUESTION
    assert match["quotes"][0]["n"] == 1 and PEAR_SENTENCE in match["quotes"][0]["text"]
    again = json.loads(terminal("sync", "--json", **env).stdout)
    assert again["index"] is None and again["watches"] == [], "nothing new, nobody told"
