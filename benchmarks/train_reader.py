"""Train the reader's sentence scorer on the dev split of the news evaluation set.

    python -m benchmarks.train_reader [--index-dir DIR] [--features a,b,c] [--ablate] [--encoded] [--dry-run]
                                      [--questions FILE ...]

Builds (or reuses) a MiniLM index of the 300 Lee articles, asks every dev question of
`eval/news/answerable.jsonl` and `eval/news/followups.jsonl` (or of `--questions`), labels each candidate sentence of the
relevant passages as gold or not, fits a logistic regression (numpy, L2, standardised features) and
writes `index/query/reader_weights.json` (keeping the per-embedder thresholds stored there, which must then
be placed again for the new weights). It prints the cross-validated answer recall on dev (5 folds by
article), with `--ablate` the same without each feature in turn, and with `--encoded` the same with
sentence vectors embedded on their own instead of pooled from the chunks' token embeddings (as builds
did before pooling). Test questions are never read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.data import write_lee_articles
from config import Settings
from index.evaluation import contains, read_questions
from index.ingest.embedding import MiniLMEmbedder
from index.pipeline import Pipeline
from index.query.engine import Engine
from index.query.reader import FEATURES, Matrix, ReaderWeights
from index.training import first_cut

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "index" / "query" / "reader_weights.json"
DEFAULT_FEATURES = ("cosine", "coverage", "focus", "answer_type")


@dataclass
class Sample:
    doc: str
    texts: list[str]
    features: Matrix
    labels: np.ndarray  # type: ignore[type-arg]
    gold: tuple[str, ...]


def fit(x: Matrix, y: np.ndarray, l2: float = 1.0) -> ReaderWeights:  # type: ignore[type-arg]
    """L2-regularised logistic regression by Newton's method on standardised features."""
    mean, scale, weights, bias = first_cut.fit(x, y, l2)
    return ReaderWeights((), tuple(mean), tuple(scale), tuple(weights), bias)


def samples(engine: Engine, files: list[Path]) -> list[Sample]:
    """Candidates with features and gold labels for every dev question of the files."""
    out = []
    for path in files:
        for q in read_questions(path):
            if q.split != "dev" or not q.gold:
                continue
            previous = engine.turn(q.context) if q.context else None
            rows, features = first_cut.candidates(engine, q.question, previous)
            texts = [engine.stored.units[r].text for r in rows]
            labels = np.array([any(first_cut.holds(t, g) for g in q.gold) for t in texts], float)
            out.append(Sample(q.doc or q.id, texts, features, labels, q.gold))
    return out


def answer_recall(sample: Sample, scores: np.ndarray, margin: float, max_quotes: int) -> float:  # type: ignore[type-arg]
    """Gold share inside the quotes the composer would choose (six-word minimum, margin, count)."""
    order = [i for i in np.argsort(-scores) if len(sample.texts[i].split()) >= 6]
    if not order:
        return 0.0
    chosen = [i for i in order if scores[i] >= scores[order[0]] - margin][:max_quotes]
    quoted = " ".join(sample.texts[i] for i in chosen)
    return sum(contains(quoted, g) for g in sample.gold) / len(sample.gold)


def cross_validate(
    data: list[Sample], names: tuple[str, ...], folds: int = 5, best: list[float] | None = None
) -> tuple[float, float]:
    """(top-1 gold rate, answer recall) over folds by article; `best` collects each question's best
    quotable log-odds (to place the answer threshold)."""
    columns = [FEATURES.index(n) for n in names]
    docs = sorted({s.doc for s in data})
    fold_of = {doc: i % folds for i, doc in enumerate(docs)}
    top, recall = [], []
    for fold in range(folds):
        train = [s for s in data if fold_of[s.doc] != fold]
        model = fit(
            np.vstack([s.features[:, columns] for s in train]), np.concatenate([s.labels for s in train])
        )
        model = ReaderWeights(names, model.mean, model.scale, model.weights, model.bias)
        for s in data:
            if fold_of[s.doc] != fold or not len(s.labels):
                if fold_of[s.doc] == fold:
                    top.append(0.0)
                    recall.append(0.0)
                continue
            scores = model.logits(s.features)
            if best is not None:
                quotable = [scores[i] for i in range(len(scores)) if len(s.texts[i].split()) >= 6]
                best.append(max(quotable, default=-np.inf))
            top.append(float(s.labels[int(np.argmax(scores))] > 0))
            recall.append(answer_recall(s, scores, 2.5, 4))
    return float(np.mean(top)), float(np.mean(recall))


def encoded_unit_vectors(engine: Engine, embedder: MiniLMEmbedder) -> Matrix:
    """Each sentence's vector embedded on its own (as builds did before pooling)."""
    stored = engine.stored
    encoded = embedder.embed_passages([u.text for u in stored.units])
    print(
        f"mean cosine of the pooled sentence vectors to their own: "
        f"{float(np.mean(np.sum(encoded * stored.unit_vectors, axis=1))):.3f}"
    )
    return encoded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index-dir", type=Path, help="reuse a MiniLM index of the 300 Lee articles")
    parser.add_argument("--features", default=",".join(DEFAULT_FEATURES))
    parser.add_argument("--ablate", action="store_true", help="also cross-validate without each feature")
    parser.add_argument(
        "--encoded", action="store_true", help="also cross-validate with sentences embedded on their own"
    )
    parser.add_argument("--dry-run", action="store_true", help="do not write the weights")
    parser.add_argument(
        "--questions",
        type=Path,
        nargs="+",
        default=[ROOT / "eval" / "news" / "answerable.jsonl", ROOT / "eval" / "news" / "followups.jsonl"],
        help="question files whose dev split trains the reader (docs/answers.md says which made the shipped weights)",
    )
    args = parser.parse_args()
    names = tuple(args.features.split(","))

    with tempfile.TemporaryDirectory() as scratch:
        index_dir = args.index_dir
        seeds = Path(scratch) / "lee"
        if index_dir is None:
            write_lee_articles(seeds)
            index_dir = Path(scratch) / "index"
        settings = Settings(_env_file=None, seeds_dir=seeds, index_dir=index_dir, embedder="minilm")  # type: ignore[call-arg]
        footnote = Pipeline(settings, MiniLMEmbedder())
        if args.index_dir is None:
            footnote.build_index()
        engine = footnote.open_engine()
        files = list(args.questions)
        data = samples(engine, files)
        encoded = None
        if args.encoded:
            vectors = encoded_unit_vectors(engine, footnote.embedder)  # type: ignore[arg-type]
            stored = dataclasses.replace(engine.stored, unit_vectors=vectors)
            encoded = samples(Engine(stored, footnote.embedder, engine.params), files)

    print(f"{len(data)} dev questions, {sum(len(s.labels) for s in data)} candidates")
    best: list[float] = []
    top, recall = cross_validate(data, names, best=best)
    print(f"cross-validated on dev: top-1 gold {top:.3f}, answer recall {recall:.3f} ({', '.join(names)})")
    ranked = sorted(best)
    print("best log-odds of the answerable dev questions, lowest:", [round(b, 2) for b in ranked[:6]])
    if encoded is not None:
        best_encoded: list[float] = []
        top, recall = cross_validate(encoded, names, best=best_encoded)
        print(f"  with sentences embedded alone: top-1 gold {top:.3f}, answer recall {recall:.3f}")
        print("  their lowest best log-odds:", [round(b, 2) for b in sorted(best_encoded)[:6]])
    if args.ablate:
        for name in FEATURES:
            trial = tuple(n for n in names if n != name) if name in names else (*names, name)
            top, recall = cross_validate(data, trial)
            sign = "-" if name in names else "+"
            print(f"  {sign}{name:<12} top-1 gold {top:.3f}, answer recall {recall:.3f}")
    columns = [FEATURES.index(n) for n in names]
    model = fit(np.vstack([s.features[:, columns] for s in data]), np.concatenate([s.labels for s in data]))
    # The thresholds stored with the weights are carried over as they are: they were placed for the old
    # weights, so new ones must be placed again on dev (docs/tuning.md) before they are trusted.
    shipped = ReaderWeights.load().thresholds
    weights = ReaderWeights(names, model.mean, model.scale, model.weights, model.bias, shipped)
    print(
        "weights:",
        {n: round(w, 3) for n, w in zip(names, weights.weights, strict=True)},
        "bias",
        round(weights.bias, 3),
    )
    if not args.dry_run:
        WEIGHTS.write_text(json.dumps(weights.to_json(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {WEIGHTS}")
        print(f"kept the thresholds of {', '.join(shipped)} as they were: place them again for these weights")


if __name__ == "__main__":
    main()
