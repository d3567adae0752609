"""`footnote`: index articles, ask questions, evaluate, chat in the terminal, or run the Telegram bot.

Errors print one line and exit non-zero; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from config import Settings, SettingsError, load_settings
from index.errors import FootnoteError, InputError, QuestionError

if TYPE_CHECKING:  # the heavy modules load only in the commands that need them
    from index.ingest.indexing import IndexReport
    from index.pipeline import Pipeline
    from index.query.engine import Engine
    from index.query.watches import Notice
    from index.storage.store import Manifest

log = logging.getLogger("footnote")

EXIT_ERROR = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The command line, as documented in docs/cli.md."""
    parser = argparse.ArgumentParser(
        prog="footnote",
        description="Answers questions about a corpus of articles with verbatim, source-checked quotes.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser("index", help="build or update the index from the seeds folder")
    index.add_argument("--full", action="store_true", help="rebuild everything instead of updating")

    ask = commands.add_parser("ask", help="answer one question, or a JSONL file of questions")
    ask.add_argument("question", nargs="?", help="the question (omit with --jsonl)")
    ask.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    ask.add_argument(
        "--jsonl", metavar="FILE", type=Path, help='answer each {"id", "question"} line ("-": stdin)'
    )
    ask.add_argument(
        "-k", type=int, default=None, metavar="N", help="passages to return (default FOOTNOTE_TOP_K)"
    )
    ask.add_argument(
        "--explain", action="store_true", help="show why each quote was chosen (the reader's feature scores)"
    )

    add = commands.add_parser("add", help="fetch articles from URLs into the seeds folder, then index them")
    add.add_argument("urls", nargs="+", metavar="URL", help="article pages (http or https)")

    sync = commands.add_parser(
        "sync", help="fetch new and updated articles from FOOTNOTE_FEEDS, then index them"
    )
    sync.add_argument(
        "--json", action="store_true", help="print what changed and which watches matched as one JSON object"
    )

    evaluate = commands.add_parser("eval", help="measure retrieval and answers on a question file")
    evaluate.add_argument("file", type=Path, help='JSONL of {"id", "question", "gold": [...], "expect"?}')
    evaluate.add_argument(
        "--json", action="store_true", help="print metrics and per-question results as JSON"
    )
    evaluate.add_argument("-k", type=int, default=10, metavar="N", help="passages retrieved per question")

    stats = commands.add_parser(
        "stats", help="documents, chunks, embedder and why, languages, index age and size"
    )
    stats.add_argument("--json", action="store_true", help="print as JSON")

    watch = commands.add_parser("watch", help="questions to hear about when new articles answer them")
    actions = watch.add_subparsers(dest="action", required=True, metavar="ACTION")
    watch_add = actions.add_parser("add", help="watch a question (checked after index, add and sync)")
    watch_add.add_argument("question", help="the question or subject")
    watch_list = actions.add_parser("list", help="the terminal's watches")
    watch_list.add_argument("--json", action="store_true", help="print as JSON")
    watch_remove = actions.add_parser("remove", help="stop watching a question")
    watch_remove.add_argument("id", type=int, help="the watch's id, as `footnote watch list` shows it")

    commands.add_parser("chat", help="a terminal chat with the same answers as the bot")
    commands.add_parser("bot", help="run the Telegram bot (needs FOOTNOTE_BOT_TOKEN)")
    commands.add_parser("run", help="index if needed, then the bot when a token is set, else the chat")
    commands.add_parser("health", help="exit 0 when the index is loadable and the running bot is alive")
    return parser


def version() -> str:
    """Footnote's version, from the installed package's metadata."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("footnote")
    except PackageNotFoundError:
        return "unknown (not installed; run `pip install -e .`)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `footnote` console script."""
    args = _valid_text(build_parser().parse_args(argv))
    try:
        settings = load_settings()
        _configure_logging("DEBUG" if args.debug else settings.log_level)
        handler: Callable[[argparse.Namespace, Settings], int] = COMMANDS[args.command]
        return handler(args, settings)
    except (FootnoteError, SettingsError) as exc:
        if args.debug:
            raise
        print(f"footnote: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def _valid_text(args: argparse.Namespace) -> argparse.Namespace:
    """Text arguments as valid Unicode: a byte that is not UTF-8 reaches Python as a lone surrogate, which
    no JSON writer or terminal can encode; it becomes U+FFFD. Paths (`Path` values) are left alone."""

    def valid(text: str) -> str:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

    for name, value in vars(args).items():
        if isinstance(value, str):
            setattr(args, name, valid(value))
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            setattr(args, name, [valid(item) for item in value])
    return args


def _configure_logging(level: str) -> None:
    """Footnote's own loggers at `level`; third-party libraries at WARNING."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("footnote", "index", "bot", "cli"):
        logging.getLogger(name).setLevel(level)
    # httpx logs every request URL at INFO, and Bot API URLs contain the bot token: keep it at WARNING
    # even under --debug.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


# -- commands ---------------------------------------------------------------------------------------


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    """`footnote index [--full]`; then the terminal's watches, when the index changed."""
    from index.pipeline import Pipeline

    footnote = Pipeline(settings)
    previous = _current_manifest(settings)
    _index(footnote, full=args.full)
    _watch_notices(footnote, previous, _print_notices)
    return 0


def _index(footnote: Pipeline, *, full: bool = False, quiet: bool = False) -> IndexReport:
    """Bring the index up to date, saying what changed (on stderr when `quiet`: stdout is for JSON)."""
    out = sys.stderr if quiet else sys.stdout
    bar = _progress_bar()
    try:
        report = footnote.build_index(full=full, progress=bar.update if bar else None)
    finally:
        if bar:
            bar.close()
    for problem in report.problems:
        print(f"warning: {problem} (skipped)", file=sys.stderr)
    if report.rebuild_reason:
        print(f"full rebuild: {report.rebuild_reason}", file=sys.stderr)
    if report.embedder:
        print(f"embedder: {report.embedder} ({report.embedder_reason})", file=out)
    status = "index updated" if report.wrote else "index up to date"
    print(f"{status}: {report.summary()}", file=out)
    return report


def _current_manifest(settings: Settings) -> Manifest | None:
    """The manifest of the generation served now (what the watches compare a new one with)."""
    from index.storage import store

    return store.current_manifest(settings.index_dir)


def _watch_notices(
    footnote: Pipeline, previous: Manifest | None, show: Callable[[list[Notice]], None]
) -> list[Notice]:
    """The terminal's watches (owner "cli") against the generation now current, unless they were checked
    against it already; then the notices owed to them are shown by `show` and count as delivered.
    Costs nothing when the terminal watches nothing."""
    from index.query.watches import CLI
    from index.storage import store

    watches = footnote.watch_store()
    if not watches.exists:
        return []
    generation = store.current_generation(footnote.settings.index_dir)
    if generation is not None and watches.watches(CLI) and watches.last_checked(CLI) != generation.name:
        report = watches.check(footnote.open_engine(), CLI, previous)
        spent = ", ".join(f"{stage} {ms:.0f} ms" for stage, ms in report.timings_ms.items())
        log.info("watches: %d checked, %d notices; %s", report.watches, len(report.notices), spent)
    if not watches.pending(CLI):
        return []
    sender = watches.sender()
    try:
        notices = watches.claim(CLI, sender.token)
        show(notices)
        for notice in notices:
            watches.delivered(notice.id)
    finally:
        sender.close()
    return notices


def _print_notices(notices: list[Notice]) -> None:
    from cli.render import render_notice

    for notice in notices:
        print()
        print(render_notice(notice))


class _Bar:
    """A tqdm bar on stderr, shown only to a person at a terminal."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=0, unit="text", desc="embedding", file=sys.stderr, leave=False)

    def update(self, done: int, total: int) -> None:
        self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def _progress_bar() -> _Bar | None:
    return _Bar() if sys.stderr.isatty() else None


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """`footnote ask "QUESTION" [--json] [-k N]` or `footnote ask --jsonl FILE`."""
    from cli.schema import answer_json, dump
    from index.pipeline import Pipeline

    if (args.question is None) == (args.jsonl is None):
        raise FootnoteError(
            'give either a question or --jsonl FILE, e.g. footnote ask "Why did Moscow refuse?"'
        )
    if args.k is not None and not 1 <= args.k <= 100:
        raise FootnoteError("-k must be between 1 and 100")
    engine = Pipeline(settings).open_engine()
    if args.jsonl is not None:
        return _ask_jsonl(engine, args.jsonl, args.k, sys.stdout, explain=args.explain)
    answer = engine.ask(args.question, args.k)
    if args.json:
        print(dump(answer_json(answer, explain=args.explain)))
    else:
        from cli.render import render_answer

        print(render_answer(answer, explain=args.explain))
    return 0


def _ask_jsonl(engine: Engine, path: Path, k: int | None, out: TextIO, *, explain: bool = False) -> int:
    from pydantic import ValidationError

    from cli.schema import QuestionIn, answer_json, dump

    try:
        handle = sys.stdin if str(path) == "-" else path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    failures = 0
    with handle:
        for number, line in enumerate(_decoded(handle, path), 1):
            if not line.strip():
                continue
            try:
                item = QuestionIn.model_validate_json(line)
                answer = engine.ask(item.question, k)
            except (ValidationError, QuestionError) as exc:
                failures += 1
                reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                print(f"footnote: {path}: line {number} skipped: {reason}", file=sys.stderr)
                continue
            out.write(dump(answer_json(answer, item.id, explain=explain)) + "\n")
            out.flush()
    return EXIT_ERROR if failures else 0


def _decoded(handle: TextIO, path: Path) -> Iterator[str]:
    """The lines of a text file; text that is not UTF-8 is an InputError naming the file."""
    try:
        yield from handle
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    """`footnote add URL...`: fetch, extract, save with front matter, index incrementally."""
    from index.pipeline import Pipeline
    from index.sources import fetch

    footnote = Pipeline(settings)
    written, failed = fetch.add(list(args.urls), settings.seeds_dir, footnote.fetch_policy)
    for doc_id in written:
        print(f"saved {doc_id}")
    for problem in failed:
        print(f"footnote: {problem}", file=sys.stderr)
    if written:
        previous = _current_manifest(settings)
        _index(footnote)
        _watch_notices(footnote, previous, _print_notices)
    return EXIT_ERROR if failed else 0


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    """`footnote sync [--json]`: new and updated articles from FOOTNOTE_FEEDS, then an incremental index,
    then the terminal's watches."""
    from index.pipeline import Pipeline

    if not settings.feeds:
        raise FootnoteError(
            "FOOTNOTE_FEEDS is empty: list RSS/Atom feed or sitemap URLs, separated by commas"
        )
    footnote = Pipeline(settings)
    previous = _current_manifest(settings)
    report = footnote.sync_feeds()
    for problem in report.failed:
        print(f"footnote: {problem}", file=sys.stderr)
    if not args.json:
        for doc_id in report.added:
            print(f"new {doc_id}")
        for doc_id in report.updated:
            print(f"updated {doc_id}")
        print(f"feeds: {report.summary()}")
    indexed = _index(footnote, quiet=args.json) if report.changed else None
    if not args.json:
        _watch_notices(footnote, previous, _print_notices)
        return EXIT_ERROR if report.failed else 0
    from cli.schema import sync_out

    def show(notices: list[Notice]) -> None:
        print(sync_out(report, indexed, notices).model_dump_json())

    if not _watch_notices(footnote, previous, show):
        show([])
    return EXIT_ERROR if report.failed else 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """`footnote eval FILE [--json]`."""
    from index.evaluation import evaluate, read_questions
    from index.pipeline import Pipeline

    questions = read_questions(args.file)
    engine = Pipeline(settings).open_engine()
    engine.warm_up()
    report = evaluate(
        questions,
        lambda q, previous: engine.ask(q, max(args.k, 10), previous),
        ks=(1, 5, 10),
        neighbours=engine.neighbour_texts,
    )
    metrics = report.metrics()
    splits = {name: report.split(name).metrics() for name in report.splits()}
    from cli import report as report_text

    print(report_text.eval_report(report, metrics, splits, as_json=args.json))
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    """`footnote stats [--json]`: reads the manifest only, never loads the model."""
    from index.storage import store

    generation = store.serving_generation(settings.index_dir)
    manifest = store.read_manifest(generation)
    age = store.age_seconds(manifest)
    size = store.size_bytes(generation)
    data = {
        "documents": len(manifest.documents),
        "chunks": manifest.chunk_count,
        "units": manifest.unit_count,
        "embedder": manifest.embedder,
        "embedder_reason": manifest.embedder_reason,
        "reader": manifest.reader or "rules",
        "languages": manifest.languages,
        "dimension": manifest.dim,
        "vector_store": manifest.vector_store,
        "built_at": manifest.created_at,
        "age_seconds": round(age),
        "size_bytes": size,
        "generation": generation.name,
        "index_dir": str(settings.index_dir),
    }
    from cli import report as report_text

    print(report_text.stats_report(data, manifest, generation, age, size, as_json=args.json))
    return 0


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    """`footnote watch add "QUESTION"`, `footnote watch list [--json]`, `footnote watch remove ID`: the
    terminal's watches (owner "cli"), checked after `footnote index`, `add` and `sync`."""
    from index.errors import WatchError
    from index.pipeline import Pipeline
    from index.query.watches import CLI, Checked
    from index.storage import store

    footnote = Pipeline(settings)
    watches = footnote.watch_store()
    if args.action == "add":
        generation = store.current_generation(settings.index_dir)
        baseline = None
        if generation is not None:
            baseline = Checked.of(generation.name, store.read_manifest(generation))
        embedder = footnote.serving_embedder() if generation is not None else None
        watch, added = watches.add(CLI, args.question, embedder=embedder, baseline=baseline)
        print(f"{'watching' if added else 'already watching'} [{watch.id}] {watch.question}")
    elif args.action == "list":
        mine = watches.watches(CLI) if watches.exists else []
        if args.json:
            from cli.schema import watch_out

            print(json.dumps([watch_out(w).model_dump(mode="json") for w in mine], ensure_ascii=False))
        else:
            for watch in mine:
                print(f"[{watch.id}] {watch.question}  (since {watch.created_at}, told {len(watch.told)})")
            if not mine:
                print('no watches; footnote watch add "QUESTION" adds one')
    else:
        gone = watches.remove(CLI, args.id) if watches.exists else None
        if gone is None:
            raise WatchError(f"there is no watch {args.id}; `footnote watch list` shows them")
        print(f"removed [{gone.id}] {gone.question}")
    return 0


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    """`footnote chat`: questions from the terminal, answers as in Telegram."""
    from cli.chat import chat
    from index.pipeline import Pipeline

    engine = Pipeline(settings).open_engine()
    return chat(engine, sys.stdin, sys.stdout)


def cmd_bot(args: argparse.Namespace, settings: Settings) -> int:
    """`footnote bot`: bring the index up to date, then run the Telegram bot (long polling, or a webhook
    when FOOTNOTE_WEBHOOK_URL is set) until SIGTERM."""
    from bot.app import check_settings, run_bot
    from index.pipeline import Pipeline

    check_settings(settings)  # before indexing or any network call
    footnote = Pipeline(settings)
    _prepare(footnote)
    return run_bot(settings, footnote)


def _prepare(footnote: Pipeline) -> None:
    """Fill an empty seeds folder from FOOTNOTE_INITIAL_SEEDS_DIR, then index incrementally. A missing
    seeds folder is only a warning when an index exists to serve."""
    from index.errors import CorpusError
    from index.sources import corpus
    from index.storage import store

    settings = footnote.settings
    if settings.initial_seeds_dir is not None:
        copied = corpus.copy_initial_seeds(settings.initial_seeds_dir, settings.seeds_dir)
        if copied:
            print(f"copied {copied} article(s) from {settings.initial_seeds_dir} into {settings.seeds_dir}")
    try:
        _index(footnote)
    except CorpusError as exc:
        if store.current_generation(settings.index_dir) is None:
            raise
        print(f"warning: {exc}; serving the existing index", file=sys.stderr)


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    """`footnote health`: the index is loadable and the running bot's heartbeat is fresh (for HEALTHCHECK)."""
    from index.storage import store

    manifest = store.check_files(settings.index_dir)
    beat = settings.heartbeat_path
    try:
        age = time.time() - beat.stat().st_mtime
    except OSError:
        raise FootnoteError(f"no heartbeat at {beat}: the bot is not running") from None
    if age > settings.heartbeat_max_age:
        raise FootnoteError(
            f"the bot's heartbeat is {age:.0f} s old (limit {settings.heartbeat_max_age:.0f} s)"
        )
    print(f"ok: {len(manifest.documents)} articles indexed, heartbeat {age:.0f} s ago")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """`footnote run`: what `make run` starts."""
    from index.pipeline import Pipeline

    if settings.bot_token is not None:
        from bot.app import check_settings

        check_settings(settings)
    footnote = Pipeline(settings)
    _prepare(footnote)
    if settings.bot_token is not None:
        from bot.app import run_bot

        return run_bot(settings, footnote)
    from cli.chat import chat

    print("No FOOTNOTE_BOT_TOKEN set: starting the terminal chat instead of the Telegram bot.")
    return chat(footnote.open_engine(), sys.stdin, sys.stdout)


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "index": cmd_index,
    "add": cmd_add,
    "sync": cmd_sync,
    "ask": cmd_ask,
    "eval": cmd_eval,
    "stats": cmd_stats,
    "watch": cmd_watch,
    "chat": cmd_chat,
    "bot": cmd_bot,
    "run": cmd_run,
    "health": cmd_health,
}

if __name__ == "__main__":
    sys.exit(main())
