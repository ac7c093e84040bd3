"""Every ``d2l.`` name a chapter uses exists, even in cells or branches that never run here.

A branch taken only on machines with two GPUs once called a function that was never written;
nothing noticed, because the branch never ran. This reads every code cell's syntax tree instead.
"""

import ast
import json
from pathlib import Path

import pytest

import d2lzh_pytorch as d2l

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def python_source(cell_source):
    """A cell's code with IPython's magics and shell escapes blanked out (line numbers kept)."""
    lines = cell_source.splitlines()
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def d2l_names(tree):
    """Every dotted name ``d2l.a.b`` in ``tree``, with its line."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                parts.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id == "d2l":
                found.append((".".join(reversed(parts)), node.lineno))
    return found


def resolve(dotted):
    obj = d2l
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_d2l_name_in_a_chapter_exists(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    missing = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse(python_source("".join(cell["source"])))
        for dotted, line in d2l_names(tree):
            try:
                resolve(dotted)
            except AttributeError:
                missing.append(f"cell {index}, line {line}: d2l.{dotted}")
    assert not missing, f"{path.name} uses names the package does not have: {missing}"


def test_the_scan_finds_names_in_branches_that_never_run():
    tree = ast.parse(python_source("%matplotlib inline\nif False:\n    d2l.distributed.nothing_here(1)\n"))
    assert ("distributed.nothing_here", 3) in d2l_names(tree)
    with pytest.raises(AttributeError):
        resolve("distributed.nothing_here")
