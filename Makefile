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
	$(BIN)/uv pip install --python $(BIN)/python -q --compile-bytecode -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $(STAMP)

# Bytecode is written here, once, rather than left to each process: where PYTHONDONTWRITEBYTECODE
# is set (this project's CI machines) nothing else writes it, and every `riskscore` command, server
# worker and test subprocess would compile numpy, msgspec and riskscore from source again: 0.35 s
# of a 10,000-row `riskscore rescore --from-feature-store` that takes 0.7 s (docs/rescoring.md).
# compileall only rewrites what changed since; the editable package is compiled on every make.
install: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 src

run: install
	$(BIN)/riskscore up --port $(PORT) --model-port $(MODEL_PORT)

lint: install
	$(BIN)/ruff check src tests bench

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider

# riskscore against its peers in one run on 127.0.0.1 (docs/benchmarks.md); BENCH_ARGS="e2e --quick" for one part.
bench: install
	$(BIN)/uv pip install --python $(BIN)/python -q --compile-bytecode -c constraints.txt -e ".[$(EXTRAS),bench]"
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; } \
	      || echo "bench: wrk could not be installed; using the asyncio load generator"; \
	  else echo "bench: wrk missing (not root, or no apt-get); using the asyncio load generator"; fi; }
	$(BIN)/python -c "from bench.peers.mlflow_peer import ensure_venv; ensure_venv()"
	$(BIN)/python -m bench $(BENCH_ARGS)

# Refresh the pinned constraints after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/uv pip freeze --python $(BIN)/python --exclude-editable | grep -v '^riskscore' > constraints.txt

clean:
	rm -rf $(VENV) .riskscore .mypy_cache .ruff_cache .pytest_cache
