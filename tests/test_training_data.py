"""The reader's training data (index/training/): verbatim gold, no evaluation document, split by document."""

from __future__ import annotations

import subprocess
import sys

import pytest

from index.training.data import ARTICLES, QUESTIONS, group_of, question_rows, split_of
from tests.helpers import ROOT


def rows() -> list[dict[str, object]]:
    return list(question_rows())


def test_every_line_is_well_formed_and_its_gold_verbatim() -> None:
    files = [str(p) for p in sorted(QUESTIONS.glob("*.jsonl"))]
    done = subprocess.run(
        [sys.executable, str(ROOT / "index" / "training" / "check_questions.py"), *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert len(rows()) >= 5000


def test_no_evaluation_document_or_seed_is_trained_on() -> None:
    evaluation = {p.name for p in (ROOT / "eval").rglob("*.txt")} | {
        p.name for p in (ROOT / "seeds").iterdir()
    }
    trained = {p.name for p in ARTICLES.glob("*.txt")}
    assert trained and not trained & evaluation
    assert len({str(r["doc"]) for r in rows()}) >= 400


def test_splits_are_by_document_group() -> None:
    splits: dict[str, set[str]] = {}
    for row in rows():
        doc = str(row["doc"])
        splits.setdefault(group_of(doc), set()).add(split_of(doc))
    assert all(len(found) == 1 for found in splits.values()), "a group's documents share one split"
    counts = {
        name: sum(1 for r in rows() if split_of(str(r["doc"])) == name) for name in ("train", "dev", "test")
    }
    assert counts["train"] > 3 * counts["dev"] and counts["test"] >= 400


def test_retrieved_negatives_replace_bi_encoder_ones_and_are_never_gold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--retrieved-negatives N`: the first N non-gold sentences Footnote retrieves for a question are
    negatives in place of as many of the bi-encoder's; a retrieved gold sentence is never one. (The
    bi-encoder is the model-free hashing embedder here: which negatives it picks is not under test.)"""
    import random

    from index.ingest.embedding import HashingEmbedder
    from index.training import train_reader as t
    from index.types import Unit

    monkeypatch.setattr(t, "embed", lambda texts: HashingEmbedder().embed_passages(texts))

    texts = [f"Sentence {w} about the harbour and its ships." for w in "ABCDEFGH"]
    units = [Unit("a.txt", 50 * i, 50 * i + len(x), x, "sentence") for i, x in enumerate(texts)]
    item = t.Item("a.txt", "single", "Which ships sail from the harbour?", [[2]], units)
    found = {item.question: [texts[2], "Another article's sentence.", texts[5], "A third one."]}

    def negatives(retrieved: int) -> list[str]:
        pairs = t.make_pairs([item], random.Random(0), found, retrieved)
        assert [p[1] for p in pairs if p[2] == 1.0] == [texts[2]]
        return [p[1] for p in pairs if p[2] == 0.0]

    plain, mixed = negatives(0), negatives(2)
    assert len(plain) == len(mixed) == t.HARD_NEGATIVES + t.RANDOM_NEGATIVES
    assert "Another article's sentence." not in plain
    assert {"Another article's sentence.", texts[5]} <= set(mixed) and "A third one." not in mixed
    assert texts[2] not in mixed, "a retrieved gold sentence is not a negative"
