# Two entry points: `make run` serves the site on SQLite, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install install-dev translations setup chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(MAKE) --no-print-directory translations

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(MAKE) --no-print-directory translations

translations:
	@if [ -d survey/translations ]; then $(BIN)/pybabel compile -d survey/translations >/dev/null; fi

setup: install
	$(FLASK) init-site

run: setup
	$(FLASK) run --host $(HOST) --port $(PORT)

chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

test: install-dev chromium
	OPENBLAS_NUM_THREADS=1 $(BIN)/pytest
