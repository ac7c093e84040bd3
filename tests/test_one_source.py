"""One source of truth: code a chapter teaches in a ``# @save`` cell is the package's code.

Every top-level function or class in such a cell must be character-for-character
the source that ``d2lzh_pytorch`` ships under the same name.
"""

import ast
import inspect
import json
from pathlib import Path

import pytest

import d2lzh_pytorch

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
MARKER = "# @save"


def saved_definitions():
    """Yield (notebook, name, source) for each def/class in a ``# @save`` cell."""
    for path in sorted(CHAPTERS.glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] != "code" or not source.startswith(MARKER):
                continue
            lines = source.splitlines()
            for node in ast.parse(source).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    text = "\n".join(lines[node.lineno - 1:node.end_lineno])
                    yield path.name, node.name, text


SAVED = list(saved_definitions())


def test_the_from_scratch_chapter_saves_batch_norm():
    names = {(nb, name) for nb, name, _ in SAVED}
    assert ("03_from_scratch.ipynb", "batch_norm") in names
    assert ("03_from_scratch.ipynb", "BatchNorm") in names


@pytest.mark.parametrize("notebook, name, text", SAVED, ids=[f"{n}:{d}" for n, d, _ in SAVED])
def test_saved_code_equals_package_code(notebook, name, text):
    assert hasattr(d2lzh_pytorch, name), f"{notebook} saves {name}, which d2lzh_pytorch does not export"
    shipped = inspect.getsource(getattr(d2lzh_pytorch, name)).rstrip("\n")
    assert text == shipped, (
        f"{notebook}: the '# @save' cell's {name} differs from d2lzh_pytorch's; "
        f"change both together (the chapter shows the package's code)"
    )
