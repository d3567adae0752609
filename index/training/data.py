"""Where the reader's training data lives and how it splits: by document group, by a stable hash, so that
every script that reads it (train_reader.py, first_cut.py) sees the same train / dev / test."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
ARTICLES = ROOT / "articles"
QUESTIONS = ROOT / "questions"
SPLITS = (("train", 0.8), ("dev", 0.1), ("test", 0.1))


def group_of(doc: str) -> str:
    """Documents that must share a split: a Wikipedia article's sections."""
    return re.sub(r"-\d+\.txt$", "", doc) if doc.startswith("wiki-") else doc


def split_of(doc: str) -> str:
    """train / dev / test, by a stable hash of the document's group."""
    value = int(hashlib.sha256(group_of(doc).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    edge = 0.0
    for name, share in SPLITS:
        edge += share
        if value < edge:
            return name
    return SPLITS[-1][0]


def question_rows() -> Iterator[dict[str, Any]]:
    """Every training question as written (`questions/*.jsonl`, one JSON object a line), file by file."""
    for path in sorted(QUESTIONS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)
