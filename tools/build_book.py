"""Build the book in one mode, whatever the caller's environment says.

    python tools/build_book.py --mode full    # `make book`:  _build/html
    python tools/build_book.py --mode quick   # `make book-quick`: _build/quick/html

1. The mode is set here (``BN_BOOK_QUICK=0`` or ``1``), overriding an exported
   variable, so ``make book`` can never serve quick-mode numbers.
2. The execution cache keys only on a notebook's code. The key of everything
   else a chapter's output depends on (the mode, the package's source,
   ``requirements.txt``, ``pyproject.toml``) is kept in ``<build>/.cache-key``;
   when it changes, the cache and Sphinx's environment are dropped.
3. The chapters that need executing run two at a time (``--jobs``), longest
   first, one PyTorch thread each: on 2 cores two single-threaded processes
   train about 1.45x faster in total than one process with two threads.
   They fill the same jupyter-cache that Jupyter Book then reads; a chapter's
   time is the one jupyter-cache records with its outputs (``<build>/chapter-times.json``,
   the page of execution statistics).
   Claims are recorded (``BN_BOOK_CLAIMS``), not raised: every failing claim of
   every chapter is reported at the end and the build fails; a chapter with a
   failing claim is not kept in the cache, so the next build runs it again.
4. Jupyter Book builds the HTML from the cache (strict: warnings are errors),
   or with ``--pdf`` the PDF (``latex/book.pdf``, xelatex; ``make pdf``), which is
   then copied into the HTML book, whose preface links to it. Every edition is
   published as ``_build/<edition>/html`` (and ``latex/book.pdf``), the full book as
   ``_build/html``: Jupyter Book writes into ``<path-output>/_build``, so the quick
   book's HTML and PDF are moved out of its working folder ``_build/quick/_build``.
"""

import argparse
import ast
import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_structure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODES = {"full": "0", "quick": "1"}
KEYED_FILES = ("requirements.txt", "pyproject.toml",  # and chapter 11's environments:
               "requirements-mxnet.txt", "requirements-mxnet-nodeps.txt", "requirements-frameworks.txt")
JB_FLAGS = ["-W", "-n", "--keep-going"]
# full-mode execution times of the last measured build, committed: a fresh clone's first
# build (no <build>/chapter-times.json yet) still starts the longest chapters first
SEED_TIMES = ROOT / "tools" / "chapter-times.json"
CLAIMS_DIR = "claims"  # <build>/claims/<chapter>.json: the claims of the cached execution
PDF_NAME = "book.pdf"  # latex.latex_documents.targetname in _config.yml, as .pdf


def build_dir(mode, root=ROOT):
    """Jupyter Book's working folder (execution cache, Sphinx's environment, its output):
    ``_build`` (full) or ``_build/quick/_build`` (quick)."""
    return root / "_build" if mode == "full" else root / "_build" / "quick" / "_build"


def output_dir(mode, root=ROOT):
    """Where a mode's book is published (``html/``, ``latex/book.pdf``): ``_build`` or ``_build/quick``."""
    return root / "_build" if mode == "full" else root / "_build" / mode


def publish(out, dest, name):
    """Move Jupyter Book's ``<out>/<name>`` (``html`` or ``latex``) to ``<dest>/<name>``; return it.

    Nothing moves when ``out`` is ``dest`` (the full book). A missing ``<out>/<name>`` (a
    build that wrote nothing) leaves the published one in place.
    """
    target = dest / name
    if out.resolve() != dest.resolve() and (out / name).is_dir():
        shutil.rmtree(target, ignore_errors=True)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.move(out / name, target)
    return target


def book_environment(mode, base=None):
    """The environment the chapters execute in: the mode is forced, not inherited."""
    env = dict(os.environ if base is None else base)
    env.update(BN_BOOK_QUICK=MODES[mode], BN_BOOK_BUILD="1", BN_BOOK_SEED="0")
    return env


def cache_key(mode, root=ROOT, extra=""):
    """A digest of what the executed outputs depend on besides the notebooks' code.

    ``extra`` names anything else the run depends on (``make replicate``'s seed base and threads).
    """
    digest = hashlib.sha256(f"mode={mode}\n{extra}".encode())
    files = sorted((root / "d2lzh_pytorch").rglob("*.py")) + [root / name for name in KEYED_FILES]
    for path in (p for p in files if p.exists()):
        digest.update(f"{path.relative_to(root)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def drop_stale_cache(mode, out, root=ROOT, extra=""):
    """Remove the execution cache, its claims and Sphinx's environment when the key changed.

    Returns True when something was dropped.
    """
    key_file, key = out / ".cache-key", cache_key(mode, root, extra)
    if key_file.exists() and key_file.read_text() == key:
        return False
    for stale in (out / ".jupyter_cache", out / ".doctrees", out / CLAIMS_DIR):
        shutil.rmtree(stale, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key)
    return True


def chapters(root=ROOT):
    """The executable chapters listed in ``_toc.yml`` (its notebook pages)."""
    return [root / f"{name}.ipynb" for name in book_structure.notebook_docnames(root)]


def longest_first(paths, times):
    """Order notebooks by their last measured execution time, longest first.

    Notebooks never timed come first, later chapters (the experiments) before earlier ones.
    """
    unknown = sorted((p for p in paths if p.name not in times), key=lambda p: p.name, reverse=True)
    known = sorted((p for p in paths if p.name in times), key=lambda p: times[p.name], reverse=True)
    return unknown + known


def ordering_times(times, seed_file=SEED_TIMES):
    """The times that order a build: this build folder's own, else the committed seed's."""
    seed = json.loads(seed_file.read_text()) if seed_file.exists() else {}
    return {**seed, **times}


def _use_environment(env):
    """Pool initializer: add ``env`` to this worker's environment (its kernels inherit it)."""
    os.environ.update(env)


def _execute_one(job):
    """Pool worker: execute one notebook into the cache; (name, seconds, error or None).

    The seconds are jupyter-cache's record of the execution (``cached_seconds``); a failed
    run, which jupyter-cache does not time, is timed here.

    The notebook's claims are recorded in ``claims_file`` (``BN_BOOK_CLAIMS``), not raised.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.executors.basic import ExecutionWorkerLocalMProc, ProcessData

    cache_path, pk, uri, timeout, claims_file = job
    os.environ["BN_BOOK_CLAIMS"] = claims_file  # the kernel inherits this worker's environment
    cache = get_cache(cache_path)
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        Path(claims_file).unlink(missing_ok=True)
        start = time.perf_counter()
        code, _ = ExecutionWorkerLocalMProc()(ProcessData(pk, uri, cache, timeout, False))
        wall, error = time.perf_counter() - start, None
        # jupyter-cache's record of the run; it has none for a failed run (rarely for another)
        seconds = (cached_seconds(cache, pk) if code == 0 else None) or wall
        if code != 0:
            record = cache.get_project_record(pk)
            error = record.traceback or f"jupyter-cache could not execute {uri} (code {code})"
        if error is None or not kernel_did_not_start(error) or attempt == KERNEL_START_ATTEMPTS:
            return Path(uri).name, seconds, error
        print(f"  {Path(uri).name}: its kernel did not start (attempt {attempt}); starting another",
              flush=True)
        time.sleep(attempt * 2)


def cached_seconds(cache, pk):
    """The execution time (s) jupyter-cache recorded with a project notebook's cached outputs.

    The same number the book's page of execution statistics (``{nb-exec-table}``) shows.
    None when the cache holds no record with a time for it (seen once in a test run under
    heavy load: two workers caching at the same moment); the caller then keeps its own clock.
    """
    record = cache.get_cached_project_nb(pk)
    return (record.data or {}).get("execution_seconds") if record is not None else None


# Two kernels started at once in separate processes can be handed the same free port
# (jupyter_client picks ports per process): the loser never answers. That is no fault of
# the chapter, so its execution is started again, with a fresh kernel.
KERNEL_START_ATTEMPTS = 3
_KERNEL_START_ERRORS = ("Kernel didn't respond", "Address already in use",
                        "Kernel died before replying to kernel_info")


def kernel_did_not_start(error):
    """Whether an execution's traceback says its kernel never started (not a cell's error)."""
    return "CellExecutionError" not in error and any(e in error for e in _KERNEL_START_ERRORS)


def code_digest(path):
    """A digest of a notebook's code cells: what says which version of a chapter ran.

    Each cell counts by its syntax tree, so layout, comments and how a long string is
    split over lines do not change the digest: a record of a run still describes the
    chapter after its code is rewrapped. A cell that is not plain Python counts as text.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    code = "\n\0".join(_cell_form(cell.source) for cell in nb.cells if cell.cell_type == "code")
    return hashlib.sha256(code.encode()).hexdigest()[:12]


def _cell_form(source):
    """A code cell's syntax tree (``ast.dump``), or its text when it does not parse.

    Docstrings count by their words: rewrapping one does not change what the code does.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for doc in docstrings(tree):
        doc.value = " ".join(doc.value.split())
    return ast.dump(tree)


def docstrings(tree):
    """The docstring nodes (``ast.Constant``) of a module and its functions and classes."""
    return [node.body[0].value for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and ast.get_docstring(node, clean=False) is not None]


def read_claims(claims_file):
    """The claims a chapter's run recorded, in order (a list of dicts)."""
    path = Path(claims_file)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def chapter_record(out, name):
    """What ``<out>`` holds on a chapter's cached run: claims, code digest, time, when (or None)."""
    path = out / CLAIMS_DIR / f"{Path(name).stem}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def failing_claims(records):
    """[(chapter, index, claim)] of every checked claim that does not hold, in chapter order.

    A chapter that did not finish (``"error"`` in its record) counts as one failure, index None.
    """
    found = []
    for name, record in sorted(records.items()):
        if not record:
            continue
        if record.get("error"):
            found.append((name, None, {"statement": "the chapter did not run to its end",
                                       "evidence": record["error"], "checked": True, "holds": False}))
        found += [(name, i, c) for i, c in enumerate(record["claims"]) if c["checked"] and not c["holds"]]
    return found


def report_failures(failures, file=None):
    """Print every failing claim, grouped by chapter (to standard error unless ``file``)."""
    file = sys.stderr if file is None else file
    print(f"\n{len(failures)} claim(s) do not hold:", file=file)
    for name, index, c in failures:
        evidence = f"  [{c['evidence']}]" if c["evidence"] else ""
        where = f"#{index + 1}" if index is not None else "(execution)"
        print(f"  {name} {where}: {c['statement']}{evidence}", file=file)
    print("Rewrite the prose to what the data show, or give the experiment the power it needs.",
          file=file)


def execute_chapters(out, env, jobs, timeout, root=ROOT, keep_failed=False):
    """Execute the chapters the cache lacks, ``jobs`` at a time; return {name: record}.

    Every chapter's record (its claims, code digest, seconds, date, commit) is kept in
    ``<out>/claims/`` beside the cache; chapters that ran earlier keep theirs. Unless
    ``keep_failed``, a chapter with a failing claim is removed from the cache again (so
    the next build runs it) and, after all chapters ran, every failing claim is reported
    and the build stops.
    """
    from jupyter_cache import get_cache

    cache = get_cache(out / ".jupyter_cache")
    claims_dir = out / CLAIMS_DIR
    claims_dir.mkdir(parents=True, exist_ok=True)
    times_file = out / "chapter-times.json"
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    notebooks = chapters(root)
    for path in notebooks:
        cache.add_nb_to_project(str(path))
    # only this book's notebooks: a cache copied from another checkout lists that one's too
    ours = {str(path) for path in notebooks}
    # a chapter cached without its claims record (a run stopped between the two) would
    # count as done but report no claims: execute it again
    for record in cache.list_project_records():
        cached = cache.get_cached_project_nb(record.pk) if record.uri in ours else None
        if cached is not None and not (claims_dir / f"{Path(record.uri).stem}.json").exists():
            print(f"  {Path(record.uri).name}: cached without its claims record; executing it again")
            cache.remove_cache(cached.pk)
    todo = {Path(r.uri).name: r for r in cache.list_unexecuted() if r.uri in ours}
    order = [p for p in longest_first(notebooks, ordering_times(times)) if p.name in todo]
    results = []
    if order:
        print(f"executing {len(order)} chapter(s), {jobs} at a time: {', '.join(p.name for p in order)}")
        jobs_args = [(str(out / ".jupyter_cache"), todo[p.name].pk, todo[p.name].uri, timeout,
                      str(claims_dir / f"{p.stem}.jsonl")) for p in order]
        # each worker sets env for itself; the kernels it starts inherit its environment
        with multiprocessing.get_context("spawn").Pool(jobs, _use_environment, (env,),
                                                       maxtasksperchild=1) as pool:
            for name, seconds, error in pool.imap_unordered(_execute_one, jobs_args, chunksize=1):
                print(f"  done {name} ({seconds:.0f} s{', failed' if error else ''})", flush=True)
                results.append((name, seconds, error))
    else:
        print("all chapters are in the execution cache")
    paths = {p.name: p for p in notebooks}
    failed = []
    for name, seconds, error in sorted(results):
        log = claims_dir / f"{Path(name).stem}.jsonl"
        claims = read_claims(log)
        log.unlink(missing_ok=True)
        n_fail = sum(c["checked"] and not c["holds"] for c in claims)
        print(f"  {name}: {seconds:.1f} s, {len(claims)} claims" + (f", {n_fail} FAIL" if n_fail else "")
              + ("  FAILED" if error else ""))
        if error:
            failed.append((name, error))
            if keep_failed:  # a replication records that the chapter did not run, and goes on
                (claims_dir / f"{Path(name).stem}.json").write_text(json.dumps(
                    {"claims": claims, "code": code_digest(paths[name]), "seconds": round(seconds, 1),
                     "date": time.strftime("%Y-%m-%d"), "commit": git_commit(root),
                     "error": error.strip().splitlines()[-1][:300]}, ensure_ascii=False, indent=1) + "\n",
                    encoding="utf-8")
            continue
        times[name] = round(seconds, 1)
        record = {"claims": claims, "code": code_digest(paths[name]), "seconds": round(seconds, 1),
                  "date": time.strftime("%Y-%m-%d"), "commit": git_commit(root)}
        (claims_dir / f"{Path(name).stem}.json").write_text(
            json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        if n_fail and not keep_failed:
            cached = cache.get_cached_project_nb(todo[name].pk)
            if cached is not None:
                cache.remove_cache(cached.pk)
    times_file.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")
    if failed and not keep_failed:
        for name, error in failed:
            print(f"\n{name} failed:\n{error}", file=sys.stderr)
        raise SystemExit(f"{len(failed)} chapter(s) failed to execute: {', '.join(n for n, _ in failed)}")
    records = {p.name: chapter_record(out, p.name) for p in notebooks}
    for path in notebooks:  # a record of another version of the chapter says nothing of this one
        if records[path.name] and records[path.name]["code"] != code_digest(path):
            records[path.name] = None
    failures = failing_claims(records)
    if failures and not keep_failed:
        report_failures(failures)
        raise SystemExit(f"{len(failures)} claim(s) failed in "
                         f"{len({name for name, _, _ in failures})} chapter(s)")
    return records


def git_commit(root=ROOT):
    """The checkout's commit (short), with ``+`` when the work tree has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=root, check=True,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+" if dirty else "")


def prepare(mode, jobs, timeout=900, root=ROOT, execute=True, out=None, seed_base=0, threads=None,
            keep_failed=False):
    """Drop a stale cache, then execute the chapters it lacks; return (build folder, records).

    Shared by the HTML book, the student edition, the PDF and ``make replicate`` (which
    passes its own ``out``, ``seed_base`` and ``threads``), so the book's outputs all come
    from one cache. The seed base is forced like the mode: ``make book`` always uses 0.
    """
    out = build_dir(mode, root) if out is None else out
    extra = "" if (seed_base, threads) == (0, None) else f"seed_base={seed_base}\nthreads={threads}\n"
    if drop_stale_cache(mode, out, root, extra):
        print(f"{mode} mode: package, requirements or mode changed, execution cache dropped")
    records = {}
    if execute:
        if threads is None:
            threads = "1" if jobs > 1 else os.environ.get("OMP_NUM_THREADS", "")
        parallel_env = {"BN_BOOK_QUICK": MODES[mode], "BN_BOOK_BUILD": "1", "BN_BOOK_SEED": str(seed_base)}
        if threads:
            parallel_env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        records = execute_chapters(out, parallel_env, jobs, timeout, root, keep_failed)
    return out, records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=sorted(MODES), required=True)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="chapters executed at the same time (default: 2, or 1 on one core)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--jupyter-book", default=str(Path(sys.executable).with_name("jupyter-book")),
                        help="the jupyter-book executable")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the book's folder (default: this repository)")
    parser.add_argument("--no-execute", action="store_true",
                        help="skip the parallel execution (Jupyter Book executes what is missing)")
    parser.add_argument("--pdf", action="store_true",
                        help="build the PDF (<build>/latex/book.pdf, xelatex) instead of the HTML")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    start = time.perf_counter()
    root = args.root.resolve()
    out, _ = prepare(args.mode, args.jobs, args.timeout, root, execute=not args.no_execute)
    env = book_environment(args.mode)
    command = [args.jupyter_book, "build", *JB_FLAGS]
    if args.pdf:
        shutil.rmtree(out / "latex", ignore_errors=True)  # latexmk state of a failed run
        command += ["--builder", "pdflatex"]
    if args.mode == "quick":
        command += ["--path-output", str(out.parent)]
    subprocess.run([*command, str(root)], env=env, check=True, cwd=root)
    dest = output_dir(args.mode, root)
    publish(out, dest, "latex" if args.pdf else "html")
    pdf = publish_pdf(dest)
    what = pdf if args.pdf else dest / "html" / "index.html"
    print(f"{args.mode} {'PDF' if args.pdf else 'book'} built in {time.perf_counter() - start:.0f} s: "
          f"open {what.relative_to(root)}")


def publish_pdf(out):
    """Copy ``<out>/latex/book.pdf`` into the HTML book (the preface links to it); return its path."""
    pdf = out / "latex" / PDF_NAME
    if pdf.is_file() and (out / "html").is_dir():
        shutil.copy(pdf, out / "html" / PDF_NAME)
    return pdf


if __name__ == "__main__":
    main()
