"""Languages: questions and articles in Russian, English and Belarusian, with the default `auto` embedder.

    python -m benchmarks.languages [--out BENCHMARKS.md]

One row per direction (Russian questions about Russian articles, English questions about them, Russian
questions about the English seed in a mixed corpus, off-topic questions in both languages), the
Belarusian stemming comparison, and what language detection adds to an index build. Prints markdown
and rewrites the "languages" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.data import lee_articles
from benchmarks.report import machine, write_section
from config import Settings
from index import languages
from index.evaluation import EvalQuestion, EvalReport, evaluate, read_questions
from index.ingest.embedding import Embedder, make_embedder
from index.pipeline import Pipeline
from index.query import lexical
from index.query.engine import Engine
from index.sources import corpus

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT / "eval" / "corpora"
HEADER = (
    "| direction | corpus | embedder | questions | hit@1 | hit@5 | answer recall | abstention accuracy |\n"
    "|---|---|---|---|---|---|---|---|"
)


def build(
    name: str, seeds: Path, work: Path, models: dict[str, Embedder], embedder: str = "auto"
) -> Pipeline:
    """Index `seeds` with the given embedder setting (default `auto`), printing the choice."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, seeds_dir=seeds, index_dir=work / f"index-{name}-{embedder}", embedder=embedder
    )
    footnote = Pipeline(settings, models=models)
    began = time.perf_counter()
    report = footnote.build_index()
    print(
        f"  {name}: {report.embedder} ({report.embedder_reason}); {time.perf_counter() - began:.0f} s, "
        f"detection {report.detect_seconds * 1000:.0f} ms",
        flush=True,
    )
    return footnote


def run(engine: Engine, questions: list[EvalQuestion]) -> EvalReport:
    return evaluate(questions, lambda q, previous: engine.ask(q, 10, previous), ks=(1, 5, 10))


def row(direction: str, corpus_name: str, engine: Engine, questions: list[EvalQuestion]) -> str:
    m = run(engine, questions).metrics()
    name = engine.embedder.id.split(" (")[0]
    answerable = m["answerable"] > 0
    cells = (
        [f"{m['hit@1']:.2f}", f"{m['hit@5']:.2f}", f"{m['answer_recall']:.2f}"]
        if answerable
        else ["–", "–", "–"]
    )
    return (
        f"| {direction} | {corpus_name} | {name} | {len(questions)} | {' | '.join(cells)} | "
        f"{m['abstention_accuracy']:.2f} |"
    )


def lexical_row(label: str, engine: Engine, questions: list[EvalQuestion]) -> str:
    m = run(engine, questions).metrics()
    return f"| {label} | {m['recall@1']:.2f} | {m['recall@5']:.2f} | {m['mrr@10']:.3f} |"


def with_mode(engine: Engine, mode: str) -> Engine:
    """The same index and model, another retrieval mode; the lexical index is rebuilt (with the
    stemmers in effect now)."""
    return Engine(engine.stored, engine.embedder, replace(engine.params, retrieval=mode))  # type: ignore[arg-type]


def detection_cost(work: Path) -> tuple[float, float, int]:
    """(seconds for the first detection, which loads the models; ms per article after; articles) on the
    300 English Lee news articles, each loaded as `footnote index` loads it."""
    seeds = work / "lee"
    seeds.mkdir()
    for number, article in enumerate(lee_articles()):
        (seeds / f"lee-{number:03d}.txt").write_text(article + "\n", encoding="utf-8")
    loaded = [corpus.load(source) for source in corpus.scan(seeds)]
    clock = time.perf_counter()
    languages.article_language(loaded[0])
    first = time.perf_counter() - clock
    clock = time.perf_counter()
    found = [languages.article_language(article) for article in loaded[1:]]
    per_article = (time.perf_counter() - clock) * 1000 / len(found)
    assert set(found) == {"en"}, f"Lee articles detected as {set(found)}"
    return first, per_article, len(loaded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()

    ru_questions = read_questions(CORPORA / "ru" / "questions-ru.jsonl")
    en_questions = read_questions(CORPORA / "ru" / "questions-en.jsonl")
    offtopic_ru = read_questions(CORPORA / "ru" / "offtopic-ru.jsonl")
    offtopic_en = read_questions(CORPORA / "ru" / "offtopic-en.jsonl")
    crosslingual = read_questions(ROOT / "eval" / "crosslingual.jsonl")
    ru_about_seed = [q for q in crosslingual if q.id.startswith("r")]
    be_about_seed = [q for q in crosslingual if q.id.startswith("b")]
    be_questions = read_questions(CORPORA / "be" / "questions.jsonl")
    reader = read_questions(CORPORA / "ru" / "reader.jsonl")
    reader_ru = [q for q in reader if q.id.startswith("rn-a")]
    near_ru = [q for q in reader if q.id.startswith("rn-n")]
    near_en = [q for q in reader if q.id.startswith("en-n")]
    dev = read_questions(CORPORA / "ru-dev" / "questions.jsonl")
    models = {name: make_embedder(name) for name in ("minilm", "e5-multilingual")}

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        mixed_seeds = work / "mixed"
        shutil.copytree(CORPORA / "ru", mixed_seeds, ignore=shutil.ignore_patterns("*.jsonl"))
        shutil.copy(ROOT / "seeds" / "iskander-in-belarus-never-ever.txt", mixed_seeds)
        russian = build("ru", CORPORA / "ru", work, models).open_engine()
        minilm_russian = build("ru", CORPORA / "ru", work, models, embedder="minilm").open_engine()
        mixed = build("mixed", mixed_seeds, work, models).open_engine()
        belarusian = build("be", CORPORA / "be", work, models).open_engine()
        russian_dev = build("ru-dev", CORPORA / "ru-dev", work, models).open_engine()

        lines = [
            f"Measured {machine()}, with the default `FOOTNOTE_EMBEDDER=auto`. Corpora in `eval/corpora/`: "
            "4 Russian articles (written for these tests), 3 Belarusian ones, and the mixed corpus of the "
            "Russian ones plus the English seed article; `ru-dev`: 6 more Russian articles with 72 questions, "
            "the development set for Russian checks. hit@k = a gold sentence in the top k passages; "
            "answer recall = gold sentences inside the quotes.",
            "",
            HEADER,
            row("ru → ru", "Russian", russian, ru_questions),
            row("en → ru", "Russian", russian, en_questions),
            row("ru → en (mixed)", "mixed", mixed, ru_about_seed),
            row("be → en (mixed)", "mixed", mixed, be_about_seed),
            row("ru → ru (mixed)", "mixed", mixed, ru_questions),
            row("en → ru (mixed)", "mixed", mixed, en_questions),
            row("off-topic ru", "Russian", russian, offtopic_ru),
            row("off-topic en", "Russian", russian, offtopic_en),
            row("off-topic ru", "mixed", mixed, offtopic_ru),
            row("off-topic en", "mixed", mixed, offtopic_en),
            row("be → be", "Belarusian", belarusian, be_questions),
            row("ru → ru, written later", "Russian", russian, reader_ru),
            row("near-topic ru → ru", "Russian", russian, near_ru),
            row("near-topic en → ru", "Russian", russian, near_en),
            row("ru → ru, dev set", "Russian dev", russian_dev, [q for q in dev if not q.expect_abstain]),
            row(
                "near-topic ru → ru, dev set",
                "Russian dev",
                russian_dev,
                [q for q in dev if q.expect_abstain],
            ),
            row("ru → ru, `minilm` forced", "Russian", minilm_russian, ru_questions),
            row("en → ru, `minilm` forced", "Russian", minilm_russian, en_questions),
        ]

        lines += [
            "",
            "### Belarusian stemming: the Russian stemmer or none",
            "",
            f"{len(be_questions)} Belarusian questions about the 3 Belarusian articles (gold sentences; "
            "recall@k over passages).",
            "",
            "| stemming of Belarusian, retrieval | recall@1 | recall@5 | MRR@10 |",
            "|---|---|---|---|",
        ]
        results: dict[str, str] = {}
        default = lexical.STEMMERS["be"]
        for stemmer in (None, "russian"):
            lexical.STEMMERS["be"] = stemmer
            for mode in ("lexical", "hybrid"):
                label = f"{stemmer or 'none'}, {mode}"
                results[label] = lexical_row(label, with_mode(belarusian, mode), be_questions)
        lexical.STEMMERS["be"] = default
        lines += list(results.values())

        first, per_article, count = detection_cost(work)
        lines += [
            "",
            "### What language detection costs",
            "",
            f"`lingua` (low-accuracy mode, 8 languages), on a sample of up to 3,000 characters per article: "
            f"**{per_article:.1f} ms per article** over the {count} English Lee news articles "
            f"({per_article * count / 1000:.2f} s for all), plus {first:.2f} s for the first detection "
            "(it loads the language models). Only new and changed articles are detected; an unchanged "
            "article's language is read from the manifest.",
        ]
    text = "\n".join(lines)
    print(text)
    write_section(args.out, "languages", text)


if __name__ == "__main__":
    main()
