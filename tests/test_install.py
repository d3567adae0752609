"""The install commands hold against upstream releases: the Makefile's targets and docker/install.sh, run as
they are, against a local package folder that holds the locked wheels plus a newer release of a package the
lock pins and another package requires *with an extra* (the lxml[html_clean] break of 2026-12-07).

The wheels are tiny ones made here, so the test needs no network and no index: pip is told to read only the
folder (PIP_NO_INDEX, PIP_FIND_LINKS) and no configuration file. The venv's pip is the one Python's own
`venv` brings, as on a new machine.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(
    folder: Path, name: str, version: str, *, requires: tuple[str, ...] = (), extra: str = ""
) -> Path:
    """Write a minimal, valid pure-Python wheel and return its path."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if extra:
        metadata.append(f"Provides-Extra: {extra}")
    metadata += [f"Requires-Dist: {r}" for r in requires]
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{dist_info}/METADATA": ("\n".join(metadata) + "\n").encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def lock_line(wheel: Path, pin: str) -> str:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return f"{pin} \\\n    --hash=sha256:{digest}\n"


# An in-tree build backend: the project builds with nothing installed (Footnote uses the locked setuptools).
BACKEND = """
import base64, hashlib, zipfile

INFO = "fn_project-0.1.dist-info"


def _wheel(directory, *_args, **_kwargs):
    files = {
        f"{INFO}/METADATA": b"Metadata-Version: 2.1\\nName: fn-project\\nVersion: 0.1\\n"
        b"Requires-Dist: fn-app\\n",
        f"{INFO}/WHEEL": b"Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{INFO}/RECORD"] = ("\\n".join([*record, f"{INFO}/RECORD,,"]) + "\\n").encode()
    name = "fn_project-0.1-py3-none-any.whl"
    with zipfile.ZipFile(f"{directory}/{name}", "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return name

build_wheel = build_editable = _wheel
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A tiny project laid out like Footnote: its Makefile and install script are Footnote's own."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    app = make_wheel(wheels, "fn-app", "1.0", requires=("fn-parser[clean]>=1.0",))
    parser = make_wheel(wheels, "fn-parser", "1.0", requires=('fn-clean; extra == "clean"',), extra="clean")
    make_wheel(wheels, "fn-parser", "2.0", requires=('fn-clean; extra == "clean"',), extra="clean")
    clean = make_wheel(wheels, "fn-clean", "1.0")
    tool = make_wheel(wheels, "fn-devtool", "1.0")
    torch = make_wheel(wheels, "torch", "2.13.0+cpu")
    root = tmp_path / "project"
    (root / "docker").mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", root / "Makefile")
    shutil.copy(ROOT / "docker" / "install.sh", root / "docker" / "install.sh")
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        '[project]\nname = "fn-project"\nversion = "0.1"\ndependencies = ["fn-app"]\n',
        encoding="utf-8",
    )
    (root / "backend.py").write_text(BACKEND, encoding="utf-8")
    runtime = (
        lock_line(app, "fn-app==1.0")
        + lock_line(parser, "fn-parser==1.0")
        + lock_line(clean, "fn-clean==1.0")
    )
    (root / "requirements.lock").write_text(runtime, encoding="utf-8")
    (root / "requirements-dev.lock").write_text(
        runtime + lock_line(tool, "fn-devtool==1.0"), encoding="utf-8"
    )
    (root / "requirements-torch.lock").write_text(lock_line(torch, "torch==2.13.0+cpu"), encoding="utf-8")
    return root


def offline_env(project: Path) -> dict[str, str]:
    """pip reads the local folder only: no index, no configuration file, no version check."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TORCH_", "VIRTUAL_ENV"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(project.parent / "wheels"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHON=_base_python(),
    )
    return env


def _base_python() -> str:
    """The interpreter the test venv was made from, so `python3 -m venv` brings the stock pip."""
    return str(Path(sys._base_executable))


def installed(venv: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("==", 1) for line in out.splitlines() if "==" in line)


def run(args: list[str], project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=project, env=offline_env(project), capture_output=True, text=True, timeout=600
    )


def test_make_installs_exactly_the_locks_though_a_newer_release_is_offered(project: Path) -> None:
    result = run(["make", ".venv/.installed-runtime"], project)
    assert result.returncode == 0, result.stderr
    packages = installed(project / ".venv")
    assert packages["fn-parser"] == "1.0", "the lock's version, not the newer release upstream"
    assert packages["torch"] == "2.13.0+cpu" and "fn-devtool" not in packages, (
        "make run: the runtime lock only"
    )

    result = run(["make", ".venv/.installed-dev"], project)
    assert result.returncode == 0, result.stderr
    packages = installed(project / ".venv")
    assert packages["fn-devtool"] == "1.0" and packages["fn-parser"] == "1.0"


def test_the_image_script_installs_the_runtime_lock(project: Path) -> None:
    venv = project / "image-venv"
    result = run(["sh", "docker/install.sh", str(venv), str(project)], project)
    assert result.returncode == 0, result.stderr
    packages = installed(venv)
    assert (
        packages["fn-parser"] == "1.0" and packages["fn-clean"] == "1.0" and packages["fn-project"] == "0.1"
    )


def test_a_wheel_whose_hash_does_not_match_stops_the_install_loudly(project: Path) -> None:
    lock = project / "requirements.lock"
    text = lock.read_text(encoding="utf-8")
    clean_hash = text.split("fn-clean==1.0 \\\n    --hash=sha256:")[1][:64]
    lock.write_text(text.replace(clean_hash, "0" * 64), encoding="utf-8")
    result = run(["sh", "docker/install.sh", str(project / "venv"), str(project)], project)
    assert result.returncode != 0
    assert "DO NOT MATCH THE HASHES" in result.stderr and "fn-clean" in result.stderr


def test_the_resolving_install_this_replaced_fails_here(project: Path) -> None:
    """The set-up reproduces the break: the old command (hashes, with resolution) refuses this folder."""
    venv = project / "old"
    subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True, timeout=300)
    result = run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--require-hashes", "-r", "requirements.lock"],
        project,
    )
    assert result.returncode != 0
    assert "must have their versions pinned with ==" in result.stderr
