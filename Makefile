# ocrq — the two quick-start commands are `make dev` and `make test`; each sets itself up.
PY     ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# A CPU build of torch; a looser pin may pull several GB of CUDA packages.
TORCH  ?= torch==2.13.0
# The gateway's port for `make dev` (8080 taken? `make dev PORT=8081`).
PORT   ?= 8080

.PHONY: setup system-deps test-deps dev test test-slow test-fast bench lint client clean

$(BIN)/ocrq: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e '.[dev,cpu,gpu,otel]'
	touch $@

system-deps:
	@scripts/install-system-deps.sh

test-deps:
	@scripts/install-system-deps.sh --test

setup: system-deps $(BIN)/ocrq

## Run the whole service on this machine (Redis, gateway, CPU worker, local store).
dev: setup
	$(BIN)/ocrq dev --port $(PORT)

## Run the tests (real redis-server, real S3 server, real worker processes, headless Chromium),
## all but the long ones marked slow: under 10 minutes on 2 cores.
test: setup test-deps
	$(BIN)/python -m pytest -q -rs -m "not slow"

## The long ones (a 90 s network cut, the 2,000-object backfill, failover under load, API fuzzing, ...).
## CI runs them after `make test`.
test-slow: setup test-deps
	$(BIN)/python -m pytest -q -rs -m slow

## The unit tests only (tests/unit: no gateway, no worker processes), about a minute.
test-fast: setup
	$(BIN)/python -m pytest -q -rs tests/unit

## ruff and mypy, as configured in pyproject.toml.
lint: setup
	$(BIN)/ruff check . && $(BIN)/mypy

## Regenerate the Python client's generated code (clients/python) from the gateway's /openapi.json, in process.
## tests/unit/test_client_generated.py fails while the committed client differs: run this after changing the API.
client: setup
	$(BIN)/python scripts/generate_client.py

bench: setup
	$(BIN)/python bench/overhead.py

clean:
	rm -rf $(VENV) var test-output .pytest_cache
