"""The chapters' ``# @save`` cells are the source of the package's copies of their code.

    python tools/saved_code.py           # write every saved definition into d2lzh_pytorch
    python tools/saved_code.py --check   # list the definitions that differ; exit 1 if any

A code cell is *saved* when a line of its leading comment block (the comment and
blank lines before its first line of code) is ``# @save``. Every top-level
function, class (decorators included) and assignment in such a cell is, to the
character, the package's top-level definition of the same name, found in the
module of ``d2lzh_pytorch`` that defines it. Edit the chapter, then run this:
``tests/test_one_source.py`` checks that nothing differs.
"""

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "d2lzh_pytorch"
MARKER = re.compile(r"^\s*#\s*@save\b")
MAGIC = re.compile(r"^\s*[%!]")  # IPython magics and shell escapes are not Python
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def marker_line(source):
    """Index of the ``# @save`` line in the cell's leading comment block, or None."""
    for i, line in enumerate(source.splitlines()):
        if MARKER.match(line):
            return i
        if line.strip() and not line.lstrip().startswith("#"):
            return None  # the first line of code ends the leading comment block
    return None


def parse(source):
    """The source's AST, with IPython magic lines blanked out (line numbers kept)."""
    return ast.parse("\n".join("" if MAGIC.match(line) else line for line in source.splitlines()))


def _name(node):
    if isinstance(node, DEFINITIONS):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def top_level(source):
    """(name, first line, last line, text) of each top-level def, class and assignment to one name.

    Lines count from 1; a definition starts at its first decorator.
    """
    lines = source.splitlines()
    for node in parse(source).body:
        name = _name(node)
        if name is None:
            continue
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        yield name, first, node.end_lineno, "\n".join(lines[first - 1:node.end_lineno])


def code_cells(path):
    """(index, source) of each code cell of a notebook."""
    nb = nbformat.read(path, as_version=4)
    return [(i, cell.source) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def saved(notebooks):
    """(notebook name, cell index, name, text) of everything the ``# @save`` cells define."""
    for path in notebooks:
        for index, source in code_cells(path):
            if marker_line(source) is not None:
                for name, _, _, text in top_level(source):
                    yield path.name, index, name, text


def package_index(package=PACKAGE):
    """{name: (module path, first line, last line, text)} of the package's top-level definitions."""
    index = {}
    for path in sorted(package.glob("*.py")):
        for name, first, last, text in top_level(path.read_text(encoding="utf-8")):
            index.setdefault(name, (path, first, last, text))
    return index


def differences(notebooks, package=PACKAGE):
    """(notebook, cell, name, problem) for every saved definition the package lacks or has otherwise."""
    index = package_index(package)
    found = []
    for notebook, cell, name, text in saved(notebooks):
        if name not in index:
            found.append((notebook, cell, name, "not defined at the top level of any d2lzh_pytorch module"))
        elif index[name][3] != text:
            found.append((notebook, cell, name, f"differs from {index[name][0].relative_to(package.parent)}"))
    return found


def write(notebooks, package=PACKAGE):
    """Replace each package definition by the chapter's text; return the names written."""
    index = package_index(package)
    edits = {}
    for _, _, name, text in saved(notebooks):
        if name not in index:
            raise SystemExit(f"{name} is saved by a chapter but no d2lzh_pytorch module defines it: "
                             f"add it to the module it belongs in (and to that module's __all__) first")
        path, first, last, old = index[name]
        if old != text:
            edits.setdefault(path, []).append((first, last, text, name))
    written = []
    for path, changes in edits.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for first, last, text, name in sorted(changes, reverse=True):  # bottom up: line numbers hold
            lines[first - 1:last] = text.splitlines()
            written.append(name)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sorted(written)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list differences; exit 1 if any")
    args = parser.parse_args(argv)
    notebooks = sorted((ROOT / "chapters").glob("*.ipynb"))
    if args.check:
        found = differences(notebooks)
        for notebook, cell, name, problem in found:
            print(f"{notebook}, cell {cell}: {name} {problem}")
        return 1 if found else 0
    written = write(notebooks)
    print(f"wrote {len(written)} definition(s) into d2lzh_pytorch: {', '.join(written) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
