# The same commands CI runs. Every install goes through docker/install.sh, the image's own script: torch
# first (the CPU wheel, by hash, requirements-torch.lock), then exactly the packages of a hash-checked lock
# with --no-deps (nothing resolved against an index), then Footnote itself (editable), then `pip check`.
# `make run` installs what running needs (requirements.lock); `make test` and `make lint` add the test bench
# (requirements-dev.lock). `make lock` refreshes the lock files (docs/dependencies.md).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
LOCKS := pyproject.toml requirements-torch.lock requirements.lock
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: all install lock run test test-fast lint audit index bench bench-milvus clean

all: lint test

$(RUNTIME): $(LOCKS) docker/install.sh
	PYTHON=$(PYTHON) sh docker/install.sh $(VENV) . requirements.lock editable
	touch $(RUNTIME)

$(DEV): $(RUNTIME) requirements-dev.lock
	sh docker/install.sh $(VENV) . requirements-dev.lock editable
	touch $(DEV)

install: $(DEV)

# Resolve pyproject.toml's dependencies again into the two lock files, with every file's sha256. torch is
# resolved as the CPU build (requirements-torch.txt) but left out of the locks: it is installed on its own,
# first. TORCH_SOURCE says where the CPU wheel is found: a local folder here, elsewhere e.g.
# TORCH_SOURCE="--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match".
TORCH_SOURCE ?= --find-links /opt/wheels
LOCK_FLAGS = --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--override requirements-torch.txt --no-emit-package torch $(TORCH_SOURCE)
lock: install
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev -c requirements.lock $(LOCK_FLAGS) -o requirements-dev.lock

run: $(RUNTIME)
	$(BIN)/footnote run

# Known-vulnerability audit of the installed dependencies. Needs PyPI's JSON API (or OSV), which the
# development machines here cannot reach, so it is not part of `make lint`; --strict fails rather than
# pass on packages it could not check.
audit: install
	$(BIN)/pip-audit --strict --skip-editable

index: $(RUNTIME)
	$(BIN)/footnote index

# The whole suite (what CI runs) on both cores: two pytest-xdist workers, one test file at a time each, the
# Milvus files together on one worker, the docker venv build first (tests/conftest.py). A fresh-clone CI
# run on 2 cores: 6 min 21 s (673 tests, 2026-12-07; 5 min 56 s for 545 before). On a 2-core
# machine loaded by other jobs 8.5-12 minutes. The docker test's venv build (3-6 minutes of pip) is the
# longest single step.
test: install
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder

# The inner loop: no model but the six answer tests on the packaged MiniLM (marker fast_model), no Milvus,
# no venv build, no test of about a second or more, on both cores (pytest-xdist, work stealing): 547 tests
# in 50 s on a 2-core machine (2026-12-07; docs/development.md).
test-fast: install
	$(BIN)/pytest -q -n 2 --dist worksteal -m "not slow and not model and not milvus and not docker"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	FOOTNOTE_DOMAIN=bot.example.org $(BIN)/docker-compose -f compose.yaml config --quiet
	FOOTNOTE_DOMAIN=bot.example.org $(BIN)/docker-compose -f compose.scale.yaml config --quiet
	FOOTNOTE_DOMAIN=bot.example.org FOOTNOTE_REPLICAS="footnote-1:8443 footnote-2:8443" HOME=/tmp \
		$(BIN)/caddy validate --config docker/Caddyfile --adapter caddyfile

# Speed, memory and answer quality; rewrites BENCHMARKS.md (about 15 minutes on 2 cores).
bench: install
	$(BIN)/python -m benchmarks.perf
	$(BIN)/python -m benchmarks.quality
	$(BIN)/python -m benchmarks.hybrid
	$(BIN)/python -m benchmarks.reader
	$(BIN)/python -m benchmarks.languages
	$(BIN)/python -m benchmarks.watches

# Milvus beside FAISS at 100k and 1M passages (the real Milvus server; about 35 minutes on 2 cores).
bench-milvus: install
	$(BIN)/python -m benchmarks.milvus

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
