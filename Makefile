# reelhouse: `make demo` runs the pipeline end to end, `make test` installs and runs the tests.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install jars demo test test-unit lint bench clean kafka-stop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

jars: install
	$(BIN)/reelhouse jars

demo: jars
	$(BIN)/reelhouse demo

lint: install
	$(BIN)/ruff check .

test: jars lint
	bash scripts/run-pytest.sh $(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest -m "not integration"

bench: jars
	$(BIN)/reelhouse bench ingest

kafka-stop: install
	$(BIN)/reelhouse kafka stop

clean:
	-$(BIN)/reelhouse kafka stop
	rm -rf lakehouse bench/*.json .pytest_cache
