"""Check training question files: keys per kind, and every gold string verbatim in its document.

    python3 index/training/check_questions.py index/training/questions/part-1.jsonl [...]
Prints one line per problem and a count; exits 1 when any line is wrong.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ARTICLES = Path(__file__).resolve().parent / "articles"
KINDS = {
    "single": {"doc", "kind", "question", "gold", "expect"},
    "two-fact": {"doc", "kind", "question", "gold", "expect"},
    "near-topic": {"doc", "kind", "question", "gold", "expect"},
    "followup": {"doc", "kind", "context", "context_gold", "question", "gold", "expect"},
}


def problems(row: object, texts: dict[str, str]) -> list[str]:
    """Return what is wrong with one parsed line (empty when it is fine)."""
    if not isinstance(row, dict):
        return ["not a JSON object"]
    kind = row.get("kind")
    if kind not in KINDS:
        return [f"unknown kind {kind!r}"]
    if set(row) != KINDS[kind]:
        return [f"keys {sorted(row)} != {sorted(KINDS[kind])}"]
    doc = row["doc"]
    if doc not in texts:
        path = ARTICLES / str(doc)
        if not path.is_file():
            return [f"no document {doc!r}"]
        texts[doc] = path.read_text(encoding="utf-8")
    text = texts[doc]
    out = []
    want = {"single": (1, 1), "two-fact": (2, 2), "near-topic": (0, 0), "followup": (1, 3)}[kind]
    golds = row["gold"]
    if not isinstance(golds, list) or not want[0] <= len(golds) <= want[1]:
        out.append(f"{kind} needs {want[0]}-{want[1]} gold strings")
        golds = golds if isinstance(golds, list) else []
    expect = "abstain" if kind == "near-topic" else "answer"
    if row["expect"] != expect:
        out.append(f"expect must be {expect!r}")
    for gold in golds + list(row.get("context_gold", [])):
        if not isinstance(gold, str) or len(gold.split()) < 2:
            out.append(f"gold too short: {gold!r}")
        elif gold not in text:
            out.append(f"not verbatim in {doc}: {gold[:80]!r}")
    if not str(row["question"]).strip():
        out.append("empty question")
    return out


def main(paths: list[str]) -> int:
    """Check every file; return the exit status."""
    texts: dict[str, str] = {}
    bad = total = 0
    for name in paths:
        for n, line in enumerate(Path(name).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            total += 1
            try:
                found = problems(json.loads(line), texts)
            except json.JSONDecodeError as error:
                found = [f"not JSON: {error}"]
            for problem in found:
                print(f"{name}:{n}: {problem}")
            bad += bool(found)
    print(f"{total} lines, {bad} with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
