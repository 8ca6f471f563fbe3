# The single entry points, used by the README and by .ci/run alike.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
CLIENTS_STAMP := $(VENV)/.clients-stamp
JS_DIR := tests/clients/js
JS_STAMP := $(JS_DIR)/node_modules/.package-lock.json
PYTEST_WORKERS ?= auto
# A default (native) llama.cpp build crashes on these machines in its AMX matrix code: build
# llama-cpp-python for AVX2 instead. pip caches the wheel; an installed one is never rebuilt.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: install install-clients system-deps bytecode run test test-clients check lint bench fuzz clean

install: $(STAMP) system-deps

# bubblewrap for the tool sandbox: installed when run as root on Debian/Ubuntu, else named.
system-deps:
	@scripts/system-deps.sh

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet -e '.[dev,local]'
	@$(MAKE) --no-print-directory bytecode
	@touch $(STAMP)

# The client libraries of the compatibility suite: the `clients` extra in the venv, and the
# Vercel AI SDK exactly as tests/clients/js/package-lock.json pins it (npm ci, into node_modules).
install-clients: $(CLIENTS_STAMP) $(JS_STAMP)

$(CLIENTS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[clients]'
	@touch $@

$(JS_STAMP): $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	cd $(JS_DIR) && npm ci --no-audit --no-fund
	@touch $@

# An editable install has no bytecode of its own, and this machine sets PYTHONDONTWRITEBYTECODE:
# without this every start compiles hermes from source (~100 ms), unlike a wheel install.
bytecode:
	@$(PY) -m compileall -q hermes

# The main job: the supervisor in the foreground, one gateway per enabled profile (Ctrl-C stops).
run: install
	@scripts/run.sh

test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) -q

# Other people's clients (OpenAI Agents SDK, pydantic-ai, Vercel AI SDK) against real gateways.
test-clients: install install-clients
	$(PY) -m pytest -n $(PYTEST_WORKERS) -q tests/clients

# mypy checks tests/clients too, against the clients' own type hints.
lint: install $(CLIENTS_STAMP)
	$(VENV)/bin/ruff check hermes tests scripts
	$(VENV)/bin/ruff format --check hermes tests scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

check: lint test test-clients

# Schemathesis against a real gateway, longer than the bounded run in `make test`, new seed each time.
FUZZ_EXAMPLES ?= 300
fuzz: install
	$(PY) -m pytest -q -p no:xdist tests/e2e/test_openapi_fuzz.py \
		--fuzz-examples $(FUZZ_EXAMPLES) --fuzz-seed random --timeout 3600

bench: install bytecode
	$(PY) scripts/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info $(JS_DIR)/node_modules
