# Two commands do all set-up on a fresh machine: `make run` and `make test`.
# Both create .venv on first use and reinstall only when pyproject.toml or constraints.txt change.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export SEGMENTATION_WAREHOUSE_PATH ?= $(CURDIR)/data/warehouse.duckdb

.PHONY: run test lint typecheck unit ui bench lock clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) on PATH (or PYTHON=/path/to/python3.11)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	@cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## run: the main job end to end on the embedded default (synthetic EBQ data -> data/warehouse.duckdb)
run: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/segmentation run

## test: lint, type checks and the whole test suite
test: lint unit

lint: $(STAMP)
	$(BIN)/ruff check segmentation_assets segmentation_assets_tests benchmarks
	$(BIN)/ruff format --check segmentation_assets segmentation_assets_tests benchmarks
	$(BIN)/mypy

unit: $(STAMP)
	@# In CI, install Chromium for the browser test (best effort: without it that test skips).
	@if [ -n "$$CI" ]; then $(MAKE) --no-print-directory browser-deps || echo "chromium unavailable: the browser test will skip"; fi
	$(BIN)/pytest

## ui: the Dagster UI on http://127.0.0.1:3000 with this repository's dagster.yaml
ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## bench: scale runs with recorded results (see benchmarks/README.md)
bench: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m benchmarks.run_benchmark $(BENCH_ARGS)

## lock: re-resolve the pinned set (needs network to the package index)
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt.new
	@mv constraints.txt.new constraints.txt

clean:
	rm -rf data/*.duckdb data/*.duckdb.wal data/reports data/synthetic .dagster_home

## docs: the documentation site, built strictly into site/ (reference pages are generated from the code)
.PHONY: docs
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

## browser-deps: headless Chromium for the UI screenshot test (Debian package; installs only if missing, needs root)
.PHONY: browser-deps
browser-deps:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

## test-orchestration: the nightly/backfill/freshness/crash/UI tests alone (starts dagster dev and Chromium)
.PHONY: test-orchestration
test-orchestration: $(STAMP)
	$(BIN)/pytest segmentation_assets_tests/orchestration
