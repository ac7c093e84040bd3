# The two commands of the README: `make book` and `make test`.
# Both create .venv when it is missing and install what is needed (once: a
# stamp file records what was installed, so a second run installs nothing).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# tools/build_book.py forces the mode (an exported BN_BOOK_QUICK cannot leak
# into the full book), drops the execution cache when the mode, the package or
# the requirements change, executes the chapters two at a time and then runs
# Jupyter Book (strict: a Sphinx warning or a failing cell fails the build).
BUILD_BOOK := $(BIN)/python tools/build_book.py

.PHONY: book book-quick test test-unit test-book lint bench system-deps install clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

## make book: the whole book, full experiments, into _build/html.
book: $(STAMP)
	$(BUILD_BOOK) --mode full

## make book-quick: every chapter in quick mode (BN_BOOK_QUICK=1) into
## _build/quick/_build/html, with its own execution cache.
book-quick: $(STAMP)
	$(BUILD_BOOK) --mode quick

## Debian packages the browser tests need (chromium, CJK fonts)
system-deps:
	@if command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk >/dev/null; \
	else \
	  echo "The browser tests need Chromium and CJK fonts: sudo apt-get install chromium fonts-noto-cjk"; exit 1; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

## the package's tests and the notebook checks: no book build needed
test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "not book"

## the built quick book, opened in headless Chromium
test-book: $(STAMP) system-deps
	$(BIN)/python -m pytest -m book

## make test: cheap checks first (lint, unit tests), then the quick book and the browser tests
test: $(STAMP)
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint test-unit book-quick test-book; \
	echo "tests finished in $$(( $$(date +%s) - start )) s"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_training.py

clean:
	rm -rf _build
