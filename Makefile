# Two commands: `make run` serves the app on http://127.0.0.1:8501, `make test` runs the whole suite.
# Both set up what they need first (a .venv from the repo's own pinned files) and skip what is done.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt
HOST ?= 127.0.0.1
PORT ?= 8501
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run dev test test-fast check lint format bench setup setup-dev chromium clean-venv

run: $(VENV)/.app-installed
	$(PY) -m workbench prepare-defaults
	$(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT)

# For developers: reload the app when its source changes (watches app.py, pages/, ui/, workbench/ only).
dev: $(VENV)/.app-installed
	$(PY) -m workbench prepare-defaults
	$(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT) \
		--server.fileWatcherType auto --server.runOnSave true \
		$(foreach d,.venv .cache .git models runs adapters datasets exports cache,--server.folderWatchBlacklist $(d))

# Two pytest workers (pytest-xdist): much of the suite waits on processes it started (workers, the app server,
# Chromium), so two share 2 cores well, each with its share of the threads (tests/conftest.py): 12-15 min instead
# of 20 on 2 cores (README, Tests).
test: $(VENV)/.dev-installed $(CHROMIUM)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -n 2

# For quick iteration: everything but the browser journeys and the benchmark scripts (about half the time).
test-fast: $(VENV)/.dev-installed
	HF_HUB_OFFLINE=1 $(PY) -m pytest -n 2 -m "not e2e and not multiprocess" --ignore=tests/bench

# Formatting, lint and types, then the whole suite: what CI runs.
check: lint test

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.app-installed
	$(PY) bench/run_all.py

setup: $(VENV)/.app-installed
setup-dev: $(VENV)/.dev-installed

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip

$(VENV)/.app-installed: requirements.txt constraints.txt | $(PY)
	$(PIP) -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.app-installed
	$(PIP) -r requirements-dev.txt
	touch $@

# Browser journeys use Debian's Chromium (never a browser downloaded by Playwright).
$(CHROMIUM):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium

clean-venv:
	rm -rf $(VENV)
