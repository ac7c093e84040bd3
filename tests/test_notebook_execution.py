"""Every reader and student notebook of `make notebooks` runs top to bottom in a fresh kernel, quick mode.

The reader notebooks hold the same code as the chapters plus the setup cell;
the student notebooks lack the solutions' code, so a later cell that used a
name defined in a solution would fail only here. Each notebook runs as a reader
would run it (``BN_BOOK_QUICK=1``, one PyTorch thread, progress bars and live
plots on, in the notebook's own folder), two at a time (``BN_BOOK_JOBS``).
About three minutes on two cores: marked ``book`` so it runs with the browser
tests, not the unit tests.
"""

import json
import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.book, pytest.mark.timeout(900)]  # the fixture runs every notebook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_structure  # noqa: E402
import reader_notebooks as rn  # noqa: E402

CASES = [(edition, Path(d).name) for edition in rn.EDITIONS for d in book_structure.notebook_docnames()]


def _execute(path):
    """Run the notebook at ``path``; (seconds, None) or (seconds, the error's text)."""
    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k not in ("BN_BOOK_BUILD", "BN_BOOK_DATA")}
    env.update(BN_BOOK_QUICK="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute(env=env)
    except Exception:  # reported per notebook by the test below
        return time.perf_counter() - start, traceback.format_exc()[-4000:]
    return time.perf_counter() - start, None


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """{(edition, name): (seconds, error or None)} for every generated notebook, run two at a time."""
    out = tmp_path_factory.mktemp("notebooks")
    rn.write_notebooks(out, wheel=False)
    jobs = int(os.environ.get("BN_BOOK_JOBS", min(2, os.cpu_count() or 1)))
    times = json.loads((ROOT / "tools" / "chapter-times.json").read_text())  # longest first
    order = sorted(CASES, key=lambda case: -times.get(f"{case[1]}.ipynb", 0))
    with ThreadPoolExecutor(jobs) as pool:
        done = pool.map(lambda case: _execute(out / case[0] / f"{case[1]}.ipynb"), order)
        runs = dict(zip(order, done, strict=True))
    for (edition, name), (seconds, error) in sorted(runs.items()):
        print(f"{edition}/{name}: {seconds:.0f} s" + ("  FAILED" if error else ""))
    return runs


@pytest.mark.parametrize("case", CASES, ids=[f"{e}-{n}" for e, n in CASES])
def test_generated_notebook_runs_top_to_bottom_in_quick_mode(results, case):
    seconds, error = results[case]
    assert error is None, f"{case[0]}/{case[1]}.ipynb failed after {seconds:.0f} s:\n{error}"
