# pressrun — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: install, migrate, web server + task worker on $(HOST):$(PORT), then demo data
## (on a new database only; it prints the operator's random password once). The server
## records the address it serves on; the demo's banner (and every URL printed later, e.g. by
## `pressrun carturls`) uses it unless an operator saved another.
run: $(STAMP)
	$(BIN)/pressrun migrate --no-input
	@trap 'kill $$worker $$server 2>/dev/null' EXIT INT TERM; \
	$(BIN)/pressrun worker & worker=$$!; \
	$(BIN)/pressrun serve --host $(HOST) --port $(PORT) & server=$$!; \
	$(BIN)/python scripts/wait_for_server.py http://$(HOST):$(PORT) && $(BIN)/pressrun demo; \
	wait $$server

## make test: lint, types, migrations check, the suite on SQLite and on PostgreSQL
test: $(STAMP)
	$(BIN)/python scripts/run_tests.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

## make bench: throughput and latency against the running service (see docs/performance.md)
bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
