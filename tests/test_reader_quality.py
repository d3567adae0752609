"""The reader with the real MiniLM on the held-out (test) questions: floors it meets with some margin.

A small corpus keeps this fast: the 101 evaluated news articles plus 6 distractors (`eval/news/articles`),
and the seed article. The floors sit below what the reader measures here (docs/answers.md), so they fail
when quote choice or abstention regresses, not on noise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from index.evaluation import EvalReport, evaluate, read_questions
from index.ingest.embedding import MiniLMEmbedder
from index.pipeline import Pipeline
from index.query.engine import Engine
from index.wording import reason_text
from tests.helpers import ROOT, SEEDS, make_settings

pytestmark = pytest.mark.model

NEWS = ROOT / "eval" / "news"
SEED = ROOT / "eval" / "seed"


def open_engine(embedder: MiniLMEmbedder, seeds: Path, index_dir: Path) -> Engine:
    footnote = Pipeline(make_settings(seeds_dir=seeds, index_dir=index_dir), embedder)
    footnote.build_index()
    return footnote.open_engine()


@pytest.fixture(scope="module")
def news(minilm: MiniLMEmbedder, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return open_engine(minilm, NEWS / "articles", tmp_path_factory.mktemp("news") / "index")


@pytest.fixture(scope="module")
def seed(minilm: MiniLMEmbedder, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return open_engine(minilm, SEEDS, tmp_path_factory.mktemp("seed") / "index")


def test_split(engine: Engine, path: Path) -> EvalReport:
    """The test split of a question file, asked with its context."""
    questions = [q for q in read_questions(path) if q.split == "test"]
    return evaluate(
        questions, lambda q, previous: engine.ask(q, 10, previous), neighbours=engine.neighbour_texts
    )


test_split.__test__ = False  # type: ignore[attr-defined]


def test_news_answers_quote_the_answering_sentence(news: Engine) -> None:
    metrics = test_split(news, NEWS / "answerable.jsonl").metrics()
    assert metrics["answer_recall"] >= 0.78, metrics  # measured 0.826 (121 questions)
    assert metrics["quote_precision"] >= 0.45, metrics  # 0.483 (0.519 before the c6 articles joined)
    # 0.041: "how many" answered by a synonym, name questions whose answer the reader scores low
    assert metrics["false_abstention"] <= 0.05, metrics


def test_news_near_topic_questions_abstain_and_say_why(news: Engine) -> None:
    report = test_split(news, NEWS / "neartopic.jsonl")
    assert report.metrics()["abstention_rate"] >= 0.58, report.metrics()  # 0.635 (85 questions)
    reasons = [r.reason for r in report.results if r.abstained]
    assert all(reasons) and any(r and r.startswith("The articles do not mention") for r in reasons)
    assert any(r and r.startswith("The nearest articles do not give the number") for r in reasons)
    # "What is the name of the pilot killed...?": the articles name nobody in that role.
    assert any(r == "The nearest articles do not give the name asked for." for r in reasons)
    # "What did Human Rights Watch say about...?": the articles to be quoted never name the speaker.
    assert any(r and r.startswith("The nearest articles do not mention") for r in reasons)


def test_news_follow_ups(news: Engine) -> None:
    metrics = test_split(news, NEWS / "followups.jsonl").metrics()
    assert metrics["answer_recall"] >= 0.76, metrics  # 0.804 (97 questions, 30 of them c6)


def test_seed_answers_and_abstentions(seed: Engine) -> None:
    answerable = test_split(seed, SEED / "answerable.jsonl").metrics()
    assert answerable["answer_recall"] >= 0.80, answerable  # 0.867 (15 questions)
    assert answerable["false_abstention"] <= 0.07, answerable  # 0
    near = test_split(seed, SEED / "neartopic.jsonl").metrics()
    assert near["abstention_rate"] >= 0.30, near  # 0.389: Lukashenko, Putin as speaker, number slots
    follow_ups = test_split(seed, SEED / "followups.jsonl").metrics()
    assert follow_ups["answer_recall"] >= 0.75, follow_ups  # 0.800 (10 questions; 0.700 without the bonus)
    lukashenko = seed.ask("What did Alexander Lukashenko say about the Iskander during Lavrov's visit?")
    assert lukashenko.abstained and lukashenko.reason is not None
    assert reason_text(lukashenko.reason) == "The articles do not mention Alexander Lukashenko."


def test_every_quote_is_verbatim_with_exact_spans(news: Engine) -> None:
    for q in read_questions(NEWS / "answerable.jsonl")[:40]:
        for quote in news.ask(q.question).quotes:
            text = (NEWS / "articles" / quote.doc_id).read_text(encoding="utf-8")
            assert text[quote.start : quote.end] == quote.text


def test_the_trained_reader_ships_loads_offline_and_is_named(minilm: MiniLMEmbedder, tmp_path: Path) -> None:
    """FOOTNOTE_READER=model (the default): the weights in the package, the base model from its package,
    no hub; the manifest, the engine and `--explain` name it. FOOTNOTE_READER=rules turns it off."""
    from index.query import reader_model

    assert reader_model.available()
    settings = make_settings(seeds_dir=SEEDS, index_dir=tmp_path / "index")
    footnote = Pipeline(settings, minilm)
    footnote.build_index()
    engine = footnote.open_engine()
    assert engine.model is not None, "by default, MiniLM reads with the trained model"
    assert engine.reader_name.startswith(reader_model.read_meta()["name"] + " sha256:")
    assert engine.stored.manifest.reader == engine.reader_name, "the manifest names the reader and its hash"
    size = (reader_model.model_dir() / reader_model.WEIGHTS).stat().st_size
    assert size < 30 * 1024 * 1024, "the repo grows by at most 30 MB"
    assert reader_model.thresholds("minilm"), "its parameters were placed on dev and ship beside it"
    answer = engine.ask("Why did Moscow refuse?")
    assert not answer.abstained
    quoted = " ".join(q.text for q in answer.quotes)
    assert "The official motivation:" in quoted and "The informal motivation included:" in quoted, (
        "the two motivation lists are parallel answers, quoted together"
    )
    first = answer.explanations[0].features
    assert first[0][0] == "reader_probability" and first[1][0] == "answer_threshold"
    assert first[0][1] >= first[1][1], "a quoted answer's best probability reaches the threshold"
    rules = Pipeline(
        make_settings(seeds_dir=SEEDS, index_dir=tmp_path / "index", reader="rules"), minilm
    ).open_engine()
    assert rules.model is None and rules.reader_name == "rules", "FOOTNOTE_READER=rules reads with the rules"


def test_the_shipped_int8_weights_are_the_ones_the_model_reads_with() -> None:
    """`pack` stores each linear layer's weight as `to_int8` makes it; loading puts those very integers
    back, whatever rounding quantising again would do; other tensors come back unchanged."""
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as Int8Linear

    from index.query import reader_model

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 5), torch.nn.LayerNorm(5), torch.nn.Linear(5, 1))
    packed = reader_model.pack(model, lambda name: not name.startswith("1."))
    assert packed["0.weight"].dtype == torch.int8 and "1.weight" not in packed
    assert packed["0.bias"].dtype == torch.float32
    trained, exact = reader_model.unpack(packed)
    assert set(exact) == {"0.weight", "2.weight"}
    expected = reader_model.to_int8(model)
    again = torch.nn.Sequential(torch.nn.Linear(8, 5), torch.nn.LayerNorm(5), torch.nn.Linear(5, 1))
    again.load_state_dict({**trained, "1.weight": model[1].weight, "1.bias": model[1].bias})
    loaded = reader_model.to_int8(again, exact)
    for k in (0, 2):
        assert isinstance(loaded[k], Int8Linear)
        assert torch.equal(loaded[k].weight().int_repr(), expected[k].weight().int_repr())
        assert loaded[k].weight().q_scale() == expected[k].weight().q_scale()
    x = torch.randn(3, 8)
    assert torch.equal(loaded(x), expected(x))


def test_loading_the_reader_is_silent() -> None:
    """A fresh process loads the shipped reader with no warning (as errors here) and no load report or
    progress bar from transformers in the reader's terminal ("MISSING ... Consider training")."""
    import subprocess
    import sys

    code = "from index.query import reader_model; reader_model.CrossReader(threads=1)"
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == "", result.stdout + result.stderr
