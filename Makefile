# Two entry points: `make run` serves the site on SQLite, `make test` runs every test.
# Both install the exact versions in requirements/lock.txt (`make lock` refreshes it).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
LOCK := requirements/lock.txt

.PHONY: run test install install-dev lock translations setup chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -c $(LOCK) -e .
	$(MAKE) --no-print-directory translations

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -c $(LOCK) -e '.[dev,bench]'
	$(MAKE) --no-print-directory translations

lock: $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra dev --extra bench --strip-extras --no-annotate --upgrade -o $(LOCK) pyproject.toml

translations:
	@if [ -d survey/translations ]; then $(BIN)/pybabel compile -d survey/translations >/dev/null; fi

setup: install
	$(FLASK) init-site

run: setup
	$(FLASK) run --host $(HOST) --port $(PORT)

chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# Two processes (pytest-xdist, a test file each at a time), then the test that restarts PostgreSQL alone.
test: install-dev chromium
	OPENBLAS_NUM_THREADS=1 $(BIN)/pytest -n 2 --dist loadfile -m "not exclusive"
	OPENBLAS_NUM_THREADS=1 $(BIN)/pytest -m exclusive
