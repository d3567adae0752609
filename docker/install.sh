#!/bin/sh
# Installs Footnote into a virtual environment from the hash-checked locks, exactly: the Docker image and
# `make install` both run this script (tests run it too).
#   docker/install.sh VENV PROJECT_DIR [LOCK] [editable]
# LOCK is requirements.lock (the default: what running needs) or requirements-dev.lock (the test bench).
# Nothing is resolved against an index: every package comes at the version and sha256 its lock names, with
# --no-deps, so a newer release upstream can neither change nor break what is installed. `pip check` then
# proves that the lock is complete. torch goes first, from requirements-torch.lock (the CPU build, by hash):
# from TORCH_INDEX_URL when set (PyTorch's CPU wheel index in the Dockerfile), else pip's configured sources.
set -eu
venv="$1"
project="$2"
lock="${3:-requirements.lock}"
mode="${4:-}"
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
pip="$venv/bin/python -m pip"
if [ -n "${TORCH_INDEX_URL:-}" ]; then
    $pip install --quiet --no-deps --require-hashes --index-url "$TORCH_INDEX_URL" -r "$project/requirements-torch.lock"
else
    $pip install --quiet --no-deps --require-hashes -r "$project/requirements-torch.lock"
fi
$pip install --quiet --no-deps --require-hashes -r "$project/$lock"
if [ "$mode" = editable ]; then
    $pip install --quiet --no-deps --no-build-isolation -e "$project"
else
    $pip install --quiet --no-deps --no-build-isolation "$project"
fi
$pip check
