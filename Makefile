# reelhouse: `make demo` runs the pipeline end to end, `make test` installs and runs the tests.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install lock jars browser postgres compose demo test test-unit lint bench bench-dbt bench-ml bench-recommend movielens clean kafka-stop stop

# pip itself from its own hashed lock first: the venv's pip (23.x) refuses the main lock's extras
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-pip.lock

# every Python package from requirements.lock, each checked against its pinned hashes; then
# reelhouse itself, with nothing more fetched (its build uses the locked setuptools)
$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# after changing a pin in pyproject.toml: lock every dependency again, with hashes (uv resolves)
lock: | $(BIN)/python
	$(BIN)/pip install --quiet uv
	echo "setuptools>=68" | $(BIN)/uv pip compile pyproject.toml - --extra dev --generate-hashes --no-header \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu -o requirements.lock
	echo "pip==$$($(BIN)/pip --version | cut -d' ' -f2)" | $(BIN)/uv pip compile - --generate-hashes --no-header \
		--python-version 3.11 -o requirements-pip.lock

install: $(STAMP)

jars: install
	$(BIN)/reelhouse jars

# Debian's Chromium for the dashboard's browser tests (Playwright drives it; no browser download)
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y --no-install-recommends chromium)

# Debian's PostgreSQL for the metastore's shared-use database (REELHOUSE_METASTORE_DATABASE=postgres);
# reelhouse starts its own server under the home, so the package's own cluster is not needed
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends postgresql)

# Docker Compose for tests/docker, which read docker/compose.yaml with `compose config` (no Docker
# engine needed). Unless a v2+ client is there, it is built from its Go module (needs Go >= 1.26.3):
# `go install ...@version` refuses that module, whose go.mod has exclude directives.
COMPOSE_MODULE  := github.com/docker/compose/v5
COMPOSE_VERSION := v5.5.1
compose:
	@version=$$(docker compose version --short 2>/dev/null || docker-compose version --short 2>/dev/null); \
	case "$$version" in ""|1.*|v1.*) ;; *) exit 0;; esac; \
	command -v go >/dev/null || { echo "make compose: building Docker Compose needs Go >= 1.26.3" >&2; exit 1; }; \
	export GOTOOLCHAIN=local CGO_ENABLED=0; \
	go mod download $(COMPOSE_MODULE)@$(COMPOSE_VERSION) \
	&& cd "$$(go env GOMODCACHE)/$(COMPOSE_MODULE)@$(COMPOSE_VERSION)" \
	&& go build -trimpath -ldflags "-w -X $(COMPOSE_MODULE)/internal.Version=$(COMPOSE_VERSION)" \
		-o /usr/local/bin/docker-compose ./cmd

demo: jars
	$(BIN)/reelhouse demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/sqlfluff lint lakehouse_models/models

test: jars browser postgres compose lint
	REELHOUSE_FAULTS_REPORT=build/faults.json bash scripts/run-pytest.sh $(BIN)/python -m pytest --durations=30
	$(BIN)/python scripts/faults_table.py build/faults.json

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

# the recommenders judged on the next view, on the demo's gold data and on MovieLens 100K
bench-recommend: jars movielens
	$(BIN)/reelhouse bench recommend --interactions $(MOVIELENS)

kafka-stop: install
	$(BIN)/reelhouse kafka stop

# stop the services `make demo` leaves running (the recommendations API, the live recommender,
# the dashboard, the SQL endpoint, Kafka, the metastore)
stop: install
	$(BIN)/reelhouse api stop
	$(BIN)/reelhouse live-recommender stop
	$(BIN)/reelhouse dashboard stop
	$(BIN)/reelhouse serve stop
	$(BIN)/reelhouse kafka stop
	$(BIN)/reelhouse metastore stop

clean:
	-$(BIN)/reelhouse api stop
	-$(BIN)/reelhouse live-recommender stop
	-$(BIN)/reelhouse dashboard stop
	-$(BIN)/reelhouse serve stop
	-$(BIN)/reelhouse kafka stop
	-$(BIN)/reelhouse metastore stop
	rm -rf lakehouse bench/*.json .pytest_cache
