"""Benchmark data no one here wrote: the 300 news articles inside the gensim wheel (Lee corpus).

Only the benchmarks read it: `pip download gensim==4.4.0 --no-deps` once into data/bench/, then the file
is read straight from the wheel (a zip), nothing is installed.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

WHEEL_DIR = Path("data/bench")
MEMBER = "gensim/test/test_data/lee_background.cor"


def lee_articles() -> list[str]:
    """The 300 Lee background articles, one string each."""
    wheels = sorted(WHEEL_DIR.glob("gensim-4.4.0-*.whl"))
    if not wheels:
        WHEEL_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "gensim==4.4.0",
                "-d",
                str(WHEEL_DIR),
            ],
            check=True,
        )
        wheels = sorted(WHEEL_DIR.glob("gensim-4.4.0-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        text = wheel.read(MEMBER).decode("utf-8", errors="replace")
    return [line.strip() for line in text.splitlines() if line.strip()]


def first_sentence_split(article: str) -> tuple[str, str]:
    """(first sentence, the rest): the question and the document of the Lee retrieval task."""
    from sentencex import segment

    pieces = list(segment("en", article))
    first = pieces[0].strip()
    return first, article[len(pieces[0]) :].strip()


def write_lee_articles(folder: Path) -> list[Path]:
    """The 300 Lee articles as `lee-000.txt` ... `lee-299.txt` in a folder (the news evaluation corpus)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, article in enumerate(lee_articles()):
        path = folder / f"lee-{number:03d}.txt"
        path.write_text(article + "\n", encoding="utf-8")
        paths.append(path)
    return paths
