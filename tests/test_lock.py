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


def test_make_and_the_image_install_from_the_locks_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "--no-deps torch==2.13.0" in recipe and "--require-hashes -r requirements-dev.lock" in recipe
    assert "--no-deps --no-build-isolation -e ." in recipe, "Footnote itself brings no unpinned package"
    script = (ROOT / "docker" / "install.sh").read_text(encoding="utf-8")
    assert (
        '--require-hashes -r "$project/requirements.lock"' in script and "--no-deps torch==2.13.0" in script
    )
    assert "requirements.lock" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "uv pip compile" in makefile and (ROOT / "docs" / "dependencies.md").is_file()
