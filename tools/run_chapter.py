"""Execute one chapter in a fresh kernel and show what the reader would see of its checks.

    python tools/run_chapter.py chapters/06_mnist.ipynb --mode full [--out /tmp/ch6.ipynb]

The mode is forced as in ``tools/build_book.py`` (one PyTorch thread, as in the
parallel book build). Prints the time, every claim line and, on an error, the
failing cell's traceback; ``--out`` keeps the executed notebook (outside the
repository: chapters are stored without outputs).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_book  # noqa: E402


def output_text(output):
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    plain = data.get("text/plain", "")
    if plain.startswith("claim "):  # a d2l.Claim: its plain form names it
        return plain
    return data.get("text/markdown") or plain


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--mode", choices=sorted(build_book.MODES), required=True)
    parser.add_argument("--out", type=Path, help="write the executed notebook here")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    path = args.notebook.resolve()
    nb = nbformat.read(path, as_version=4)
    os.environ.update(build_book.book_environment(args.mode, {}), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start, failed = time.perf_counter(), None
    try:
        client.execute()
    except CellExecutionError as err:
        failed = err
    seconds = time.perf_counter() - start
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            text = output_text(output)
            if "claim" in text or output.get("output_type") == "error":
                print(f"[cell {index}] {text.strip() or output.get('ename')}")
    if args.out:
        nbformat.write(nb, args.out)
    print(f"{path.name} ({args.mode} mode): {seconds:.0f} s, " + ("FAILED" if failed else "ok"))
    if failed:
        print(str(failed)[-4000:], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
