# challenge-kit: the two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-slow test-all lint format setup benchmarks notebooks clean

# Create the virtualenv if it is absent and install the project with its test extras.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# pycanon pins old numpy/pydantic releases: install it without its pins (kit.privacy
	# falls back to pandas without it; a test checks both agree).
	$(BIN)/python -m pip install --quiet --no-deps 'pycanon==1.3.6'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/kit demo

# The gate: ruff (lint and format) and mypy, configured in pyproject.toml. Zero findings.
lint: $(STAMP)
	$(BIN)/ruff check kit tests benchmarks scripts
	$(BIN)/ruff format --check kit tests benchmarks scripts
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format kit tests benchmarks scripts
	$(BIN)/ruff check --fix kit tests benchmarks scripts

# The suite without the tests marked slow (browsers, the Dask cluster, the hostile notebooks):
# about 3.5 minutes on an idle 2-core machine. `make test-slow` runs those; CI runs both.
test: lint
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

test-all: lint
	$(BIN)/python -m pytest

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/grading.py

notebooks: $(STAMP)
	$(BIN)/python scripts/make_notebooks.py

clean:
	rm -rf kit-work kit-demo .pytest_cache .mypy_cache .ruff_cache
