"""The tables `footnote eval` and `footnote stats` print (or their JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from index.evaluation import EvalReport
from index.storage.store import Manifest


def eval_report(
    report: EvalReport, metrics: dict[str, float], splits: dict[str, dict[str, float]], *, as_json: bool
) -> str:
    """Every question's outcome, then the metrics per split (or all of it as JSON)."""
    if as_json:
        rows = [
            {
                "id": r.question.id,
                "question": r.question.question,
                "expect_abstain": r.question.expect_abstain,
                "abstained": r.abstained,
                "first_gold_rank": r.first_gold_rank,
                "answer_recall": r.answer_recall,
                "split": r.question.split,
                "quote_precision": r.quote_precision,
                "reason": r.reason,
            }
            for r in report.results
        ]
        data: dict[str, object] = {"metrics": metrics, "questions": rows}
        if splits:
            data["splits"] = splits
        return json.dumps(data, ensure_ascii=False, indent=2)
    lines = [f"{'id':<8} {'abstain':<13} {'gold rank':>9} {'in answer':>9}  question"]
    for r in report.results:
        expected = "expected" if r.question.expect_abstain else "-"
        got = "yes" if r.abstained else "no"
        rank = "-" if r.first_gold_rank is None else str(r.first_gold_rank)
        recall = "-" if r.answer_recall is None else f"{r.answer_recall:.0%}"
        mark = "" if r.abstention_correct else "  <- abstention wrong"
        shown = f"{got} ({expected})"
        lines.append(
            f"{r.question.id:<8} {shown:<13} {rank:>9} {recall:>9}  {r.question.question[:60]}{mark}"
        )
    lines.append("")
    columns = {"all": metrics, **splits}
    lines.append(f"{'metric':<20} " + " ".join(f"{name:>8}" for name in columns))
    for name in metrics:
        counts = name in {"questions", "answerable", "unanswerable"}
        cells = [
            f"{m.get(name, 0.0):>8.0f}" if counts else f"{m.get(name, 0.0):>8.3f}" for m in columns.values()
        ]
        lines.append(f"{name:<20} " + " ".join(cells))
    return "\n".join(lines)


def stats_report(
    data: dict[str, Any], manifest: Manifest, generation: Path, age: float, size: int, *, as_json: bool
) -> str:
    """What the index holds, from its manifest (or `data` as JSON)."""
    if as_json:
        return json.dumps(data, indent=2)
    lines = [
        f"documents   {len(manifest.documents)}",
        f"chunks      {manifest.chunk_count} ({manifest.unit_count} quotable units)",
        f"embedder    {manifest.embedder}, {manifest.dim}-d",
    ]
    if manifest.embedder_reason:
        lines.append(f"            {manifest.embedder_reason}")
    if manifest.languages:
        lines.append("languages   " + ", ".join(f"{k} {v:.0%}" for k, v in manifest.languages.items()))
    lines.append(f"reader      {manifest.reader or 'rules'}")
    lines.append(f"vectors     {manifest.vector_store}")
    lines.append(f"built       {manifest.created_at} ({_ago(age)} ago)")
    lines.append(f"size        {size / 1024:.0f} KiB in {generation}")
    return "\n".join(lines)


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"
