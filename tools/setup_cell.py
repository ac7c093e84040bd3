"""The first code cell of every chapter and assignment notebook, rendered from ``_config.yml``.

In Colab the cell installs the helper package from the book's repository
(``repository.url`` and ``repository.branch`` of ``_config.yml``, the one place
that names them); locally it does nothing. It is tagged ``remove-cell`` so the
HTML book does not show it.

    python tools/setup_cell.py          # write the cell into every chapter and assignment
    python tools/setup_cell.py --check  # exit 1 if a notebook's cell is missing or stale
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TAGS = ["remove-cell"]
TEMPLATE = '''\
# 环境准备：在 Colab 中安装本书的辅助包 d2lzh_pytorch（本地运行时什么也不做）
import subprocess
import sys

try:
    import google.colab  # noqa: F401  只有 Colab 里才有这个模块
    IN_COLAB = True
except ImportError:
    IN_COLAB = False
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "git+{url}@{branch}"], check=True)'''

# The first cell of the reader and student notebooks (tools/reader_notebooks.py): in Colab it
# installs the package's wheel published with them, and says clearly when that fails.
READER_TEMPLATE = '''\
# 环境准备：在 Colab 中安装本书的辅助包 d2lzh_pytorch（本地运行时什么也不做）
import subprocess
import sys

try:
    import google.colab  # noqa: F401  只有 Colab 里才有这个模块
    IN_COLAB = True
except ImportError:
    IN_COLAB = False
if IN_COLAB:
    # 与这些笔记本一同发布的辅助包（README 的“发布笔记本”一节）
    BASE = "{base}"
    PACKAGE = f"{{BASE}}/{wheel}"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", PACKAGE],
        capture_output=True, text=True)
    if pip.returncode != 0:
        raise RuntimeError(
            f"pip could not install the book's package from {{PACKAGE}}: "
            "check that this address is reachable (the notebooks and the "
            f"package are published there together).\\n{{pip.stderr[-2000:]}}")'''


def render_reader(base, wheel):
    """The setup cell of the reader and student notebooks: install ``<base>/<wheel>`` in Colab."""
    return READER_TEMPLATE.format(base=base.rstrip("/"), wheel=wheel)


def render(root=ROOT):
    """The setup cell's source for the repository named in ``root/_config.yml``."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repo = config["repository"]
    return TEMPLATE.format(url=repo["url"], branch=repo["branch"])


def chapter_paths(root=ROOT):
    chapters = root / "chapters"
    return sorted(chapters.glob("[0-9][0-9]_*.ipynb")) + sorted(chapters.glob("appendix_*.ipynb"))


def notebook_paths(root=ROOT):
    """The chapters and the teacher notebooks of the assignments (their student copies keep the cell)."""
    return chapter_paths(root) + sorted((root / "assignments").glob("*/*.ipynb"))


def is_setup_cell(cell):
    """A code cell that looks like a setup cell (current or stale)."""
    return cell.cell_type == "code" and "IN_COLAB" in cell.source and "pip" in cell.source


def sync(path, source):
    """Make the first code cell of the notebook at ``path`` the setup cell; True if it changed."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if code and is_setup_cell(nb.cells[code[0]]):
        cell = nb.cells[code[0]]
        if cell.source == source and sorted(cell.metadata.get("tags", [])) == sorted(TAGS):
            return False
        cell.source = source
        cell.metadata["tags"] = list(TAGS)
    else:
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(TAGS)})
        nb.cells.insert(code[0] if code else len(nb.cells), cell)
    nbformat.write(nb, path)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale notebooks")
    args = parser.parse_args(argv)
    source = render()
    if args.check:
        import nbformat

        stale = []
        for path in notebook_paths():
            code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
            if not code or code[0].source != source:
                stale.append(path.name)
        if stale:
            print(f"stale setup cell in {', '.join(stale)}: run `python tools/setup_cell.py`")
            return 1
        return 0
    changed = [path.name for path in notebook_paths() if sync(path, source)]
    print(f"setup cell written into {', '.join(changed)}" if changed else "every setup cell is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
