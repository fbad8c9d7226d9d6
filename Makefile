# hashwatch: the two commands a new machine needs are `make demo` and `make test`.
# Every target creates the virtualenv and installs the project first (nothing by hand).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv demo test test-fast lint format bench clean

$(STAMP): setup.py hashwatch/hashing/_mih.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The whole suite, slow and Flink tests included, after lint. CI runs exactly this.
test: venv lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The quick inner loop: no slow suites, no Flink.
test-fast: venv
	$(BIN)/python -m pytest -m "not slow and not flink" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
