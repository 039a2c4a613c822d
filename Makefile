# nhandao: two commands on a fresh clone (Python 3.11, make and a C toolchain):
#   make demo   the whole pipeline on one real province, through the real Airflow DAGs
#   make test   the whole test suite (a real Postgres, real dbt, real DAG runs)
#   make test-fast   the tests that need no dbt build and no Airflow (a few minutes)
#   make docs   the documentation site (docs/, mkdocs-material) into site/, offline

PYTHON ?= python3.11
UV_VERSION := 0.13.9
STATE := .nhandao
UV := $(STATE)/uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
MANIFEST := dbt_project/target/manifest.json

.PHONY: demo test test-fast lint format bench bench-ingest bench-national bench-scheduled docs clean env

env: $(BIN)/nhandao $(MANIFEST)

$(UV):
	$(PYTHON) -m venv $(STATE)/uv
	$(STATE)/uv/bin/pip install --quiet uv==$(UV_VERSION)

$(BIN)/nhandao: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --group docs --python $(PYTHON)
	@touch $@

$(MANIFEST): $(BIN)/nhandao dbt_project/dbt_project.yml $(shell find dbt_project/models dbt_project/macros -type f 2>/dev/null)
	$(BIN)/nhandao dbt-parse

demo: env
	$(BIN)/nhandao demo --province 48 --years 2019-2024 --seed 1

# the whole suite, then its slowest tests (where the 20 minutes go)
test: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest --durations=25

# no dbt build, no Airflow: the loader, access, query, reference data, docs (markers: pyproject.toml)
test-fast: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -m "not dbt and not airflow and not slow" --durations=10

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: env
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# the benchmarks, one after the other, figures merged into bench/results.json (about 40 minutes
# on 2 cores, most of it the national build; see bench/README.md)
bench: bench-ingest bench-national bench-scheduled

bench-ingest: env
	$(BIN)/python bench/ingest.py

# one district file, landing to published: through the real scheduler and called directly
bench-scheduled: env
	$(BIN)/python bench/scheduled.py

bench-national: env
	$(BIN)/python bench/national.py

# the documentation site: docs/*.md by mkdocs.yml into site/ (open site/index.html, no server);
# NO_MKDOCS_2_WARNING quiets material's end-of-life banner (see docs/development.md)
docs: env
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) $(STATE) dbt_project/target dbt_project/logs site
