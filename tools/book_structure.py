"""The book's structure, read in one place: its pages and its exercises and solutions.

* The pages come from ``_toc.yml`` (Jupyter Book's ``jb-book`` format): the root,
  then each part's chapters (and their sections), then top-level chapters; the
  chapters of a ``numbered`` part are numbered continuously across the parts.
* Exercises and solutions are sphinx-exercise's MyST directives (``{exercise}``,
  ``{solution}``, ``{solution-start}`` ... ``{solution-end}``), found with the
  block parser of ``tools/myst_blocks.py``.

Used by ``tools/build_book.py`` (which chapters execute), ``tools/reader_notebooks.py``
(chapter numbers, solution titles), ``tools/student_edition.py`` (removing the
solutions) and the tests (``tests/conftest.py``, ``tests/test_notebooks.py``).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from myst_blocks import Directive, MystStructureError, drop_teacher_only, parse  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ("solution", "solution-start", "solution-end")
EXERCISES = ("exercise",) + SOLUTIONS


# ----------------------------------------------------------------------------- _toc.yml


def read_toc(root=ROOT):
    """``<root>/_toc.yml`` as a dict."""
    import yaml

    return yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))


def toc_pages(toc):
    """(docname, chapter number or None) for every page of a ``_toc.yml`` dict, in order."""
    pages, number = [(toc["root"], None)], 0

    def walk(entries, numbered):
        nonlocal number
        for entry in entries or []:
            if "file" in entry:
                if numbered:
                    number += 1
                pages.append((entry["file"], number if numbered else None))
            walk(entry.get("sections"), False)
            walk(entry.get("chapters"), numbered)

    for part in toc.get("parts", []):
        walk(part.get("chapters"), part.get("numbered", False))
    walk(toc.get("chapters"), False)
    return pages


def pages(root=ROOT):
    """(docname, chapter number or None) for every page of ``<root>/_toc.yml``, in order."""
    return toc_pages(read_toc(root))


def docnames(root=ROOT):
    """The document names of ``<root>/_toc.yml``, e.g. ``chapters/01_motivation``, root first."""
    return [docname for docname, _ in pages(root)]


def notebook_docnames(root=ROOT):
    """The pages of ``<root>/_toc.yml`` that are notebooks (the ones that execute)."""
    return [d for d in docnames(root) if (root / f"{d}.ipynb").is_file()]


# ----------------------------------------------------------------------------- exercises and solutions


def markdown_texts(nb_or_text):
    """The Markdown of a notebook (its Markdown cells' sources) or of a text, as a list."""
    if isinstance(nb_or_text, str):
        return [nb_or_text]
    return [c.source for c in nb_or_text.cells if c.cell_type == "markdown"]


def _walk(text):
    """Every directive of ``text``, nested ones after the one that holds them."""
    for block in parse(text):
        if isinstance(block, Directive):
            yield block
            yield from _walk(block.body)


def exercise_directives(nb_or_text):
    """(name, argument, options) of every exercise and solution directive, in order, at any depth."""
    return [(b.name, b.arg, b.options) for text in markdown_texts(nb_or_text) for b in _walk(text)
            if b.name in EXERCISES]


def has_solutions(nb_or_text):
    """True when a notebook (or a text) contains a solution directive (at any depth)."""
    return any(name in SOLUTIONS for name, _, _ in exercise_directives(nb_or_text))


def solution_target(block):
    """The exercise label a ``{solution}`` or ``{solution-start}`` names (its first argument), or ``""``."""
    return block.arg.split()[0] if block.arg else ""


def strip_solutions(text, in_gate=False):
    """Remove the solutions from MyST text; return ``(text, in_gate)``.

    ``{solution}`` blocks go whole; everything from a ``{solution-start}`` to its
    ``{solution-end}`` goes too. ``in_gate`` is True while inside such a pair,
    which may span several notebook cells: pass the returned value on to the
    next cell. Teacher-only spans go as well (``myst_blocks.drop_teacher_only``).
    """
    kept = []
    for block in parse(drop_teacher_only(text)):
        name = block.name if isinstance(block, Directive) else None
        if name == "solution-end" and not in_gate:
            raise MystStructureError(f"{{solution-end}} without a {{solution-start}}: {block.raw.strip()!r}")
        if name == "solution-start" and in_gate:
            raise MystStructureError(f"{{solution-start}} inside another one: {block.raw.strip()!r}")
        if name in SOLUTIONS:
            in_gate = {"solution-start": True, "solution-end": False}.get(name, in_gate)
        elif not in_gate:
            kept.append(block.raw)
    return "".join(kept), in_gate
