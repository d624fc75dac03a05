# Two commands for a fresh Linux machine with Python 3.10+ (see README):
#   make demo   - create .venv when missing, install, train + explain + write the HTML report
#   make test   - create .venv when missing, install, run the whole test suite (incl. the course)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xai-lab-installed
OUT ?= xai-lab-output
PYTEST_ARGS ?=
# What `make test-offline` runs: the course, and the tests that read data without naming a
# folder (tests/conftest.py already forbids downloads and isolates the cache for every test, so
# the rest of tests/ behaves the same with or without XAI_LAB_DATA_DIR; the real-data tests
# would only skip). `make test-offline OFFLINE_TESTS="tests notebooks"` runs everything offline.
OFFLINE_TESTS ?= notebooks tests/data tests/unit/test_app_explorer.py

.PHONY: setup demo test test-offline lint lab clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/xai-lab demo --out $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check xai_lab tests benchmarks reports tools datasets

test: $(STAMP) lint
	XAI_LAB_FAST=1 $(BIN)/python -m pytest tests notebooks --nbval-lax \
		--nbval-sanitize-with notebooks/nbval_sanitize.cfg $(PYTEST_ARGS)

# A fresh machine with no data folder and no network, as a contributor behind a firewall has:
# XAI_LAB_DATA_DIR unset, downloads forbidden, an empty cache; the course runs on the built-in
# phantoms. CI (.ci/run) runs it after `make test`.
test-offline: $(STAMP)
	@cache="$$(mktemp -d)"; trap 'rm -rf "$$cache"' EXIT; \
	env -u XAI_LAB_DATA_DIR XAI_LAB_OFFLINE=1 XAI_LAB_CACHE_DIR="$$cache" XAI_LAB_FAST=1 \
		$(BIN)/python -m pytest $(OFFLINE_TESTS) --nbval-lax \
		--nbval-sanitize-with notebooks/nbval_sanitize.cfg $(PYTEST_ARGS)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) $(OUT) test-output .pytest_cache
