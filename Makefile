# The two commands of README.md. Each one installs what it needs into .venv, then runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Main job: the shop at http://127.0.0.1:8000 on SQLite (var/), with the demo catalog loaded
# once (idempotent). The engine benchmark stays available as `.venv/bin/via rec benchmark`.
run: $(STAMP)
	$(BIN)/python -m via.shop migrate --noinput
	$(BIN)/python -m via.shop load_demo_catalog
	$(BIN)/python -m via.shop runserver 127.0.0.1:8000

# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

test: $(STAMP) chromium
	$(BIN)/python -m pytest
