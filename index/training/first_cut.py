"""Fit the trained reader's first cut: which of a question's candidates the cross-encoder reads.

    .venv/bin/python -m index.training.first_cut [--out DIR] [--work DIR] [--l2 1.0]

Reading is the costly step, so the model reads only a question's best `model_candidates` sentences, and
which those are decides whether the answer can be among them at all. This builds a MiniLM index of the
training articles (index/training/articles/, never eval/ nor the seed), asks it every answerable training
question (one fact or two; follow-ups and near-topic ones have no gold to find) through the engine's own
steps, labels each candidate sentence gold or not, and fits a logistic regression (numpy, L2, Newton)
over the rules' features, each taken as it is, less the question's best and less its mean
(`reader_model.FirstCut`). It is fitted on the train split; on the training data's dev and test splits it
prints how often every gold sentence is among the first k, beside the rules' order. It is stored beside
the weights (`first_cut` in reader.json). About five minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from config import Settings
from index.evaluation import contains
from index.ingest.embedding import MiniLMEmbedder
from index.pipeline import Pipeline
from index.query import reader_model
from index.query.engine import Engine
from index.query.followup import Conversation, plan
from index.query.reader import FEATURES, Question, ReaderWeights
from index.training.data import ARTICLES, question_rows, split_of

Matrix = NDArray[np.float64]
L2 = 1.0
SHOWN = (3, 4, 5, 6, 8)


@dataclass
class Candidates:
    """One question's candidate sentences as the engine's reader finds them, with gold labels."""

    split: str
    texts: list[str]
    quotable: NDArray[np.bool_]
    features: Matrix
    gold: tuple[str, ...]

    @property
    def labels(self) -> Matrix:
        return np.array([any(holds(t, g) for g in self.gold) for t in self.texts], dtype=np.float64)


def holds(text: str, gold: str) -> bool:
    """Whether a candidate is a gold sentence: it holds the gold span, or the span holds it."""
    return contains(text, gold) or contains(gold, text)


def candidates(
    engine: Engine, question: str, previous: Conversation | None = None
) -> tuple[list[int], Matrix]:
    """A question's candidate units and every feature of each, through the engine's own steps up to the
    reader's features (Engine.ask)."""
    params = engine.params
    turn = plan(question, previous, vague=params.vague_follow_up_floor < math.inf)
    words = engine.retriever.lexical.read_question(question, turn.search, rare_zipf=params.answer.rare_zipf)
    found = engine.retriever.find(turn, words, params.top_k, params.follow_up_away)
    vector = found.retrieval.query_vector[0]
    if found.own is not None:
        vector = (vector + found.own[0]) / 2.0
    query = Question(question, vector, words.weights, words.language)
    relevant = engine.reader.relevant(query, found.retrieval, params.answer)
    return engine.reader.candidates(query, relevant, params.answer, None)


def fit(x: Matrix, y: Matrix, l2: float = L2) -> tuple[Matrix, Matrix, Matrix, float]:
    """L2-regularised logistic regression by Newton's method on standardised features: (mean, scale,
    weights, bias)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[-1, -1] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return mean, scale, w[:-1], float(w[-1])


def fit_first_cut(data: list[Candidates], l2: float = L2) -> reader_model.FirstCut:
    """The first cut fitted on these questions' candidates."""
    used = [c for c in data if len(c.texts)]
    x = np.vstack([reader_model.FirstCut.inputs(c.features) for c in used])
    y = np.concatenate([c.labels for c in used])
    mean, scale, weights, bias = fit(x, y, l2)
    return reader_model.FirstCut(FEATURES, tuple(mean), tuple(scale), tuple(weights), bias)


def all_gold_within(data: list[Candidates], score: Callable[[Matrix], Matrix], k: int) -> float:
    """Share of questions whose every gold span is held by one of the first k quotable candidates in the
    order of `score` (candidates' features -> log-odds)."""
    hits = []
    for c in data:
        if not len(c.texts):
            hits.append(0.0)
            continue
        values = np.where(c.quotable, score(c.features), -np.inf)
        first = [c.texts[i] for i in np.argsort(-values, kind="stable")[:k] if c.quotable[i]]
        hits.append(float(all(any(holds(t, g) for t in first) for g in c.gold)))
    return float(np.mean(hits)) if hits else 0.0


def gather(engine: Engine) -> list[Candidates]:
    """Every answerable training question that is not a follow-up, with its candidates."""
    out = []
    units, params = engine.stored.units, engine.params.answer
    for row in question_rows():
        if row["kind"] == "near-topic" or row.get("context"):
            continue
        rows, features = candidates(engine, row["question"])
        out.append(
            Candidates(
                split_of(row["doc"]),
                [units[r].text for r in rows],
                np.array([engine.reader.quotable(r, params) for r in rows], dtype=bool),
                features,
                tuple(row["gold"]),
            )
        )
    return out


def training_engine(index_dir: Path) -> Engine:
    """An engine over a MiniLM index of the training articles, built in `index_dir` unless it is there."""
    settings = Settings(_env_file=None, seeds_dir=ARTICLES, index_dir=index_dir, embedder="minilm")  # type: ignore[call-arg]
    footnote = Pipeline(settings, MiniLMEmbedder())
    if not (index_dir / "CURRENT").is_file():
        footnote.build_index()
    return footnote.open_engine()


def retrieved(engine: Engine, question: str, order: reader_model.FirstCut) -> list[str]:
    """The question's quotable candidates as Footnote retrieves them, best first by `order`."""
    rows, features = candidates(engine, question)
    if not rows:
        return []
    units, params = engine.stored.units, engine.params.answer
    ranked = np.argsort(-order.logits(features, FEATURES), kind="stable")
    return [units[rows[i]].text for i in ranked if engine.reader.quotable(rows[i], params)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="the reader's folder (default: the shipped one's)")
    parser.add_argument("--work", type=Path, help="keep the index of the training articles here")
    parser.add_argument("--l2", type=float, default=L2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data = gather(training_engine((args.work or Path(scratch)) / "index-training"))
    by_split = {name: [c for c in data if c.split == name] for name in ("train", "dev", "test")}
    first_cut = fit_first_cut(by_split["train"], args.l2)
    orders = {"first_cut": lambda f: first_cut.logits(f, FEATURES), "rules": ReaderWeights.load().logits}
    report = {
        name: {
            "questions": len(part),
            **{
                f"{order}_all_gold_in_first_{k}": round(all_gold_within(part, score, k), 4)
                for order, score in orders.items()
                for k in SHOWN
            },
        }
        for name, part in by_split.items()
        if name != "train"
    }
    print(json.dumps(report, indent=1))
    path = (args.out or reader_model.model_dir()) / reader_model.META
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["first_cut"] = first_cut.to_json()
    meta["first_cut_report"] = {"l2": args.l2, "training_questions": len(by_split["train"]), **report}
    path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print("written to", path)


if __name__ == "__main__":
    main()
