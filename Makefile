# Partner Support Portal. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.DEFAULT_GOAL := help

#: list the targets
help:
	@grep -B1 -E '^[a-z-]+:' Makefile | grep -E '^#:' -A1 | grep -vE '^--' \
	  | paste - - | sed -E 's/^#: (.*)\t([a-z-]+):.*/  \2\t\1/' | expand -t 18

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

#: create .venv and install the pinned dependencies
install: $(VENV)/.installed

#: serve the portal with demo data, a Celery worker and beat on http://127.0.0.1:8000
run: install
	scripts/run.sh

#: lint, then the whole suite against real PostgreSQL, Redis, Celery and Chromium
test: install
	scripts/test.sh $(ARGS)

#: only the accessibility checks: palette contrast, the axe sweep, keyboard and reflow
accessibility: install
	scripts/test.sh tests/test_contrast.py tests/e2e/test_accessibility_sweep.py tests/e2e/test_keyboard.py $(ARGS)

#: ruff check and ruff format --check
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

#: reformat and fix what ruff can
format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

#: extract translatable strings into locale/*/LC_MESSAGES/django.po, then compile them
messages: install
	$(PY) manage.py makemessages -l tr --no-obsolete --ignore '.venv/*' --ignore 'var/*' --ignore 'tests/*'
	$(PY) manage.py compilemessages --ignore '.venv/*'

#: write the pinned versions of what is installed into constraints.txt
lock:
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

#: run the benchmarks in bench/
bench: install
	@ls bench/*.py >/dev/null 2>&1 && for b in bench/*.py; do $(PY) $$b; done || echo "no benchmarks yet"

.PHONY: help install run test accessibility lint format messages lock bench
