"""Scale figures for the Milvus vector store beside FAISS, on the same synthetic passages.

    python -m benchmarks.milvus [--out BENCHMARKS.md] [--sizes 100000,1000000]

For each size: the real Milvus standalone server (the `milvus` package, on loopback) gets the vectors
through Footnote's own MilvusStore (upserts, HNSW index), then answers single-query searches the way a
bot replica does (`MilvusSearch.search`, Bounded reads). Beside it, in the same run and on the same
vectors: exact FAISS (the baseline: recall@10 is measured against it) and the IVF index Footnote uses
above 50k passages. Also: the cost of Strong reads, Footnote's own overhead over a bare pymilvus search,
and memory per passage in the Milvus server and in a replica.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.perf import _clustered, _search_times, percentile
from benchmarks.report import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
DIM = 384
QUERIES = 200


def rss_mib(pid: int) -> float:
    """Resident memory of a process (the Milvus server)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def milvus_pid() -> int:
    """The pid of the Milvus standalone binary the benchmark started."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if command[0].endswith(b"/milvus") and b"standalone" in command:
                return int(entry.name)
    raise RuntimeError("no Milvus process found")


def wait_indexed(store: object, total: int, timeout: float = 7200) -> float:
    """Flush, then wait until the vector index covers every row; returns the seconds waited."""
    from index.milvus_store import MilvusStore

    assert isinstance(store, MilvusStore)
    client = store.client()
    began = time.perf_counter()
    client.flush(store.collection)
    while time.perf_counter() - began < timeout:
        described = client.describe_index(store.collection, "vector")
        if int(described.get("indexed_rows", 0)) >= total and not int(described.get("pending_index_rows", 0)):
            return time.perf_counter() - began
        time.sleep(2)
    raise TimeoutError("the index did not finish building")


def figures(uri: str, sizes: list[int], lines: list[str]) -> None:
    import faiss

    from index import faiss_store
    from index.milvus_store import MilvusSearch, MilvusStore
    from index.vectors import VectorPlan

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(2000, DIM)).astype(np.float32)
    pid = milvus_pid()
    idle_rss = rss_mib(pid)
    lines += [
        "| passages | store | load s | index s | search p50 ms | search p95 ms | recall@10 | memory per passage |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for size in sizes:
        data = _clustered(rng, centres, size)
        probe = _clustered(rng, centres, QUERIES)
        exact = faiss.IndexFlatIP(DIM)
        exact.add(data)
        _, truth = exact.search(probe, 10)
        exact_times = _search_times(exact, probe)
        lines.append(
            f"| {size:,} | FAISS exact (baseline) | 0.0 | – | {percentile(exact_times, 50):.2f} | "
            f"{percentile(exact_times, 95):.2f} | 1.000 | {DIM * 4} B in the replica |"
        )
        began = time.perf_counter()
        ivf = faiss_store.build(data, DIM, "ivf")
        ivf_build = time.perf_counter() - began
        _, found = ivf.search(probe, 10)
        ivf_times = _search_times(ivf, probe)
        lines.append(
            f"| {size:,} | FAISS {faiss_store.describe(ivf)} (Footnote's default above 50k) | – | "
            f"{ivf_build:.1f} | {percentile(ivf_times, 50):.2f} | {percentile(ivf_times, 95):.2f} | "
            f"{_recall(found, truth):.3f} | {len(faiss.serialize_index(ivf)) / size:.0f} B in the replica |"
        )
        del exact, ivf

        store = MilvusStore(uri, collection=f"bench_{size}", consistency="Bounded")
        client = store.client()
        if client.has_collection(store.collection):
            client.drop_collection(store.collection)
        keys = np.arange(size, dtype=np.int64)
        plan = VectorPlan(
            dim=DIM,
            keys=keys,
            doc_keys=keys // 10,
            fresh_rows=np.arange(size),
            fresh_vectors=data,
            kept_rows=np.zeros(0, dtype=np.intp),
            kept_from=np.zeros(0, dtype=np.intp),
            previous=None,
        )
        with tempfile.TemporaryDirectory() as scratch:
            began = time.perf_counter()
            store.write(Path(scratch), Path(scratch), plan)
            load = time.perf_counter() - began
        indexing = wait_indexed(store, size)
        time.sleep(5)  # let the query node settle on the sealed, indexed segments
        loaded_rss = rss_mib(pid)
        search = MilvusSearch(store, keys, DIM)
        for ef in (64, 128):
            store.ef = ef
            search.search(probe[0], 10)
            times, results = [], []
            for row in probe:
                began = time.perf_counter()
                results.append([position for position, _ in search.search(row, 10)])
                times.append((time.perf_counter() - began) * 1000)
            chosen = " (default)" if ef == 64 else ""
            memory = (loaded_rss - idle_rss) * 1048576 / size
            lines.append(
                f"| {size:,} | Milvus HNSW, ef {ef}{chosen}, Bounded | {load:.1f} | {indexing:.1f} | "
                f"{percentile(times, 50):.2f} | {percentile(times, 95):.2f} | "
                f"{_recall(np.asarray(results), truth):.3f} | {memory:.0f} B in the server + 16 B in the replica |"
            )
        store.ef = 64
        bare, strong = [], []
        params = {"metric_type": "IP", "params": {"ef": 64}}
        for row in probe[:50]:
            began = time.perf_counter()
            client.search(store.collection, data=[row.tolist()], limit=20, search_params=params)
            bare.append((time.perf_counter() - began) * 1000)
        store.consistency = "Strong"
        for row in probe[:20]:
            began = time.perf_counter()
            search.search(row, 10)
            strong.append((time.perf_counter() - began) * 1000)
        store.consistency = "Bounded"
        notes.append(
            f"At {size:,} passages: a bare pymilvus search (same ef, limit 20) takes p50 "
            f"{percentile(bare, 50):.2f} ms; the same search at Strong consistency p50 {percentile(strong, 50):.0f} ms. "
            f"Milvus server RSS: {idle_rss:.0f} MiB idle, {loaded_rss:.0f} MiB with this collection loaded."
        )
        client.drop_collection(store.collection)
        store.close()
        print(f"  milvus {size:,} done", flush=True)
        del data
        idle_rss = rss_mib(pid)
    lines.append("")
    lines += [f"- {note}" for note in notes]
    lines.append("")


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))


def main() -> None:
    from tests.milvus_server import running_milvus

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    lines = [
        f"Measured {machine()}.",
        "",
        "The synthetic 384-d vectors of the FAISS scale table (clustered around 2,000 centres), 200 held-out "
        "queries one at a time, recall@10 against exact search. Milvus 2.3.5 standalone on the same machine "
        "(loopback gRPC), loaded through Footnote's MilvusStore in 2,000-row upserts; `load s` is the upload, "
        "`index s` the wait after it until HNSW (M 16, efConstruction 200) covers every row. Milvus memory is "
        "the server's growth in RSS over its idle size; a replica on Milvus keeps only the sorted chunk keys.",
        "",
    ]
    with tempfile.TemporaryDirectory() as scratch, running_milvus(Path(scratch)) as uri:
        figures(uri, sizes, lines)
    text = "\n".join(lines)
    print(text)
    write_section(args.out, "milvus", text)


if __name__ == "__main__":
    main()
