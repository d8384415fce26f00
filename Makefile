# The two commands of the README: `make dev` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Reinstall whenever pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# Two xdist workers, one test file per worker at a time (module fixtures such
# as the e2e stack stay in one process).
PYTEST ?= $(BIN)/pytest -n 2 --dist loadfile -p no:cacheprovider

.PHONY: dev test install lint format test-sqlite test-postgres bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

dev: install
	$(BIN)/guichet dev

test: install lint test-sqlite test-postgres

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Every test on the embedded default (SQLite). The browser tests run after
# the others, alone: Chromium beside them starves their seconds-ahead timers.
test-sqlite: install
	env -u GUICHET_TEST_DATABASE_URL $(PYTEST) -m "not browser"
	env -u GUICHET_TEST_DATABASE_URL $(BIN)/pytest -p no:cacheprovider -m browser

# Every database test again on PostgreSQL.
test-postgres: install
	GUICHET_TEST_DATABASE_URL=$(PG_TEST_URL) $(PYTEST) -m "db and not browser"
	GUICHET_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -p no:cacheprovider -m "db and browser"

# Benchmarks against PostgreSQL (GUICHET_BENCH_DATABASE_URL, default the test
# database's server); load comes from wrk, installed from Debian if missing.
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) .guichet .pytest_cache .ruff_cache
