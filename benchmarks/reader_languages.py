"""What the English trained reader does with Russian and Belarusian questions (issue 26).

    python -m benchmarks.reader_languages [--reader DIR]

The reader step alone, as `index/training/train_reader.py` reports it: every quotable unit of a corpus is
a candidate, and a question counts when its first (or one of its first three) candidates holds a gold
string. The trained reader's ranking is compared with the cosine of the multilingual e5 embedder, which
ranks candidates on the path that these questions take today (`FOOTNOTE_READER` leaves them to the rules).
Prints markdown; the languages section of docs/languages.md quotes it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.report import machine
from index.evaluation import contains, read_questions
from index.ingest.embedding import E5Embedder
from index.query import reader_model
from index.training.train_reader import load_units

ROOT = Path(__file__).resolve().parent.parent
SETS = (
    ("Russian questions, Russian articles", "ru", "questions-ru.jsonl"),
    ("Russian reading questions, Russian articles", "ru", "reader.jsonl"),
    ("Russian questions, Russian articles (dev corpus)", "ru-dev", "questions.jsonl"),
    ("Belarusian questions, Belarusian articles", "be", "questions.jsonl"),
    ("English questions, Russian articles", "ru", "questions-en.jsonl"),
)


def units_of(folder: Path) -> list[str]:
    """Every quotable unit of a corpus folder, as Footnote cuts it."""
    return [unit.text for units in load_units(folder).values() for unit in units]


def ranks(order: list[int], texts: list[str], gold: tuple[str, ...]) -> tuple[bool, bool]:
    """Whether the first, and one of the first three, candidates hold a gold string."""
    hits = [
        any(contains(texts[j], g) or (len(texts[j]) > 30 and contains(g, texts[j])) for g in gold)
        for j in order[:3]
    ]
    return bool(hits and hits[0]), any(hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reader", type=Path, default=None, help="the reader's folder (default: shipped)")
    args = parser.parse_args()
    reader = reader_model.CrossReader(args.reader, threads=2)
    e5 = E5Embedder()
    lines = [
        f"Measured {machine()}, reader {reader.name} ({reader.hash}): the reader step alone, every unit "
        "of the corpus a candidate.",
        "",
        "| questions | n | first is gold: reader / e5 cosine | gold in top 3: reader / e5 cosine |",
        "|---|---|---|---|",
    ]
    for label, folder, name in SETS:
        texts = units_of(ROOT / "eval" / "corpora" / folder)
        vectors = e5.embed_passages(texts)
        questions = [q for q in read_questions(ROOT / "eval" / "corpora" / folder / name) if q.gold]
        found = np.zeros((2, 2))
        for q in questions:
            by_model = list(np.argsort(-reader.logits(q.question, texts)))
            by_cosine = list(np.argsort(-(vectors @ e5.embed_queries([q.question])[0])))
            found[0] += ranks([int(j) for j in by_model], texts, q.gold)
            found[1] += ranks([int(j) for j in by_cosine], texts, q.gold)
        n = max(len(questions), 1)
        lines.append(
            f"| {label} | {len(questions)} | {found[0, 0] / n:.2f} / {found[1, 0] / n:.2f} "
            f"| {found[0, 1] / n:.2f} / {found[1, 1] / n:.2f} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
