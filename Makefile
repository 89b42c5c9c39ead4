# Two commands do all the set-up on a fresh Debian 12 machine (as root):
#   make demo   install what is missing, start the services, run the main job end to end
#   make test   the same plus test extras, then ruff, mypy --strict and the whole pytest suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest services install install-test clean-venv

demo: install services
	@bash crates/demo.sh

test: install-test services lint typecheck pytest

services:
	@bash registry/services.sh up

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Re-install only when the project definition changed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	bash registry/services.sh install
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

lint:
	$(BIN)/ruff check preserve tests benchmarks
	$(BIN)/ruff format --check preserve tests benchmarks

typecheck:
	$(BIN)/mypy preserve

pytest:
	$(BIN)/pytest

clean-venv:
	rm -rf $(VENV)
