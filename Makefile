# Set-up and checks. `make test` is what CI runs (.ci/run) and what a newcomer runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INTEROP := tests/interop

.PHONY: setup interop demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,embedded]'
	touch $@

setup: $(VENV)/.installed

# Node.js BullMQ for the interop tests and the side-by-side benchmark, pinned by the lock file.
interop:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		cd $(INTEROP) && npm ci --no-audit --no-fund --loglevel=error; \
	else \
		echo "node/npm not found: the Node.js interop tests will be skipped"; \
	fi

# The board on demo queues that keep moving, with an embedded Redis (or REDIS_URL=...): make demo
demo: setup
	$(VENV)/bin/board demo $(if $(REDIS_URL),--redis-url $(REDIS_URL))

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: setup interop lint
	$(VENV)/bin/pytest -ra

bench: setup interop
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) $(INTEROP)/node_modules .mypy_cache .ruff_cache .pytest_cache
