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

.PHONY: book book-quick book-student book-student-quick notebooks pdf pdf-quick lab test test-unit test-book \
	lint bench system-deps pdf-deps install clean replicate replication-page assignments grade frameworks

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

## make frameworks: chapter 11's two extra environments, each pinned in its own file and
## stamped like .venv: .venv-mxnet (MXNet 1.9.1 + d2l 1.0.3; needs numpy < 1.24, so Python
## <= 3.11) and .venv-frameworks (PaddlePaddle, Keras 3 on JAX, JAX + Flax, MindSpore)
MXNET_VENV := .venv-mxnet
MXNET_STAMP := $(MXNET_VENV)/.installed
FRAMEWORKS_VENV := .venv-frameworks
FRAMEWORKS_STAMP := $(FRAMEWORKS_VENV)/.installed
frameworks: $(MXNET_STAMP) $(FRAMEWORKS_STAMP)

$(MXNET_STAMP): requirements-mxnet.txt requirements-mxnet-nodeps.txt
	@test -x $(MXNET_VENV)/bin/python || $(PYTHON) -m venv $(MXNET_VENV)
	$(MXNET_VENV)/bin/python -m pip install -q -r requirements-mxnet.txt
	$(MXNET_VENV)/bin/python -m pip install -q --no-deps -r requirements-mxnet-nodeps.txt
	@touch $@

$(FRAMEWORKS_STAMP): requirements-frameworks.txt
	@test -x $(FRAMEWORKS_VENV)/bin/python || $(PYTHON) -m venv $(FRAMEWORKS_VENV)
	$(FRAMEWORKS_VENV)/bin/python -m pip install -q -r requirements-frameworks.txt
	@touch $@

## make book: the whole book, full experiments, into _build/html (chapter 11 needs `frameworks`).
book: $(STAMP) frameworks
	$(BUILD_BOOK) --mode full

## make book-quick: every chapter in quick mode (BN_BOOK_QUICK=1) into
## _build/quick/html, with its own execution cache (in _build/quick/_build).
book-quick: $(STAMP) frameworks
	$(BUILD_BOOK) --mode quick

## make book-student: the whole book without the exercise solutions (removed,
## not folded) into _build/student/html, from the execution cache of `make book`
book-student: $(STAMP) frameworks
	$(BIN)/python tools/student_edition.py --mode full

book-student-quick: $(STAMP) frameworks
	$(BIN)/python tools/student_edition.py --mode quick

## make notebooks: every chapter as a reader notebook and a student notebook (no solutions), MyST
## turned into Markdown that Colab and JupyterLab render, outputs cleared, into
## _build/notebooks/{reader,student}/, with the package's wheel their Colab setup cell installs
notebooks: $(STAMP)
	$(BIN)/python tools/reader_notebooks.py --out _build/notebooks

## make pdf: the whole book as a Chinese PDF, _build/latex/book.pdf (xelatex),
## from the same execution cache; also copied into _build/html (the preface links to it)
pdf: $(STAMP) pdf-deps frameworks
	$(BUILD_BOOK) --mode full --pdf

pdf-quick: $(STAMP) pdf-deps frameworks
	$(BUILD_BOOK) --mode quick --pdf

## make replicate SEED=<base> [THREADS=<n>]: every chapter in full mode with seed base <base>
## (BN_BOOK_SEED) and <n> PyTorch threads per chapter, into _build/replicate/ (never _build/html);
## records every claim in replications/, regenerates chapters/replication.md, fails if a claim fails
SEED ?=
THREADS ?= 1
replicate: $(STAMP) frameworks
	@test -n "$(SEED)" || { echo "usage: make replicate SEED=<seed base, e.g. 1> [THREADS=<threads, default 1>]"; exit 2; }
	$(BIN)/python tools/replicate.py --seed-base $(SEED) --threads $(THREADS)

## the replication page from the recorded runs (make replicate does this too)
replication-page: $(STAMP)
	$(BIN)/python tools/replication_page.py

## make lab: JupyterLab on chapters/ with this environment's kernel ("python3", the .venv);
## `make lab LAB_DIR=_build/assignments` opens the student notebooks of `make assignments`
LAB_ARGS ?=
LAB_DIR ?= chapters
lab: $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (BN book)" >/dev/null
	$(BIN)/jupyter lab --ServerApp.root_dir=$(LAB_DIR) $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

## make assignments: the student notebooks (no solutions, no hidden tests) and one zip per
## assignment into _build/assignments (teacher notebooks: assignments/<name>/<name>.ipynb)
assignments: $(STAMP)
	$(BIN)/python tools/assignments.py

## make grade SUBMISSIONS=<dir>: run and score <dir>/<student>/<assignment>/<assignment>.ipynb
## offline; _build/grades/grades.csv, feedback/<student>/<assignment>.html, manual.csv
SUBMISSIONS ?=
GRADE_ARGS ?=
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<dir>, holding" \
	  "<dir>/<student>/<assignment>/<assignment>.ipynb (GRADE_ARGS=\"--jobs 2 --timeout 120\")"; exit 2; }
	$(BIN)/python tools/grade.py "$(SUBMISSIONS)" $(GRADE_ARGS)

## Debian packages of the PDF: xelatex, Chinese support, the LaTeX packages Sphinx and
## Jupyter Book load (bbm.sty: texlive-fonts-extra; ZapfDingbats: texlive-fonts-recommended),
## latexmk, Noto CJK and DejaVu fonts, pdftotext/pdfinfo for the tests
PDF_DEPS := texlive-xetex texlive-lang-chinese texlive-latex-extra texlive-fonts-extra \
	texlive-fonts-recommended latexmk fonts-noto-cjk fonts-dejavu-core poppler-utils
pdf-deps:
	@if command -v xelatex >/dev/null && command -v latexmk >/dev/null && command -v pdftotext >/dev/null \
	  && kpsewhich bbm.sty pzdr.tfm xeCJK.sty >/dev/null && fc-list | grep -i "Noto Serif CJK SC" >/dev/null \
	  && fc-list | grep -i "DejaVu Serif" >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    $(PDF_DEPS) >/dev/null; \
	else \
	  echo "The PDF needs: sudo apt-get install --no-install-recommends $(PDF_DEPS)"; exit 1; \
	fi

## Debian packages the browser tests need (chromium, CJK fonts)
system-deps:
	@if command -v chromium >/dev/null && fc-list 2>/dev/null | grep -i "Noto Sans CJK" >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk >/dev/null; \
	else \
	  echo "The browser tests need Chromium and CJK fonts: sudo apt-get install chromium fonts-noto-cjk"; exit 1; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

## the package's tests and the notebook checks: no book build needed
test-unit: $(STAMP) frameworks
	BN_BOOK_REQUIRE_ENVS=1 $(BIN)/python -m pytest -m "not book"

## the built quick book and student edition, opened in headless Chromium; the quick PDF; make lab
test-book: $(STAMP) system-deps pdf-deps
	$(BIN)/python -m pytest -m book

## make test: cheap checks first (lint, unit tests), then the quick book, its student edition and
## PDF, and the browser tests
test: $(STAMP)
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint test-unit book-quick book-student-quick pdf-quick test-book; \
	echo "tests finished in $$(( $$(date +%s) - start )) s"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_training.py

clean:
	rm -rf _build
