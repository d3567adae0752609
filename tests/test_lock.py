"""Reproducible installs: the lock files pin every package with hashes, agree with pyproject.toml, and are
what `make install` and the image's install script use (the install itself is proven by `make install`
on a fresh clone; see docs/dependencies.md)."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def pins(name: str) -> dict[str, tuple[str, list[str]]]:
    """Each package of a lock file: its exact version and its hashes."""
    text = (ROOT / name).read_text(encoding="utf-8")
    found = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        first = block.splitlines()[0]
        if first.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s\\]+) \\", first)
        assert match, f"{name}: not an exact pin: {first}"
        found[canonicalize_name(match[1])] = (match[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return found


RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
DEV = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]]


@pytest.mark.parametrize(
    ("lock", "wanted"), [("requirements.lock", RUNTIME), ("requirements-dev.lock", RUNTIME + DEV)]
)
def test_every_dependency_is_pinned_with_hashes_within_its_bounds(
    lock: str, wanted: list[Requirement]
) -> None:
    pinned = pins(lock)
    assert all(hashes for _, hashes in pinned.values()), "every package has at least one sha256"
    for requirement in wanted:
        version, _ = pinned[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement} vs {version}"
    cuda = [name for name in pinned if name == "torch" or name.startswith(("nvidia-", "cuda-", "triton"))]
    assert cuda == [], "torch is installed on its own, as the CPU build: no CUDA packages in the locks"


def test_the_two_locks_agree() -> None:
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert {name: dev[name][0] for name in runtime} == {
        name: version for name, (version, _) in runtime.items()
    }


def test_every_dependency_has_an_upper_bound() -> None:
    for requirement in RUNTIME + DEV:
        operators = {spec.operator for spec in requirement.specifier}
        assert operators & {"<", "<=", "==", "~="}, f"{requirement} has no upper bound"


def test_make_and_the_image_install_exactly_the_locks_with_hashes() -> None:
    """One install script for the image and the Makefile: hashes, no resolution, then `pip check`."""
    script = (ROOT / "docker" / "install.sh").read_text(encoding="utf-8")
    installs = [line for line in script.splitlines() if "$pip install" in line]
    assert len(installs) == 5 and all("--no-deps" in line for line in installs), "nothing is resolved"
    assert all("--require-hashes" in line for line in installs if " -r " in line)
    assert '-r "$project/requirements-torch.lock"' in script and '-r "$project/$lock"' in script
    assert script.rstrip().endswith("$pip check")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "sh docker/install.sh $(VENV) . requirements.lock editable" in makefile
    assert "sh docker/install.sh $(VENV) . requirements-dev.lock editable" in makefile
    assert "run: $(RUNTIME)\n" in makefile, "make run installs the runtime lock only"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "requirements-torch.lock" in dockerfile and "sh docker/install.sh /opt/venv /src" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert {"!requirements.lock", "!requirements-torch.lock"} <= set(ignored), "the context has the locks"
    assert "uv pip compile" in makefile and (ROOT / "docs" / "dependencies.md").is_file()


def test_torch_is_the_cpu_build_pinned_by_hash() -> None:
    [(name, (version, hashes))] = pins("requirements-torch.lock").items()
    assert (name, version, len(hashes)) == ("torch", "2.13.0+cpu", 1)
    assert (ROOT / "requirements-torch.txt").read_text(encoding="utf-8").split() == ["torch==2.13.0+cpu"]
