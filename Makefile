# carrier_opt — the two set-up commands are `make demo` and `make test`.
# Both create .venv with the first Python >= 3.11 found and install the project into it.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CARRIER_OPT_HOME ?= $(CURDIR)/.carrier_opt
UI_DAGSTER_HOME ?= $(CARRIER_OPT_HOME)/dagster_home
HOST ?= 127.0.0.1
PORT ?= 3000
REPORTS_PORT ?= 3001
# The addresses `make ui` serves, for the links the runs write: a mail's run link
# (CARRIER_OPT_DAGSTER_URL) and a report's link in the UI (CARRIER_OPT_REPORTS_URL, the reports
# folder served beside the UI). Exported to `make demo` and `make ui` only, from the HOST, PORT
# and REPORTS_PORT they are given; behind a proxy give the URLs themselves, e.g.
# `make ui CARRIER_OPT_DAGSTER_URL=https://dagster.example.com`.
UI_URL = http://$(HOST):$(PORT)
REPORTS_URL = http://$(HOST):$(REPORTS_PORT)
demo ui: export CARRIER_OPT_DAGSTER_URL = $(UI_URL)
demo ui: export CARRIER_OPT_REPORTS_URL = $(REPORTS_URL)

.PHONY: install test test-fast test-reliability test-clock lint format demo ui ui-check ui-screenshots ddl clean clean-jit

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (set PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev,mssql]"
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# On every core (pytest-xdist): each worker has its own PostgreSQL database, DAGSTER_HOME and
# CARRIER_OPT_HOME, servers take free ports from the OS, and the end-to-end tests are handed
# out first, one at a time, so that they run beside the rest rather than after it, and not all
# on one worker (carrier_opt_tests/conftest.py).
# Two workers per core: with one per core the cores stood idle half the time (2 workers on 2
# cores: 662 s of CPU in 666 s of wall), the tests waiting on daemons, run processes, servers
# and the database; with four, 568 s (docs/benchmarks.md, "The test suite").
# `make test TEST_WORKERS=0` runs it in one process, as before.
TEST_WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))
test: lint
	$(BIN)/pytest --durations=15 -n $(TEST_WORKERS) --dist load --maxschedchunk 1

# The quick lane while editing: no Dagster end-to-end runs, real processes or optimizer
# time limits (the `slow` marker, carrier_opt_tests/conftest.py), SQLite only.
# `make test` runs everything, on both databases.
test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow" -k "not postgresql" -q -n auto

# The fault suite alone (crashes, faults, bad input, secrets; docs/reliability.md).
test-reliability: $(STAMP)
	$(BIN)/pytest -m reliability

# The whole suite on another day and in another zone: the last day of a month, near midnight,
# in Auckland (needs Debian's faketime; docs/reliability.md). The UI end-to-end test starts
# its daemon and webserver without libfaketime (it stalls the daemon's loops) and moves their
# clocks itself (CARRIER_OPT_CLOCK_SHIFT).
test-clock: $(STAMP)
	@command -v faketime >/dev/null || { echo "needs faketime: apt-get install faketime" >&2; exit 1; }
	TZ=Pacific/Auckland faketime -f '@2027-02-28 22:30:00' $(BIN)/pytest -p no:cacheprovider

demo: $(STAMP)
	@mkdir -p "$(UI_DAGSTER_HOME)"
	@test -f "$(UI_DAGSTER_HOME)/dagster.yaml" || cp dagster.yaml "$(UI_DAGSTER_HOME)/dagster.yaml"
	DAGSTER_HOME="$(UI_DAGSTER_HOME)" $(BIN)/carrier-opt demo

# Against a running `make ui` (after `make demo`): a partition run, a backfill of two past
# periods and the sensor, launched through Dagster's GraphQL API as the UI does; waits for them.
ui-check: $(STAMP)
	$(BIN)/python -m carrier_opt_tests.ui.check --port $(PORT)

# Screenshots of the UI after the demo, by Debian's headless chromium (apt-get install chromium),
# into docs/screenshots/ (the README shows them). Starts its own demo + UI on free ports.
ui-screenshots: $(STAMP)
	@command -v chromium >/dev/null || { echo "needs chromium: apt-get install chromium" >&2; exit 1; }
	$(BIN)/pip install --quiet -e ".[screenshots]"
	$(BIN)/python -m carrier_opt_tests.ui.screenshots

ui: $(STAMP)
	@mkdir -p "$(UI_DAGSTER_HOME)"
	@test -f "$(UI_DAGSTER_HOME)/dagster.yaml" || cp dagster.yaml "$(UI_DAGSTER_HOME)/dagster.yaml"
	@echo "Dagster UI on $(UI_URL) (DAGSTER_HOME=$(UI_DAGSTER_HOME)); Ctrl-C stops all."
	@export DAGSTER_HOME="$(UI_DAGSTER_HOME)"; trap 'kill 0' INT TERM EXIT; \
	reports="$${CARRIER_OPT_REPORTS_FOLDER:-$(CARRIER_OPT_HOME)/reports}"; mkdir -p "$$reports"; \
	echo "reports folder served on $(REPORTS_URL)/ (the UI links the workbooks)"; \
	$(BIN)/python -m http.server $(REPORTS_PORT) --bind $(HOST) --directory "$$reports" \
	  >/dev/null 2>&1 & \
	if [ -f "$(CARRIER_OPT_HOME)/demo.env" ]; then \
	  echo "demo carriers on (make demo ran): credentials from $(CARRIER_OPT_HOME)/demo.env"; \
	  set -a; . "$(CARRIER_OPT_HOME)/demo.env"; set +a; \
	  $(BIN)/carrier-opt demo-carriers & \
	fi; \
	$(BIN)/dagster-daemon run -w workspace.yaml & \
	$(BIN)/dagster-webserver -h $(HOST) -p $(PORT) -w workspace.yaml

# Regenerate the committed DDL in sql/ after a new migration.
ddl: $(STAMP)
	for d in mssql postgresql sqlite; do $(BIN)/carrier-opt db ddl --dialect $$d > sql/$$d.sql; done

# numba caches each kernel keyed by its own file: after editing a helper that kernels of other
# modules inline (local_search.sim_load, pool_charge), their cached copies are stale.
clean-jit:
	find carrier_opt -name '*.nbi' -delete -o -name '*.nbc' -delete

clean: clean-jit
	rm -rf $(VENV) .pytest_cache .ruff_cache
