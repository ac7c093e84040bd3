# The two commands of the README: `make book` and `make test`.
# Both create .venv when it is missing and install what is needed (once: a
# stamp file records what was installed, so a second run installs nothing).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JB_FLAGS := -W -n --keep-going
QUICK_OUT := _build/quick

# The execution cache and Sphinx's environment notice changes to a notebook,
# not to the package the notebooks import: when d2lzh_pytorch changes, both are
# dropped so that every chapter runs again.
PKG_SRC := $(wildcard d2lzh_pytorch/*.py)

.PHONY: book book-quick test test-unit lint bench system-deps install clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

## make book: the whole book, full experiments, into _build/html.
## Strict: a Sphinx warning or a failing cell fails the build. Executed
## notebooks are cached in _build/.jupyter_cache (re-run only when changed).
_build/.package-stamp: $(PKG_SRC)
	rm -rf _build/.jupyter_cache _build/.doctrees
	@mkdir -p $(@D) && touch $@

$(QUICK_OUT)/.package-stamp: $(PKG_SRC)
	rm -rf $(QUICK_OUT)/_build/.jupyter_cache $(QUICK_OUT)/_build/.doctrees
	@mkdir -p $(@D) && touch $@

book: $(STAMP) _build/.package-stamp
	@start=$$(date +%s); \
	BN_BOOK_BUILD=1 $(BIN)/jupyter-book build $(JB_FLAGS) . ; \
	echo "book built in $$(( $$(date +%s) - start )) s: open _build/html/index.html"

## make book-quick: every chapter in quick mode (BN_BOOK_QUICK=1) into
## _build/quick/_build/html; its cache is _build/quick/_build/.jupyter_cache
## (myst-nb keeps the cache beside the output), apart from the full book's.
book-quick: $(STAMP) $(QUICK_OUT)/.package-stamp
	@start=$$(date +%s); \
	BN_BOOK_BUILD=1 BN_BOOK_QUICK=1 $(BIN)/jupyter-book build $(JB_FLAGS) --path-output $(QUICK_OUT) . ; \
	echo "quick book built in $$(( $$(date +%s) - start )) s: $(QUICK_OUT)/_build/html/index.html"

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

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "not book"

## make test: lint, package tests, quick book build, notebook and browser checks
test: $(STAMP) system-deps lint book-quick
	@start=$$(date +%s); \
	$(BIN)/python -m pytest ; \
	echo "tests finished in $$(( $$(date +%s) - start )) s"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_training.py

clean:
	rm -rf _build
