# The two commands of README.md. Each one installs what it needs into .venv, then runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Main job: until the shop exists, the benchmark of the recommendation engine.
run: $(STAMP)
	$(BIN)/via rec benchmark --models pop spop itemknn sknn vsknn stan

test: $(STAMP)
	$(BIN)/python -m pytest
