# riskscore: `make run` and `make test` work from a fresh clone with only Python 3.11+ installed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev,snowflake
PORT ?= 8000
MODEL_PORT ?= 5000

.PHONY: install run test lint typecheck unit bench clean lock

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv>=0.4"
	$(BIN)/uv pip install --python $(BIN)/python -q -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/riskscore up --port $(PORT) --model-port $(MODEL_PORT)

lint: install
	$(BIN)/ruff check src tests bench

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install
	$(BIN)/uv pip install --python $(BIN)/python -q -c constraints.txt -e ".[$(EXTRAS),bench]"
	$(BIN)/python -m bench

# Refresh the pinned constraints after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/uv pip freeze --python $(BIN)/python --exclude-editable | grep -v '^riskscore' > constraints.txt

clean:
	rm -rf $(VENV) .riskscore .mypy_cache .ruff_cache .pytest_cache
