"""Every claim is recorded and reported; replications are recorded and shown on the book's page.

``tools/build_book.py`` executes chapters with their claims recorded (``BN_BOOK_CLAIMS``),
reports every failing claim of every chapter and keeps no failing chapter in its cache;
``tools/replicate.py`` runs the book with another seed base; ``tools/replication_page.py``
renders the recorded runs. The execution tests use a two-notebook book in a temporary folder.
"""

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_book  # noqa: E402
import replicate  # noqa: E402
import replication_page  # noqa: E402

CHAPTER = """import os
import d2lzh_pytorch as d2l
d2l.set_seed(0)
import torch
x = torch.rand(1).item()
d2l.claim(x >= 0, "the seed base", evidence=os.environ["BN_BOOK_SEED"])
{claims}
"""


def write_book(root, chapters):
    """A book whose chapters are one code cell each: ``chapters`` maps a name to its claims' code."""
    (root / "chapters").mkdir(parents=True, exist_ok=True)
    toc = ["format: jb-book", "root: chapters/index", "parts:", "  - caption: x", "    chapters:"]
    for name, claims in chapters.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(f"# Title of {name}"),
                    nbformat.v4.new_code_cell(CHAPTER.format(claims=claims))]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, root / "chapters" / f"{name}.ipynb")
        toc.append(f"      - file: chapters/{name}")
    (root / "_toc.yml").write_text("\n".join(toc) + "\n")
    for name in build_book.KEYED_FILES:
        (root / name).write_text((ROOT / name).read_text())
    (root / "d2lzh_pytorch").mkdir(exist_ok=True)


FAILING = {
    "01_a": 'd2l.claim(True, "A holds")\nd2l.claim(False, "A fails", evidence="+1.0 pp")',
    "02_b": 'd2l.claim(False, "B fails first", evidence="e1")\nd2l.claim(False, "B fails too")',
}


def test_every_failing_claim_of_every_chapter_is_reported_and_the_build_fails(tmp_path, capsys):
    write_book(tmp_path, FAILING)
    with pytest.raises(SystemExit, match="3 claim\\(s\\) failed in 2 chapter"):
        build_book.prepare("full", 2, 120, tmp_path)
    err = capsys.readouterr().err
    for text in ("01_a.ipynb #3: A fails  [+1.0 pp]", "02_b.ipynb #2: B fails first  [e1]",
                 "02_b.ipynb #3: B fails too"):
        assert text in err
    # neither failing chapter stays cached: the next build executes (and reports) them again
    with pytest.raises(SystemExit, match="3 claim"):
        build_book.prepare("full", 2, 120, tmp_path)
    assert "executing 2 chapter(s)" in capsys.readouterr().out


def test_a_passing_chapter_is_cached_with_its_claims(tmp_path, capsys):
    write_book(tmp_path, {"01_a": 'd2l.claim(True, "A holds", evidence="3 of 3")'})
    out, records = build_book.prepare("full", 1, 120, tmp_path)
    record = records["01_a.ipynb"]
    assert record["claims"][1:] == [{"statement": "A holds", "holds": True, "evidence": "3 of 3",
                                     "checked": True}]
    assert record["claims"][0]["evidence"] == "0"  # make book's seed base
    assert record["code"] == build_book.code_digest(tmp_path / "chapters" / "01_a.ipynb")
    from jupyter_cache import get_cache

    [cached] = get_cache(out / ".jupyter_cache").list_cache_records()
    assert record["seconds"] == round(cached.data["execution_seconds"], 1)  # jupyter-cache's time
    _, again = build_book.prepare("full", 1, 120, tmp_path)
    assert "all chapters are in the execution cache" in capsys.readouterr().out
    assert again == records


def test_a_chapter_cached_without_its_claims_record_is_executed_again(tmp_path, capsys):
    # a run stopped after jupyter-cache stored the notebook but before its record was written
    write_book(tmp_path, {"01_a": 'd2l.claim(True, "A holds", evidence="3 of 3")'})
    out, records = build_book.prepare("full", 1, 120, tmp_path)
    (out / build_book.CLAIMS_DIR / "01_a.json").unlink()
    capsys.readouterr()
    _, again = build_book.prepare("full", 1, 120, tmp_path)
    printed = capsys.readouterr().out
    assert "01_a.ipynb: cached without its claims record" in printed
    assert "executing 1 chapter(s)" in printed
    assert again["01_a.ipynb"]["claims"] == records["01_a.ipynb"]["claims"]


def test_a_chapter_that_does_not_finish_is_recorded_and_the_replication_goes_on(tmp_path):
    write_book(tmp_path, {"01_a": 'd2l.claim(True, "A holds")\nraise RuntimeError("boom")',
                          "02_b": 'd2l.claim(True, "B holds")'})
    out = tmp_path / "_build" / "replicate" / "seed2-threads1"
    _, records = build_book.prepare("full", 2, 120, tmp_path, out=out, seed_base=2, threads=1,
                                    keep_failed=True)
    assert "boom" in records["01_a.ipynb"]["error"] and len(records["01_a.ipynb"]["claims"]) == 2
    assert "error" not in records["02_b.ipynb"]
    failures = build_book.failing_claims(records)
    assert [(name, index) for name, index, _ in failures] == [("01_a.ipynb", None)]


def test_a_replication_keeps_going_and_uses_its_seed_base(tmp_path, monkeypatch):
    write_book(tmp_path, FAILING)
    monkeypatch.setenv("BN_BOOK_SEED", "0")  # the caller's variable does not reach the run
    out = tmp_path / "_build" / "replicate" / "seed5-threads1"
    _, records = build_book.prepare("full", 2, 120, tmp_path, out=out, seed_base=5, threads=1,
                                    keep_failed=True)
    assert len(build_book.failing_claims(records)) == 3
    assert {r["claims"][0]["evidence"] for r in records.values()} == {"5"}
    assert not (tmp_path / "_build" / "html").exists()


def record(seed_base, statuses, code="abc", threads=1, evidence="ev"):
    claims = [{"statement": f"claim {i}", "holds": h, "evidence": evidence, "checked": True}
              for i, h in enumerate(statuses)]
    return {"seed_base": seed_base, "threads": threads, "date": "2026-12-03", "commit": "0123456789",
            "machine": {"cpu": "Test CPU", "vendor": "intel", "avx512": True, "cores": 2, "tag": "intel"},
            "chapters": {"01_a.ipynb": {"claims": claims, "code": code, "seconds": 1.0,
                                        "date": "2026-12-03", "commit": "0123456789"}}}


def test_the_page_shows_each_claim_in_each_run_and_marks_old_versions():
    runs = [record(0, [True, True]), record(1, [True, False], evidence="CI [-1, 2]"),
            record(2, [True], code="old")]
    page = replication_page.render(runs, [("01_a.ipynb", "第一章", "abc"), ("02_b.ipynb", "第二章", "x")])
    assert "| A | 0 | 1 | Test CPU，AVX-512 | 2026-12-03 | `0123456789` | 2 / 2 |" in page
    assert "| B | 1 | 1 |" in page and "| 1 / 2 |" in page
    assert "| 1 | claim 0 | ✓ | ✓ | ✓\\* |" in page  # run C ran an older version of the chapter
    assert "| 2 | claim 1 | ✓ | ✗ | — |" in page
    assert "- 断言 2，运行 B：CI [-1, 2]" in page
    broken = record(3, [True])
    broken["chapters"]["01_a.ipynb"]["error"] = "CellTimeoutError: a cell timed out"
    partial = replication_page.render([broken], [("01_a.ipynb", "第一章", "abc")])
    assert "| 1 | claim 0 | ✓ |" in partial
    assert "这一章没有执行完（CellTimeoutError: a cell timed out）" in partial
    assert "## 第二章\n\n这一章还没有被记录的运行。" in page


def test_the_committed_page_is_what_the_records_give():
    chapters = [(p.name, replication_page.chapter_title(p), build_book.code_digest(p))
                for p in build_book.chapters(ROOT)]
    expected = replication_page.render(replication_page.load_records(ROOT), chapters)
    assert (ROOT / replication_page.PAGE).read_text(encoding="utf-8") == expected, (
        "chapters/replication.md is out of date: run `make replication-page` (or "
        "`python tools/replication_page.py`) and commit it")


def test_records_name_the_machine():
    m = replicate.machine()
    assert m["cpu"] and m["tag"].startswith(m["vendor"]) and isinstance(m["avx512"], bool)


def test_make_replicate_needs_a_seed_base():
    import subprocess

    result = subprocess.run(["make", "-n", "replicate", "SEED=2", "THREADS=2"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert "tools/replicate.py --seed-base 2 --threads 2" in result.stdout
    result = subprocess.run(["make", "replicate"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0 and "usage: make replicate SEED=" in result.stdout


def test_a_kernel_that_did_not_start_is_started_again_but_a_failing_cell_is_not(tmp_path, monkeypatch):
    """A port clash between two kernels started at once is retried; a chapter's own error is not."""
    import jupyter_cache.executors.basic as basic

    tracebacks = {"port": ["zmq.error.ZMQError: Address already in use\n"
                           "RuntimeError: Kernel didn't respond in 60 seconds", None],
                  "cell": ["nbclient.exceptions.CellExecutionError: boom", None]}
    calls = []

    class Worker:
        def __call__(self, data):
            calls.append(data.uri)
            error = tracebacks[data.uri].pop(0)
            record = type("Record", (), {"traceback": error})()
            monkeypatch.setattr(data.cache, "get_project_record", lambda pk: record, raising=False)
            cached = type("Cached", (), {"data": {"execution_seconds": 2.5}})()  # a successful run's
            monkeypatch.setattr(data.cache, "get_cached_project_nb", lambda pk: cached, raising=False)
            return (1 if error else 0), None

    monkeypatch.setattr(basic, "ExecutionWorkerLocalMProc", Worker)
    monkeypatch.setattr(build_book.time, "sleep", lambda s: None)
    import jupyter_cache
    monkeypatch.setattr(jupyter_cache, "get_cache", lambda path: type("Cache", (), {})())
    name, seconds, error = build_book._execute_one((str(tmp_path), 1, "port", 10, str(tmp_path / "c")))
    assert error is None and calls == ["port", "port"]
    assert seconds == 2.5  # jupyter-cache's record of the run
    calls.clear()
    name, _, error = build_book._execute_one((str(tmp_path), 1, "cell", 10, str(tmp_path / "c")))
    assert "boom" in error and calls == ["cell"]


def test_kernel_start_failures_are_told_from_chapter_errors():
    assert build_book.kernel_did_not_start("RuntimeError: Kernel didn't respond in 60 seconds")
    assert not build_book.kernel_did_not_start(
        "CellExecutionError: ... RuntimeError: Kernel didn't respond in 60 seconds")
    assert not build_book.kernel_did_not_start("AssertionError: claim fails")


def test_the_code_digest_ignores_layout_and_comments_but_not_code(tmp_path):
    def digest(*sources):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
        nbformat.write(nb, tmp_path / "x.ipynb")
        return build_book.code_digest(tmp_path / "x.ipynb")

    base = digest('d2l.claim(x > 0, "一个很长的结论", evidence=f"{x:.1f}")')
    rewrapped = digest('d2l.claim(\n    x > 0,  # the check\n    "一个很长"\n    "的结论",\n'
                       '    evidence=f"{x:.1f}",\n)')
    assert rewrapped == base
    assert digest('d2l.claim(x > 1, "一个很长的结论", evidence=f"{x:.1f}")') != base
    assert digest('d2l.claim(x > 0, "另一个结论", evidence=f"{x:.1f}")') != base
    assert digest("%time y = 1") != digest("%time  y = 1")  # not Python: compared as text
    doc = 'def f():\n    """One line\n    and another."""\n    return 1'
    assert digest(doc) == digest('def f():\n    """One line and\n    another."""\n    return 1')
    assert digest(doc) != digest('def f():\n    """One line and more."""\n    return 1')


def test_a_replication_runs_no_more_threads_than_cores_by_default():
    assert replicate.default_jobs(1, cores=2) == 2
    assert replicate.default_jobs(2, cores=2) == 1  # two chapters x 2 threads: > 3.5x slower
    assert replicate.default_jobs(4, cores=2) == 1
    assert replicate.default_jobs(2, cores=16) == 8

