"""Execute one chapter in a fresh kernel and show what the reader would see of its checks.

    python tools/run_chapter.py chapters/06_mnist.ipynb --mode full [--seed-base 1] [--threads 2]
                                [--out /tmp/ch6.ipynb]

The mode is forced as in ``tools/build_book.py`` (one PyTorch thread, as in the
parallel book build, unless ``--threads``; seed base 0 unless ``--seed-base``).
Claims are recorded, not raised, so every claim of the chapter is checked: it
prints each claim line, the time and, on an error, the failing cell's
traceback, and exits non-zero when a cell fails or a claim does not hold.
``--out`` keeps the executed notebook (outside the repository: chapters are
stored without outputs).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_book  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--mode", choices=sorted(build_book.MODES), required=True)
    parser.add_argument("--seed-base", type=int, default=0, help="BN_BOOK_SEED (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads (default 1)")
    parser.add_argument("--out", type=Path, help="write the executed notebook here")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.seed_base < 0 or args.threads < 1:
        parser.error("--seed-base must be >= 0 and --threads >= 1")
    path = args.notebook.resolve()
    nb = nbformat.read(path, as_version=4)
    log = Path(tempfile.mkdtemp()) / "claims.jsonl"
    threads = str(args.threads)
    os.environ.update(build_book.book_environment(args.mode, {}), BN_BOOK_SEED=str(args.seed_base),
                      BN_BOOK_CLAIMS=str(log), OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start, failed = time.perf_counter(), None
    try:
        client.execute()
    except CellExecutionError as err:
        failed = err
    seconds = time.perf_counter() - start
    claims = build_book.read_claims(log)
    for c in claims:
        print(f"claim {'holds' if c['holds'] else 'FAILS'}: {c['statement']}"
              + (f" [{c['evidence']}]" if c["evidence"] else ""))
    if args.out:
        nbformat.write(nb, args.out)
    failing = [c for c in claims if c["checked"] and not c["holds"]]
    status = "FAILED" if failed else (f"{len(failing)} claim(s) FAIL" if failing else "ok")
    print(f"{path.name} ({args.mode} mode, seed base {args.seed_base}, {threads} thread(s)): "
          f"{seconds:.0f} s, {len(claims)} claims, {status}")
    if failed:
        print(str(failed)[-4000:], file=sys.stderr)
    return 1 if failed or failing else 0


if __name__ == "__main__":
    sys.exit(main())
