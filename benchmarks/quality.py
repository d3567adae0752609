"""Answer quality: retrieval of dense, BM25 and hybrid on the seed questions and the Lee news set,
cross-lingual questions with the multilingual model, follow-ups, abstention.

    python -m benchmarks.quality [--out BENCHMARKS.md] [--skip-lee]

Prints markdown tables and rewrites the "quality" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.data import first_sentence_split, lee_articles
from benchmarks.report import machine, write_section
from config import Settings
from index.build.embedding import E5Embedder, Embedder, MiniLMEmbedder
from index.evaluation import EvalQuestion, EvalReport, evaluate, read_questions
from index.pipeline import Footnote
from index.query.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
MODES = ("dense", "lexical", "hybrid")


def build(embedder: Embedder, name: str, seeds: Path, work: Path) -> Footnote:
    settings = Settings(_env_file=None, seeds_dir=seeds, index_dir=work / f"index-{name}", embedder=name)  # type: ignore[call-arg]
    footnote = Footnote(settings, embedder)
    began = time.perf_counter()
    footnote.build_index()
    print(f"  built {name} index of {seeds} in {time.perf_counter() - began:.0f} s", flush=True)
    return footnote


def engine_for(footnote: Footnote, mode: str) -> Engine:
    base = footnote.open_engine()
    params = replace(base.params, retrieval=mode)  # type: ignore[arg-type]
    return Engine(base.stored, footnote.embedder, params)


def run(engine: Engine, questions: list[EvalQuestion], with_context: bool = True) -> EvalReport:
    return evaluate(
        questions, lambda q, previous: engine.ask(q, 10, previous if with_context else None), ks=(1, 5, 10)
    )


def row(label: str, report: EvalReport) -> str:
    m = report.metrics()
    return (
        f"| {label} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['mrr@10']:.3f} | "
        f"{m['answer_recall']:.3f} | {m['abstention_accuracy']:.3f} |"
    )


HEADER = (
    "| run | recall@1 | recall@5 | MRR@10 | answer recall | abstention accuracy |\n|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--skip-lee", action="store_true")
    args = parser.parse_args()

    seed = read_questions(ROOT / "eval" / "seed_questions.jsonl")
    english_seed = [q for q in seed if q.id != "p07"]
    offtopic = read_questions(ROOT / "eval" / "offtopic.jsonl")
    crosslingual = read_questions(ROOT / "eval" / "crosslingual.jsonl")
    followups = read_questions(ROOT / "eval" / "followups.jsonl")
    lines = [
        f"Measured {machine()}. Recall = gold sentences (or, on the Lee set, the gold article) in the "
        "top k passages; answer recall = gold sentences inside the quotes.",
        "",
    ]

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        minilm = build(MiniLMEmbedder(), "minilm", ROOT / "seeds", work)
        e5 = build(E5Embedder(), "e5-multilingual", ROOT / "seeds", work)

        lines += ["### Seed article: retrieval mode × embedder", "", HEADER]
        for name, footnote in (("minilm", minilm), ("e5-multilingual", e5)):
            questions = seed if name == "e5-multilingual" else english_seed
            for mode in MODES:
                lines.append(
                    row(f"{name} {mode} ({len(questions)} q)", run(engine_for(footnote, mode), questions))
                )
        lines += ["", "### Abstention on off-topic questions", "", HEADER]
        for name, footnote in (("minilm", minilm), ("e5-multilingual", e5)):
            lines.append(
                row(
                    f"{name} hybrid, {len(offtopic)} off-topic q",
                    run(engine_for(footnote, "hybrid"), offtopic),
                )
            )

        lines += [
            "",
            "### Questions in Russian and Belarusian about the English article (e5-multilingual)",
            "",
            HEADER,
        ]
        for mode in ("dense", "hybrid"):
            report = run(engine_for(e5, mode), crosslingual)
            lines.append(row(f"e5 {mode}, {len(crosslingual)} q", report))
        hit5 = run(engine_for(e5, "hybrid"), crosslingual).metrics()["hit@5"]
        lines += [
            "",
            f"hit@5 of the cross-lingual set with Footnote's hybrid: **{hit5:.3f}** (target ≥ 0.9).",
            "",
        ]

        lines += ["### Follow-up questions (minilm hybrid)", "", HEADER]
        lines.append(
            row(f"follow-up alone, {len(followups)} q", run(engine_for(minilm, "hybrid"), followups, False))
        )
        lines.append(row("follow-up + previous question", run(engine_for(minilm, "hybrid"), followups, True)))

        if not args.skip_lee:
            lee = lee_questions(work)
            news = build(MiniLMEmbedder(), "minilm", work / "lee", work / "lee-index")
            lines += [
                "",
                "### Lee news set: 300 articles, first sentence as the question (minilm)",
                "",
                HEADER,
            ]
            mrr = {}
            for mode in MODES:
                report = run(engine_for(news, mode), lee)
                mrr[mode] = report.metrics()["mrr@10"]
                lines.append(row(f"{mode}", report))
            best_single = max(mrr["dense"], mrr["lexical"])
            lines += [
                "",
                f"Hybrid MRR@10 − best single method: **{mrr['hybrid'] - best_single:+.3f}** "
                "(target ≥ +0.05).",
            ]
    text = "\n".join(lines)
    print(text)
    write_section(args.out, "quality", text)


def lee_questions(work: Path) -> list[EvalQuestion]:
    seeds = work / "lee"
    seeds.mkdir()
    questions = []
    for number, article in enumerate(lee_articles()):
        question, rest = first_sentence_split(article)
        doc_id = f"lee-{number:03d}.txt"
        (seeds / doc_id).write_text(rest + "\n", encoding="utf-8")
        questions.append(
            EvalQuestion(f"lee{number:03d}", question, (), expect_abstain=False, gold_docs=(doc_id,))
        )
    (work / "lee-questions.jsonl").write_text(
        "\n".join(
            json.dumps({"id": q.id, "question": q.question, "gold_docs": list(q.gold_docs)})
            for q in questions
        )
    )
    return questions


if __name__ == "__main__":
    main()
