# Two commands: `make run` (set up and serve on the embedded default) and `make test` (set up and pass the tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The repository's var/ for development (absolute, so `realname` run from any folder finds it); without
# REALNAME_DATA_DIR the CLI uses ~/.local/share/realname (README, "Configuration").
DATA_DIR ?= var
export REALNAME_DATA_DIR ?= $(abspath $(DATA_DIR))

.PHONY: run test setup setup-test models lint typecheck imports pytest bench fuzz clean

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

# Every benchmark (about 10 minutes; the face ones need ../shared/data). Figures: benchmarks/README.md.
bench: setup-test models
	$(BIN)/python benchmarks/id_check_batch.py
	$(BIN)/python benchmarks/liveness_bench.py
	$(BIN)/python benchmarks/face_speed.py
	$(BIN)/python benchmarks/face_accuracy.py

# Coverage-guided fuzzing of the image decoder, the clip decoder and the document parser (about a minute).
fuzz: setup-test
	$(BIN)/pip install --quiet -e '.[test,fuzz]'
	$(BIN)/python tests/fuzz/atheris_fuzz.py image -runs=500000
	$(BIN)/python tests/fuzz/atheris_fuzz.py clip -runs=20000
	$(BIN)/python tests/fuzz/atheris_fuzz.py document -runs=1000000

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis test-artifacts
