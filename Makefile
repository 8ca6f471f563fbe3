# The single entry points, used by the README and by .ci/run alike.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= auto

.PHONY: install bytecode run test check lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@$(MAKE) --no-print-directory bytecode
	@touch $(STAMP)

# An editable install has no bytecode of its own, and this machine sets PYTHONDONTWRITEBYTECODE:
# without this every start compiles hermes from source (~100 ms), unlike a wheel install.
bytecode:
	@$(PY) -m compileall -q hermes

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

bench: install bytecode
	$(PY) scripts/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
