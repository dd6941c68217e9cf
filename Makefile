# Two commands: `make run` (set up and serve on the embedded default) and `make test` (set up and pass the tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= var
export REALNAME_DATA_DIR ?= $(DATA_DIR)

.PHONY: run test setup setup-test models lint typecheck imports pytest bench clean

run: setup models
	$(BIN)/realname init
	$(BIN)/realname serve

test: setup-test models lint typecheck imports pytest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

setup: $(VENV)/.installed

setup-test: $(VENV)/.installed-test

models: setup
	$(BIN)/realname models fetch --dest $(DATA_DIR)/models

lint:
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck:
	$(BIN)/mypy

imports:
	$(BIN)/lint-imports

pytest:
	REALNAME_MODELS_DIR=$(abspath $(DATA_DIR))/models $(BIN)/pytest

bench: setup-test models
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis test-artifacts
