# Two commands for a fresh Linux machine with Python 3.10+ (see README):
#   make demo   - create .venv when missing, install, train + explain + write the HTML report
#   make test   - create .venv when missing, install, run the whole test suite (incl. the course)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.xai-lab-installed
OUT ?= xai-lab-output
PYTEST_ARGS ?=

.PHONY: setup demo test lint lab clean

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

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) $(OUT) test-output .pytest_cache
