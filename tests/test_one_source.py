"""One source of truth: code a chapter teaches in a ``# @save`` cell is the package's code.

A code cell is *saved* when a line of its leading comment block (the comment and
blank lines before its first line of code) is the marker ``# @save`` (spaces
after ``#`` optional). Every top-level function or class in such a cell,
decorators included, must be character-for-character the source that
``d2lzh_pytorch`` ships under the same name; and once a chapter has defined a
name, its later cells use that definition, not ``d2l.<name>``.
"""

import ast
import inspect
import re
from pathlib import Path

import nbformat
import pytest

import d2lzh_pytorch

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb"))
MARKER = re.compile(r"^\s*#\s*@save\b")
ANY_MARKER = re.compile(r"@save")
MAGIC = re.compile(r"^\s*[%!]")  # IPython magics and shell escapes are not Python


def _code_cells(path):
    """(index, source) of each code cell of a notebook."""
    nb = nbformat.read(path, as_version=4)
    return [(i, cell.source) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def marker_line(source):
    """Index of the ``# @save`` line in the cell's leading comment block, or None."""
    for i, line in enumerate(source.splitlines()):
        if MARKER.match(line):
            return i
        if line.strip() and not line.lstrip().startswith("#"):
            return None  # the first line of code ends the leading comment block
    return None


def parse(source):
    """The cell's AST, with IPython magic lines blanked out (line numbers kept)."""
    return ast.parse("\n".join("" if MAGIC.match(line) else line for line in source.splitlines()))


def definitions(source):
    """(name, text) of each top-level def/class, text from its first decorator line."""
    lines = source.splitlines()
    for node in parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            yield node.name, "\n".join(lines[first - 1:node.end_lineno])


def saved_definitions():
    """Yield (notebook, cell index, name, source) for each def/class in a ``# @save`` cell."""
    for path in NOTEBOOKS:
        for index, source in _code_cells(path):
            if marker_line(source) is not None:
                for name, text in definitions(source):
                    yield path.name, index, name, text


SAVED = list(saved_definitions())


def test_the_from_scratch_chapter_saves_batch_norm():
    names = {(nb, name) for nb, _, name, _ in SAVED}
    assert ("03_from_scratch.ipynb", "batch_norm") in names
    assert ("03_from_scratch.ipynb", "BatchNorm") in names


@pytest.mark.parametrize("notebook, index, name, text", SAVED,
                         ids=[f"{nb}:{name}" for nb, _, name, _ in SAVED])
def test_saved_code_equals_package_code(notebook, index, name, text):
    assert hasattr(d2lzh_pytorch, name), f"{notebook} saves {name}, which d2lzh_pytorch does not export"
    shipped = inspect.getsource(getattr(d2lzh_pytorch, name)).rstrip("\n")
    assert text == shipped, (
        f"{notebook}, cell {index}: the '# @save' cell's {name} differs from d2lzh_pytorch's; "
        f"change both together (the chapter shows the package's code)"
    )


def stray_markers(cells):
    """'@save' anywhere in code cells except the recognised marker line of a saved cell."""
    stray = []
    for index, source in cells:
        recognised = marker_line(source)
        for i, line in enumerate(source.splitlines()):
            if ANY_MARKER.search(line) and i != recognised:
                stray.append(f"cell {index}, line {i + 1}: {line.strip()!r}")
    return stray


def uses_of_the_package_copy(cells):
    """``d2l.<name>`` in a cell after an earlier (or the same) saved cell defined ``name``."""
    defined, misuses = {}, []
    for index, source in cells:
        for node in ast.walk(parse(source)):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "d2l" and node.attr in defined):
                misuses.append(f"cell {index}, line {node.lineno}: d2l.{node.attr} "
                               f"(defined in cell {defined[node.attr]})")
        if marker_line(source) is not None:
            for name, _ in definitions(source):
                defined.setdefault(name, index)
    return misuses


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_save_marker_is_recognised(path):
    # a marker this test does not see would let a saved cell drift from the package silently
    stray = stray_markers(_code_cells(path))
    assert not stray, (
        f"{path.name}: '@save' that is not a '# @save' line in the cell's leading comment block "
        f"(before the first line of code), so the cell would not be checked: {stray}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_chapter_uses_its_own_saved_definitions(path):
    # after a chapter defines batch_norm, its later cells call batch_norm(...), not d2l.batch_norm(...)
    misuses = uses_of_the_package_copy(_code_cells(path))
    assert not misuses, (f"{path.name} uses the package's copy of names it has just defined; "
                         f"use its own definitions instead: {misuses}")


def test_the_guards_catch_what_they_should():
    cells = [(0, "y = d2l.f(1)  # before the definition: fine"),
             (1, "# @save\ndef f(x):\n    return x"),
             (2, "x = 1\n# @save\ndef g():\n    pass"),  # marker after code: not recognised
             (3, "%matplotlib inline\nw = f(3) + d2l.f(2)")]
    assert stray_markers(cells) == ["cell 2, line 2: '# @save'"]
    assert uses_of_the_package_copy(cells) == ["cell 3, line 2: d2l.f (defined in cell 1)"]


@pytest.mark.parametrize("source, line", [
    ("# @save\ndef f():\n    pass", 0),
    ("#@save\ndef f():\n    pass", 0),
    ("# a comment first\n\n#   @save\ndef f():\n    pass", 2),
    ("import torch  # @save\ndef f():\n    pass", None),
    ("x = 1\n# @save\ndef f():\n    pass", None),
    ("# @saved\ndef f():\n    pass", None),
])
def test_marker_line(source, line):
    assert marker_line(source) == line


def test_definitions_include_decorators():
    source = "# @save\nimport functools\n\n\n@functools.cache\n@staticmethod\ndef f():\n    return 1\n"
    assert list(definitions(source)) == [("f", "@functools.cache\n@staticmethod\ndef f():\n    return 1")]
