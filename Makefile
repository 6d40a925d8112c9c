# Every target creates .venv and installs the project first if needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install demo dev test bench lint format clean

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required (set PYTHON=...)"'
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(INSTALLED)

install: $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/vault demo

dev: $(INSTALLED)
	$(BIN)/vault dev

# Test modules run on TEST_WORKERS processes, a module's tests together on one of them (they
# share its database and dbt build); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2

test: $(INSTALLED)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# The benchmarks (bench/README.md): each prints its figures and ratios; about an hour and a
# half on a 2-core machine, most of it building the 10,000,000-row warehouse, which
# mart_reads.py keeps for incremental.py to reuse and drop. BENCH_URL points them at another
# PostgreSQL server than the embedded one.
BENCH_ARGS := $(if $(BENCH_URL),--url $(BENCH_URL))

bench: $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/raw_load.py $(BENCH_ARGS)
	$(BIN)/python bench/collector_memory.py $(BENCH_ARGS)
	$(BIN)/python bench/backfill.py $(BENCH_ARGS)
	$(BIN)/python bench/mart_reads.py --keep $(BENCH_ARGS)
	$(BIN)/python bench/incremental.py $(BENCH_ARGS)
	$(BIN)/python bench/tracking.py $(BENCH_ARGS)
	$(BIN)/python bench/focus_import.py $(BENCH_ARGS)
	$(BIN)/python bench/hook_latency.py

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd dbt_project && ../$(BIN)/sqlfluff lint models macros tests

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	-$(BIN)/vault db stop
	rm -rf .vault dbt_project/target dbt_project/logs
