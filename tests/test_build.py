"""The build serves the right book: the mode is forced and stale caches are dropped.

``tools/build_book.py`` is what ``make book`` and ``make book-quick`` run. These
tests drive it against a throw-away copy of the book's keyed files with a fake
``jupyter-book`` that records the environment it was given.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_book  # noqa: E402

FAKE_JB = """#!/bin/sh
# records what `jupyter-book build` was asked to do, and in which mode
out="$(pwd)/_build"
for a in "$@"; do case "$prev" in --path-output) out="$a/_build";; esac; prev="$a"; done
case "$*" in *pdflatex*) mkdir -p "$out/latex"; echo "$@" > "$out/latex/book.pdf"; exit 0;; esac
mkdir -p "$out/html"
echo "BN_BOOK_QUICK=$BN_BOOK_QUICK BN_BOOK_BUILD=$BN_BOOK_BUILD" > "$out/html/mode.txt"
echo "$@" >> "$out/html/mode.txt"
"""


@pytest.fixture
def book(tmp_path):
    """A minimal copy of the files the cache key covers, plus a fake jupyter-book."""
    shutil.copytree(ROOT / "d2lzh_pytorch", tmp_path / "d2lzh_pytorch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in build_book.KEYED_FILES + ("_toc.yml",):
        shutil.copy(ROOT / name, tmp_path / name)
    fake = tmp_path / "fake-jupyter-book"
    fake.write_text(FAKE_JB)
    fake.chmod(0o755)
    return tmp_path


def build(book, mode, *options, **env):
    """Run build_book.py in ``mode`` with extra environment variables; return the recorded line."""
    environment = {**os.environ, **env}
    subprocess.run([sys.executable, str(ROOT / "tools" / "build_book.py"), "--mode", mode, *options,
                    "--root", str(book), "--no-execute", "--jupyter-book", str(book / "fake-jupyter-book")],
                   env=environment, check=True, capture_output=True, text=True)
    return (build_book.output_dir(mode, book) / "html" / "mode.txt").read_text()


def test_exported_quick_mode_cannot_reach_the_full_book(book):
    recorded = build(book, "full", BN_BOOK_QUICK="1")
    assert recorded.startswith("BN_BOOK_QUICK=0 BN_BOOK_BUILD=1")
    assert "--path-output" not in recorded  # into <root>/_build/html, the full book's place


def test_quick_mode_builds_apart_from_the_full_book(book):
    recorded = build(book, "quick", BN_BOOK_QUICK="0")
    assert recorded.startswith("BN_BOOK_QUICK=1")
    assert (book / "_build" / "quick" / "html" / "mode.txt").exists()  # _build/<edition>/html
    assert not (book / "_build" / "quick" / "_build" / "html").exists()  # moved out of the working folder
    assert not (book / "_build" / "html").exists()


def test_quick_pdf_is_published_beside_the_quick_html_and_copied_into_it(book):
    build(book, "quick")
    build(book, "quick", "--pdf")
    quick = book / "_build" / "quick"
    assert "pdflatex" in (quick / "latex" / "book.pdf").read_text()
    assert (quick / "html" / "book.pdf").read_text() == (quick / "latex" / "book.pdf").read_text()
    assert not (quick / "_build" / "latex").exists()
    build(book, "quick")  # a later HTML build replaces the published HTML and copies the PDF in again
    assert (quick / "html" / "book.pdf").exists() and (quick / "html" / "mode.txt").exists()


def test_full_book_and_pdf_stay_where_jupyter_book_writes_them(book):
    build(book, "full")
    build(book, "full", "--pdf")
    assert build_book.output_dir("full", book) == build_book.build_dir("full", book) == book / "_build"
    out = book / "_build"
    assert (out / "html" / "mode.txt").exists() and (out / "latex" / "book.pdf").exists()
    assert (out / "html" / "book.pdf").exists()


def test_environment_forces_the_mode_and_keeps_the_rest():
    env = build_book.book_environment("full", {"BN_BOOK_QUICK": "1", "HOME": "/somewhere"})
    assert env["BN_BOOK_QUICK"] == "0" and env["HOME"] == "/somewhere"
    assert build_book.book_environment("quick", {})["BN_BOOK_QUICK"] == "1"


@pytest.mark.parametrize("change", ["mode", "package", "requirements"])
def test_cache_dropped_when_what_outputs_depend_on_changes(book, change):
    out = build_book.build_dir("full", book)
    assert build_book.drop_stale_cache("full", out, book)  # first build: nothing cached yet
    (out / ".jupyter_cache").mkdir()
    (out / ".jupyter_cache" / "marker").write_text("cached outputs")
    assert not build_book.drop_stale_cache("full", out, book)  # nothing changed: kept
    assert (out / ".jupyter_cache" / "marker").exists()
    mode = "full"
    if change == "mode":
        mode = "quick"
    elif change == "package":
        with open(book / "d2lzh_pytorch" / "layers.py", "a") as fh:
            fh.write("\n# edited\n")
    else:
        with open(book / "requirements.txt", "a") as fh:
            fh.write("torch==0.0\n")
    assert build_book.drop_stale_cache(mode, out, book)
    assert not (out / ".jupyter_cache").exists()


def test_chapter_times_are_jupyter_caches_records(tmp_path):
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.executors.utils import create_cache_bundle

    path = tmp_path / "01_a.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), path)
    cache = get_cache(tmp_path / ".jupyter_cache")
    pk = cache.add_nb_to_project(str(path)).pk
    assert build_book.cached_seconds(cache, pk) is None  # not executed yet: the caller's clock
    bundle = create_cache_bundle(cache.get_project_notebook(pk), None, None, 12.5, None)
    cache.cache_notebook_bundle(bundle, check_validity=False)
    assert build_book.cached_seconds(cache, pk) == 12.5


def test_longest_chapters_are_executed_first():
    paths = [Path(f"chapters/0{i}_x.ipynb") for i in range(1, 6)]
    times = {"01_x.ipynb": 10.0, "02_x.ipynb": 3.0, "04_x.ipynb": 40.0}
    order = [p.name[:2] for p in build_book.longest_first(paths, times)]
    assert order == ["05", "03", "04", "01", "02"]  # never timed (later first), then by time


def test_a_fresh_clone_orders_its_first_build_by_the_committed_times(tmp_path):
    seed = json.loads(build_book.SEED_TIMES.read_text())
    names = {p.name for p in build_book.chapters(ROOT)}
    assert set(seed) == names, "tools/chapter-times.json must time every chapter (copy a full build's)"
    assert build_book.ordering_times({}) == seed
    assert build_book.ordering_times({"01_x.ipynb": 1.0})["01_x.ipynb"] == 1.0  # the build's own win
    assert build_book.ordering_times({}, seed_file=tmp_path / "missing.json") == {}


@pytest.mark.parametrize("target, mode", [("book", "full"), ("book-quick", "quick")])
def test_make_targets_name_their_mode(target, mode):
    result = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "BN_BOOK_QUICK": "1"}, check=True)
    assert f"tools/build_book.py --mode {mode}" in result.stdout


def test_make_test_runs_cheap_checks_first():
    """What ``make -n test`` would run (its recursive make runs dry too), in that order."""
    out = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    steps = {"lint": "ruff check .", "test-unit": 'pytest -m "not book"',
             "book-quick": "tools/build_book.py --mode quick\n",
             "book-student-quick": "tools/student_edition.py --mode quick",
             "pdf-quick": "tools/build_book.py --mode quick --pdf", "test-book": "pytest -m book\n"}
    found = {target: out.find(command) for target, command in steps.items()}
    assert -1 not in found.values(), f"commands missing from `make -n test`: {found}\n{out}"
    assert sorted(found, key=found.get) == ["lint", "test-unit", "book-quick", "book-student-quick",
                                            "pdf-quick", "test-book"]


def _variable(name):
    """A chapter worker's view of its environment (module level: the spawned worker imports it)."""
    return os.environ.get(name)


def test_chapter_workers_get_the_builds_environment_and_the_parent_keeps_its_own():
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1, build_book._use_environment,
                                                   ({"BN_BOOK_TEST_VARIABLE": "7"},)) as pool:
        assert pool.apply(_variable, ("BN_BOOK_TEST_VARIABLE",)) == "7"
    assert "BN_BOOK_TEST_VARIABLE" not in os.environ


@pytest.mark.parametrize("target, mode", [("pdf", "full"), ("pdf-quick", "quick")])
def test_pdf_targets_reuse_the_book_build(target, mode):
    result = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True)
    assert f"tools/build_book.py --mode {mode} --pdf" in result.stdout


def test_make_lab_opens_the_chapters_with_the_venv_kernel():
    result = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "ipykernel install --sys-prefix --name python3" in result.stdout
    assert "jupyter lab --ServerApp.root_dir=chapters" in result.stdout


def test_pdf_is_copied_into_the_html_book(tmp_path):
    out = tmp_path / "_build"
    (out / "latex").mkdir(parents=True)
    assert build_book.publish_pdf(out) == out / "latex" / "book.pdf"  # nothing to copy yet
    (out / "html").mkdir()
    (out / "latex" / "book.pdf").write_bytes(b"%PDF-1.5 test")
    build_book.publish_pdf(out)
    assert (out / "html" / "book.pdf").read_bytes() == b"%PDF-1.5 test"
