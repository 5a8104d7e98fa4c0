# Two commands matter: `make run` (start the TUI on the local engine) and `make test` (whole suite).
# `make run` installs only what running needs; test, lint, bench and screenshots add the test extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)

.PHONY: run test bench screenshots serve lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	rm -f $(VENV)/.installed-run-*
	touch $@

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	rm -f $(VENV)/.installed-*
	touch $(RUN_STAMP) $@

run: $(RUN_STAMP)
	$(BIN)/vmtui $(ARGS)

serve: $(RUN_STAMP)
	$(BIN)/vmtui serve $(ARGS)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n 2 $(ARGS)

# mypy --strict on the Textual-free layers that exist; import-linter checks the layer contracts.
TYPED_LAYERS := $(wildcard vmtui/core vmtui/services vmtui/providers vmtui/terminal)

lint: $(TEST_STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy $(TYPED_LAYERS)
	$(BIN)/lint-imports --no-cache --no-logo

bench: $(TEST_STAMP)
	$(BIN)/python -m bench $(ARGS)

screenshots: $(TEST_STAMP)
	$(BIN)/python -m tools.screenshots screenshots

clean:
	rm -rf $(VENV) dist build
