#!/bin/sh
# Installs Footnote into a virtual environment, exactly as the Docker image does (tests run it too).
#   docker/install.sh VENV PROJECT_DIR
# torch goes first, pinned: from TORCH_INDEX_URL when set (the CPU-only wheel index in the Dockerfile),
# otherwise from pip's configured sources. Any other spelling pulls a multi-GB CUDA build. Then every other
# package at the exact version and sha256 of requirements.lock, then Footnote itself with nothing more.
set -eu
venv="$1"
project="$2"
python3 -m venv "$venv"
if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "$venv/bin/pip" install --no-deps --index-url "$TORCH_INDEX_URL" torch==2.13.0
else
    "$venv/bin/pip" install --no-deps torch==2.13.0
fi
"$venv/bin/pip" install --require-hashes -r "$project/requirements.lock"
"$venv/bin/pip" install --no-deps --no-build-isolation "$project"
"$venv/bin/pip" check
