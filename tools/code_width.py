"""Shown code that does not fit the page: code lines wider than 80 columns, per chapter.

    python tools/code_width.py            # a table per chapter and the total
    python tools/code_width.py --list     # every long line, with its cell

The HTML book's code column holds about 75 characters (wider lines scroll
sideways) and the PDF wraps them. A code line is *shown* when its cell is not
tagged ``remove-input``, ``remove-cell``, ``hide-input`` or ``hide-cell`` (the
Colab setup cell is ``remove-cell``). Width is counted in display columns: a
Chinese character takes two, as in a monospaced font.
"""

import argparse
import sys
import unicodedata
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 80
HIDDEN = {"remove-input", "remove-cell", "hide-input", "hide-cell"}


def columns(line):
    """The display width of ``line`` (East Asian wide and full-width characters count two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line.rstrip("\n"))


def shown_lines(nb):
    """(cell index, line) for every line of the code cells the book shows."""
    return [(i, line) for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and not HIDDEN & set(cell.metadata.get("tags", []))
            for line in cell.source.splitlines()]


def long_lines(nb, limit=LIMIT):
    """(cell index, width, line) for the shown code lines wider than ``limit`` columns."""
    return [(i, columns(line), line) for i, line in shown_lines(nb) if columns(line) > limit]


def chapters(root=ROOT):
    return sorted((root / "chapters").glob("*.ipynb"))


def report(paths, limit=LIMIT):
    """{notebook name: (shown lines, lines over ``limit`` columns)}."""
    out = {}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        out[path.name] = (len(shown_lines(nb)), len(long_lines(nb, limit)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: chapters/*.ipynb")
    parser.add_argument("--limit", type=int, default=LIMIT)
    parser.add_argument("--list", action="store_true", help="print every long line")
    args = parser.parse_args(argv)
    paths = args.notebooks or chapters()
    counts = report(paths, args.limit)
    for path in paths:
        shown, long = counts[path.name]
        print(f"{path.name:28} {long:4} of {shown:4} shown code lines wider than {args.limit} columns")
        if args.list:
            for i, width, line in long_lines(nbformat.read(path, as_version=4), args.limit):
                print(f"    cell {i:3} ({width:3}): {line.strip()[:100]}")
    shown, long = sum(s for s, _ in counts.values()), sum(n for _, n in counts.values())
    print(f"{'total':28} {long:4} of {shown:4}")
    return 1 if long else 0


if __name__ == "__main__":
    sys.exit(main())
