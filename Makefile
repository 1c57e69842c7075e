# Everything a new user needs: `make demo` and `make test` create .venv and install into it first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lepton-installed
# Two workers on a two-core machine; each test process pins torch to one thread (tests/conftest.py).
PYTEST_WORKERS ?= 2

.PHONY: install demo test test-slow test-all bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: its CPU wheel; anything looser would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/lepton compile demo

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q -m slow

test-all: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q -m 'slow or not slow'

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) lepton-out .pytest_cache
