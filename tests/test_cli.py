"""The `footnote` command line with the model-free embedder: in this process through `cli.main.main(argv)`,
and a few runs as a user runs it, as a separate process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from cli.main import build_parser, main
from tests.helpers import FOOTNOTE, Cli, process_env


@pytest.fixture
def env(tmp_path: Path, write_article: Callable[..., Path]) -> dict[str, str]:
    write_article(
        "apples.md",
        "Apples grow on trees in orchards. Farmers pick apples in autumn when they are ripe and red.",
        title="Apples",
        url="https://example.org/apples",
    )
    write_article("trains.txt", "Trains\n\nTrains run on rails between stations. Electric trains are quiet.")
    return process_env(tmp_path)


@pytest.fixture
def footnote(tmp_path: Path, capsys: pytest.CaptureFixture[str], env: dict[str, str]) -> Cli:
    """`footnote` in this process, on the two-article corpus."""
    return Cli(capsys, tmp_path, **env)


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`footnote ARGS...` as a separate process, as a user runs it."""
    return subprocess.run(
        [*FOOTNOTE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def test_index_then_noop_then_stats(footnote: Cli) -> None:
    first = footnote("index")
    assert first.returncode == 0, first.stderr
    assert "index updated: added 2, changed 0, removed 0, unchanged 0;" in first.stdout
    assert "embedder: hashing (set: FOOTNOTE_EMBEDDER=hashing)" in first.stdout
    second = footnote("index")
    assert "index up to date: added 0, changed 0, removed 0, unchanged 2;" in second.stdout
    stats = footnote("stats", "--json")
    data = json.loads(stats.stdout)
    assert data["documents"] == 2 and data["embedder"] == "hashing-256"
    assert data["languages"] == {"en": 1.0} and data["embedder_reason"] == "set: FOOTNOTE_EMBEDDER=hashing"
    assert "documents   2" in footnote("stats").stdout


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
def test_the_command_runs_as_a_process(env: dict[str, str]) -> None:
    indexed = run(env, "index")
    assert indexed.returncode == 0, indexed.stderr
    assert "index updated: added 2" in indexed.stdout


def test_ask_human_and_json(footnote: Cli, tmp_path: Path) -> None:
    footnote("index")
    human = footnote("ask", "When do farmers pick apples?")
    assert human.returncode == 0, human.stderr
    assert (
        "[1]" in human.stdout and "Sources:" in human.stdout and "https://example.org/apples" in human.stdout
    )
    data = json.loads(footnote("ask", "When do farmers pick apples?", "--json", "-k", "1").stdout)
    assert data["abstained"] is False and len(data["passages"]) == 1
    text = (tmp_path / "seeds" / "apples.md").read_text(encoding="utf-8")
    for quote in data["quotes"]:
        assert text[quote["start"] : quote["end"]] == quote["text"]


def test_ask_explain_and_reason(footnote: Cli) -> None:
    footnote("index")
    human = footnote("ask", "When do farmers pick apples?", "--explain")
    assert human.returncode == 0, human.stderr
    assert "Why these quotes" in human.stdout and "[1] score" in human.stdout and "focus" in human.stdout
    plain = json.loads(footnote("ask", "When do farmers pick apples?", "--json").stdout)
    assert plain["reason"] is None and "explain" not in plain
    data = json.loads(footnote("ask", "When do farmers pick apples?", "--json", "--explain").stdout)
    assert [e["n"] for e in data["explain"]] == [q["n"] for q in data["quotes"]]
    first = data["explain"][0]
    assert set(first["features"]) == set(first["contributions"]) >= {"cosine", "focus"}
    abstained = json.loads(footnote("ask", "What did Lukashenko say about apples?", "--json").stdout)
    assert abstained["abstained"] and abstained["reason"] == "The articles do not mention Lukashenko."
    assert abstained["answer"] == "I don't find this in the articles." and abstained["nearest_titles"]
    shown = footnote("ask", "What did Lukashenko say about apples?")
    assert "The articles do not mention Lukashenko." in shown.stdout and "Nearest articles" in shown.stdout


def test_ask_jsonl_contract(footnote: Cli, tmp_path: Path) -> None:
    footnote("index")
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id": "a", "question": "Where do trains run?"}\n'
        "not json\n"
        '{"id": 7, "question": "Where do apples grow?"}\n',
        encoding="utf-8",
    )
    result = footnote("ask", "--jsonl", str(questions))
    assert result.returncode == 1, "a skipped line makes the exit status non-zero"
    assert "line 2 skipped" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["a", 7]
    for line in lines:
        assert set(line) >= {"id", "question", "abstained", "answer", "quotes", "passages"}
        assert {"n", "text", "doc_id", "start", "end"} <= set(line["quotes"][0])
        assert {"rank", "doc_id", "title", "source", "start", "end", "text", "score"} <= set(
            line["passages"][0]
        )
        assert [p["rank"] for p in line["passages"]] == list(range(1, len(line["passages"]) + 1))
        for item in line["quotes"] + line["passages"]:
            file_text = (tmp_path / "seeds" / item["doc_id"]).read_text(encoding="utf-8")
            assert file_text[item["start"] : item["end"]] == item["text"]
    from_stdin = footnote("ask", "--jsonl", "-", stdin='{"id": 1, "question": "rails"}\n')
    assert json.loads(from_stdin.stdout)["id"] == 1


def test_eval_table_and_json(footnote: Cli, tmp_path: Path) -> None:
    footnote("index")
    questions = tmp_path / "eval.jsonl"
    questions.write_text(
        '{"id": "q1", "question": "Which trains are quiet?", "gold": ["Electric trains are quiet"]}\n'
        '{"id": "q2", "question": "zebra quantum saxophone", "gold": [], "expect": "abstain"}\n',
        encoding="utf-8",
    )
    table = footnote("eval", str(questions))
    assert table.returncode == 0, table.stderr
    assert "recall@5" in table.stdout and "abstention_accuracy" in table.stdout
    data = json.loads(footnote("eval", str(questions), "--json").stdout)
    assert data["metrics"]["hit@5"] == 1.0
    assert data["metrics"]["abstention_accuracy"] == 1.0
    assert data["metrics"]["abstention_rate"] == 1.0 and data["metrics"]["false_abstention"] == 0.0
    assert data["metrics"]["quote_precision"] > 0 and "splits" not in data
    assert data["questions"][1]["reason"]


def test_eval_reports_each_split(footnote: Cli, tmp_path: Path) -> None:
    footnote("index")
    questions = tmp_path / "eval.jsonl"
    questions.write_text(
        '{"id": "q1", "split": "dev", "question": "Where do trains run?", '
        '"gold": ["Trains run on rails between stations"]}\n'
        '{"id": "q2", "split": "test", "question": "What did Lukashenko say about trains?", "gold": [], '
        '"expect": "abstain"}\n',
        encoding="utf-8",
    )
    table = footnote("eval", str(questions))
    assert table.returncode == 0, table.stderr
    header = next(line for line in table.stdout.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "all", "dev", "test"]
    data = json.loads(footnote("eval", str(questions), "--json").stdout)
    assert data["splits"]["dev"]["answer_recall"] == 1.0 and data["splits"]["dev"]["false_abstention"] == 0.0
    assert data["splits"]["test"]["abstention_rate"] == 1.0
    assert [q["split"] for q in data["questions"]] == ["dev", "test"]


def test_chat_answers_lines_from_stdin(footnote: Cli) -> None:
    footnote("index")
    result = footnote("chat", stdin="Where do apples grow?\n\nzebra quantum saxophone\n")
    assert result.returncode == 0, result.stderr
    assert "Sources:" in result.stdout
    assert "I don't find this in the articles." in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_chat_commands_are_not_questions(footnote: Cli) -> None:
    footnote("index")
    result = footnote("chat", stdin="/help\n/new\n/ask Where do apples grow?\n/quit\nWhere do apples grow?\n")
    assert result.returncode == 0, result.stderr
    replies = result.stdout.split("\n> ")
    assert "/new  forget the previous question" in replies[1] and "Sources:" not in replies[1]
    assert "Starting afresh" in replies[2]
    assert "Sources:" in replies[3]
    assert len(replies) == 5  # /quit ended the chat: the last question was never asked
    assert "Sources:" not in replies[4]


def test_run_without_a_token_indexes_then_chats(footnote: Cli) -> None:
    result = footnote("run", stdin="Where do apples grow?\n")
    assert result.returncode == 0, result.stderr
    assert "index updated" in result.stdout
    assert "starting the terminal chat" in result.stdout
    assert "Sources:" in result.stdout


@pytest.mark.parametrize(
    ("args", "variables", "message"),
    [
        (["ask", "anything"], {}, "no index in"),
        (["stats"], {}, "run `footnote index` first"),
        (["index"], {"FOOTNOTE_SEEDS_DIR": "/nonexistent/seeds"}, "seeds folder not found"),
        (["index"], {"FOOTNOTE_TOP_K": "many"}, "FOOTNOTE_TOP_K: Input should be a valid integer"),
        (["ask"], {}, "give either a question or --jsonl FILE"),
        (["bot"], {}, "FOOTNOTE_BOT_TOKEN is not set"),
    ],
)
def test_errors_are_one_clear_line_and_non_zero(
    footnote: Cli, args: list[str], variables: dict[str, str], message: str
) -> None:
    result = footnote(*args, **variables)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
def test_debug_shows_the_traceback(env: dict[str, str]) -> None:
    result = run(env, "--debug", "stats")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_a_secret_in_a_bad_setting_is_never_echoed(env: dict[str, str]) -> None:
    result = run({**env, "FOOTNOTE_BOT_TOKEN": "123:SECRET-TOKEN", "FOOTNOTE_WEBHOOK_PORT": "99999"}, "stats")
    assert "FOOTNOTE_WEBHOOK_PORT" in result.stderr
    assert "SECRET-TOKEN" not in result.stderr + result.stdout


def test_help_lists_every_command() -> None:
    text = build_parser().format_help()
    for command in ("index", "ask", "eval", "stats", "chat", "bot", "run"):
        assert command in text


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
def test_an_unreachable_milvus_is_one_line(footnote: Cli) -> None:
    result = footnote(
        "index",
        FOOTNOTE_VECTOR_STORE="milvus",
        FOOTNOTE_MILVUS_URI="http://127.0.0.1:9",
        FOOTNOTE_MILVUS_TIMEOUT="2",
        FOOTNOTE_MILVUS_TOKEN="root:SECRET-MILVUS-PASSWORD",
    )
    assert result.returncode == 1
    assert result.stderr.startswith("footnote: error: Milvus at http://127.0.0.1:9: cannot connect")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "SECRET-MILVUS-PASSWORD" not in result.stdout + result.stderr


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"footnote {version('footnote')}"


def test_a_bug_is_not_dressed_up_as_a_one_line_error(footnote: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only Footnote's own errors become one line; anything else keeps its traceback."""
    from index.storage import store

    assert footnote("index").returncode == 0

    def broken(generation: Path) -> int:
        raise OSError("a bug, not a user's mistake")

    monkeypatch.setattr(store, "size_bytes", broken)
    with pytest.raises(OSError, match="a bug"):
        footnote("stats")


def test_a_missing_questions_file_is_one_clear_line(footnote: Cli, tmp_path: Path) -> None:
    footnote("index")
    result = footnote("ask", "--jsonl", str(tmp_path / "nowhere.jsonl"))
    assert result.returncode == 1
    missing = tmp_path / "nowhere.jsonl"
    assert result.stderr.strip() == f"footnote: error: {missing}: cannot be read (No such file or directory)"


def test_a_questions_file_that_is_not_utf8_is_one_clear_line(footnote: Cli, tmp_path: Path) -> None:
    footnote("index")
    questions = tmp_path / "latin1.jsonl"
    questions.write_bytes('{"question": "Where?"}\n{"question": "caf\xe9"}\n'.encode("latin-1"))
    result = footnote("ask", "--jsonl", str(questions))
    assert result.returncode == 1
    assert result.stderr.startswith(f"footnote: error: {questions}: not UTF-8 text")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # five CLI processes: the full suite runs it, the inner loop skips it
def test_every_output_mode_takes_a_question_that_is_not_utf8(env: dict[str, str]) -> None:
    """Issue 25: a byte that is not UTF-8 in argv reaches Python as a lone surrogate; no mode tracebacks."""
    assert run(env, "index").returncode == 0
    question = b"When do farmers pick apples? \xff\xfe"
    for mode in ([], ["--json"], ["--json", "--explain"], ["--explain"]):
        done = subprocess.run(
            [*[a.encode() for a in FOOTNOTE], b"ask", question, *[m.encode() for m in mode]],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0 and b"Traceback" not in done.stderr, (mode, done.stderr[-300:])
        if "--json" in mode:
            assert json.loads(done.stdout.decode("utf-8"))["question"].startswith("When do farmers")
