# leadmagnet: two commands do all set-up on a fresh machine with Python 3.11+:
#   make run    install, start the embedded AWS endpoint, bootstrap, run all services, seed a demo
#   make test   install and run the whole test suite
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION ?= 0.13.9
TOOLS := .tools
UV := $(TOOLS)/uv/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
PYTEST_ARGS ?=

.PHONY: help install run test test-fast test-unit test-integration test-localstack lint format typecheck events bench clean

help:
	@echo "make run    - install, start embedded AWS + all services + demo data (Ctrl-C stops)"
	@echo "make test   - install and run the whole test suite (what CI runs)"
	@echo "make test-fast - the in-process tier (tests/unit, no AWS endpoint/services/browser), < 60 s"
	@echo "make test-localstack - the suite against LocalStack 4.9.2 (no Docker) + moto for DynamoDB"
	@echo "make lint   - ruff (lint + format check) and mypy --strict on libs/* and services/*"
	@echo "make bench  - benchmarks; figures go to docs/benchmarks.md"
	@echo "make events - regenerate docs/events (JSON Schemas, AsyncAPI, catalogue)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock libs/*/pyproject.toml services/*/pyproject.toml
	$(UV) sync --frozen --all-packages
	@touch $@

# botocore's data cut down to the services we call, without documentation
# (leadmagnet.common.aws_data): about 10 MiB less in every process. Rewritten after each sync.
BOTOCORE_DATA := $(VENV)/share/leadmagnet/botocore-data
$(BOTOCORE_DATA)/botocore-version: $(VENV)/.synced
	$(VENV)/bin/python -m leadmagnet.common.aws_data --out $(BOTOCORE_DATA)

install: $(VENV)/.synced $(BOTOCORE_DATA)/botocore-version

run: install
	$(VENV)/bin/leadmagnet dev

test: install
	scripts/ensure-test-deps.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The in-process tier: no embedded AWS endpoint, no service processes, no browser. The marker
# filter keeps a stack-needing test out even if it lands in tests/unit; pytest exits 5 (a
# failure) if nothing is selected.
test-fast: install
	$(VENV)/bin/pytest tests/unit -m "not (integration or browser or terraform or chaos)" $(PYTEST_ARGS)

test-unit: install
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

test-integration: install
	$(VENV)/bin/pytest -m integration $(PYTEST_ARGS)

# Compatibility run: LocalStack (host mode, installed on first use) for SQS/SNS/S3/SES/Secrets
# Manager/STS and a moto server for DynamoDB, both started and stopped by the script.
test-localstack: install
	PYTEST_ARGS="$(PYTEST_ARGS)" scripts/test-localstack.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

events: install
	$(VENV)/bin/leadmagnet events export --out docs/events

bench: install
	$(VENV)/bin/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) .run test-output .pytest_cache .ruff_cache .mypy_cache
