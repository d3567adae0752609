#!/bin/sh
# Installs Footnote into a virtual environment, exactly as the Docker image does (tests run it too).
#   docker/install.sh VENV PROJECT_DIR
# torch goes first, pinned: from TORCH_INDEX_URL when set (the CPU-only wheel index in the Dockerfile),
# otherwise from pip's configured sources. Any other spelling pulls a multi-GB CUDA build.
set -eu
venv="$1"
project="$2"
python3 -m venv "$venv"
if [ -n "${TORCH_INDEX_URL:-}" ]; then
    "$venv/bin/pip" install --index-url "$TORCH_INDEX_URL" torch==2.13.0
else
    "$venv/bin/pip" install torch==2.13.0
fi
"$venv/bin/pip" install "$project"
