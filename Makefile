# Two commands on a fresh machine:  make run  (server on SQLite with demo data)  and  make test  (all tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export FLASK_APP := wsgi.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: $(BIN)/python requirements.txt
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

.PHONY: setup run run-prod test test-postgres lint benchmark
setup: $(VENV)/.runtime
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo

run: setup
	$(BIN)/flask serve --host 127.0.0.1 --port $${PORT:-5000}

# Production: gunicorn ($$WEB_WORKERS workers) + exactly one scheduler process against $$DATABASE_URL (PostgreSQL),
# APP_CONFIG=config.ProductionConfig; needs SECRET_KEY (32+ characters). See README "Operations".
run-prod: $(VENV)/.runtime
	scripts/run-prod.sh

lint: $(VENV)/.dev
	$(BIN)/ruff check .

test: $(VENV)/.dev lint
	scripts/install-chromium.sh
	scripts/install-test-deps.sh
	$(BIN)/python -m pytest

test-postgres: $(VENV)/.dev
	scripts/install-chromium.sh
	scripts/install-test-deps.sh
	TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest

benchmark: $(VENV)/.dev
	$(BIN)/python benchmarks/journey_http.py
