# reelhouse: `make demo` runs the pipeline end to end, `make test` installs and runs the tests.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install jars browser demo test test-unit lint bench bench-dbt bench-ml movielens clean kafka-stop stop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

jars: install
	$(BIN)/reelhouse jars

# Debian's Chromium for the dashboard's browser tests (Playwright drives it; no browser download)
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y --no-install-recommends chromium)

demo: jars
	$(BIN)/reelhouse demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/sqlfluff lint lakehouse_models/models

test: jars browser lint
	bash scripts/run-pytest.sh $(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest -m "not integration"

bench: jars
	$(BIN)/reelhouse bench ingest

bench-dbt: jars
	$(BIN)/reelhouse bench dbt

MOVIELENS := data/movielens-100k/interactions.csv

movielens: install
	$(BIN)/python scripts/fetch_movielens.py $(MOVIELENS)

# on the demo's gold data (run `make demo` first) and on MovieLens 100K
bench-ml: jars movielens
	$(BIN)/reelhouse bench ml --interactions $(MOVIELENS)

kafka-stop: install
	$(BIN)/reelhouse kafka stop

# stop the services `make demo` leaves running (the dashboard, the SQL endpoint, Kafka, the metastore)
stop: install
	$(BIN)/reelhouse dashboard stop
	$(BIN)/reelhouse serve stop
	$(BIN)/reelhouse kafka stop
	$(BIN)/reelhouse metastore stop

clean:
	-$(BIN)/reelhouse dashboard stop
	-$(BIN)/reelhouse serve stop
	-$(BIN)/reelhouse kafka stop
	-$(BIN)/reelhouse metastore stop
	rm -rf lakehouse bench/*.json .pytest_cache
