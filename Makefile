# The single entry points, used by the README and by .ci/run alike.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= auto

.PHONY: install run test check lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	$(VENV)/bin/hermes profile show default
	$(VENV)/bin/hermes profile list

test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) -q

lint: install
	$(VENV)/bin/ruff check hermes tests scripts
	$(VENV)/bin/ruff format --check hermes tests scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

check: lint test

bench: install
	$(PY) scripts/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
