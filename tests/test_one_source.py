"""One source of truth: code a chapter teaches in a ``# @save`` cell is the package's code.

A code cell is *saved* when a line of its leading comment block (the comment and
blank lines before its first line of code) is the marker ``# @save`` (spaces
after ``#`` optional). Every top-level function or class in such a cell,
decorators included, must be character-for-character the source that
``d2lzh_pytorch`` ships under the same name; and once a chapter has defined a
name, its later cells use that definition, not ``d2l.<name>``.
"""

import ast
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from saved_code import code_cells as _code_cells  # noqa: E402
from saved_code import differences, marker_line, package_index, parse, saved, top_level, write  # noqa: E402

CHAPTERS = ROOT / "chapters"
NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb"))
ANY_MARKER = re.compile(r"@save")


def definitions(source):
    """(name, text) of each top-level def/class/assignment, text from its first decorator line."""
    return [(name, text) for name, _, _, text in top_level(source)]


SAVED = list(saved(NOTEBOOKS))
PACKAGE = package_index()


def test_the_from_scratch_chapter_saves_batch_norm():
    names = {(nb, name) for nb, _, name, _ in SAVED}
    assert ("03_from_scratch.ipynb", "batch_norm") in names
    assert ("03_from_scratch.ipynb", "BatchNorm") in names


@pytest.mark.parametrize("notebook, index, name, text", SAVED,
                         ids=[f"{nb}:{name}" for nb, _, name, _ in SAVED])
def test_saved_code_equals_package_code(notebook, index, name, text):
    import d2lzh_pytorch

    assert hasattr(d2lzh_pytorch, name), f"{notebook} saves {name}, which d2lzh_pytorch does not export"
    assert name in PACKAGE, f"{notebook} saves {name}, which no d2lzh_pytorch module defines at its top level"
    assert text == PACKAGE[name][3], (
        f"{notebook}, cell {index}: the '# @save' cell's {name} differs from d2lzh_pytorch's "
        f"({PACKAGE[name][0].name}). The chapter is the source: edit the chapter, then run "
        f"`python tools/saved_code.py` to write it into the package")


def test_module_level_assignments_are_compared_too():
    names = {name for _, _, name, _ in SAVED}
    assert "NORM_KINDS" in names  # chapter 8 saves a tuple, not only functions and classes


def test_the_tool_writes_a_chapter_edit_into_the_package(tmp_path):
    package = tmp_path / "d2lzh_pytorch"
    shutil.copytree(ROOT / "d2lzh_pytorch", package, ignore=shutil.ignore_patterns("__pycache__"))
    nb = nbformat.read(CHAPTERS / "08_relatives.ipynb", as_version=4)
    index = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
                 and "NORM_KINDS =" in cell.source and marker_line(cell.source) is not None)
    nb.cells[index].source = nb.cells[index].source.replace(
        'NORM_KINDS = ("batch", "layer", "instance", "group")',
        'NORM_KINDS = ("batch", "layer", "instance", "group", "new")')
    edited = tmp_path / "08_relatives.ipynb"
    nbformat.write(nb, edited)
    assert [d[2] for d in differences([edited], package)] == ["NORM_KINDS"]
    assert write([edited], package) == ["NORM_KINDS"]
    assert 'NORM_KINDS = ("batch", "layer", "instance", "group", "new")' in (package / "norms.py").read_text()
    assert differences([edited], package) == []
    assert write([edited], package) == []  # nothing left to write


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
    assert definitions("# @save\nX = (1,\n     2)\na, b = 1, 2\n") == [("X", "X = (1,\n     2)")]
