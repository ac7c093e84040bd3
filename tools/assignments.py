"""Graded assignments: teacher notebooks in, student notebooks and zips out.

    python tools/assignments.py                  # `make assignments`: into _build/assignments/
    python tools/assignments.py --out DIR

Each assignment is one teacher notebook, ``assignments/<name>/<name>.ipynb``,
holding the instructions, the reference solution, the visible checks and the
hidden tests. A cell's role is in its metadata, ``"grading": {"role": ...}``:

``answer``  (``id``, ``defines``): the student's code. The reference solution sits
            between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
            markers); the student notebook has ``raise NotImplementedError`` there.
``written`` (``id``, ``points``, ``title``): a Markdown answer graded by hand;
            the model answer between the same markers is removed.
``check``   (``id``, ``points``, ``title``): a visible check; it scores its points
            when it runs without raising.
``hidden``  (``id``, ``points``, ``title``): a hidden test, scored like a check; it
            is left out of the student notebook and put back by ``tools/grade.py``.
``skip``    code the student runs but the grader does not (the experiment, timings).

Cells without a role (instructions, imports) go to the student as they are.
The release is ``<out>/<name>/<name>.ipynb`` and ``<out>/<name>.zip`` (holding
``<name>/<name>.ipynb``, the folder a submission keeps: nbgrader's layout).
"""

import argparse
import copy
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = ROOT / "assignments"
RELEASE_DIR = ROOT / "_build" / "assignments"
# in the order of the book's part 作业
ASSIGNMENTS = ("bn_backprop", "bn_layer", "norm_family", "bn_experiment")
ROLES = ("answer", "written", "check", "hidden", "skip")
SCORED = ("check", "hidden")
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = '# 在这里写你的代码\nraise NotImplementedError("还没有写：请在这个答案单元里完成它")'
WRITTEN_STUB = "（在这里写下你的回答）"
# a zip is the same bytes for the same notebook
ZIP_DATE = (2026, 1, 1, 0, 0, 0)


class AssignmentError(ValueError):
    """A teacher notebook that does not follow the format above."""


@dataclass(frozen=True)
class Item:
    """A scored part of an assignment: a check, a hidden test or a written question."""

    id: str
    role: str
    points: float
    title: str


def source_path(name, root=ROOT):
    """The teacher notebook of assignment ``name``."""
    if name not in ASSIGNMENTS:
        raise AssignmentError(f"unknown assignment {name!r}; the assignments are {', '.join(ASSIGNMENTS)}")
    return root / "assignments" / name / f"{name}.ipynb"


def load(name, root=ROOT):
    return nbformat.read(source_path(name, root), as_version=4)


def role(cell):
    """The cell's ``grading`` metadata (``{}`` for a cell without a role), checked."""
    meta = cell.metadata.get("grading") or {}
    if meta and meta.get("role") not in ROLES:
        raise AssignmentError(f"cell role {meta.get('role')!r} is not one of {ROLES}")
    if meta.get("role") in ("answer", "written", *SCORED) and not meta.get("id"):
        raise AssignmentError(f"a {meta['role']} cell has no id: {cell.source[:60]!r}")
    if meta.get("role") in ("written", *SCORED) and not (meta.get("points", 0) > 0 and meta.get("title")):
        raise AssignmentError(f"{meta['role']} cell {meta['id']!r} needs positive points and a title")
    if meta.get("role") == "answer" and not meta.get("defines"):
        raise AssignmentError(f"answer cell {meta['id']!r} must list the names it defines (defines)")
    return meta


def strip_solution(source, cell_type="code"):
    """``source`` with every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` replaced by a stub."""
    lines, out, start = source.splitlines(), [], None
    for i, line in enumerate(lines):
        if line.strip() == BEGIN:
            if start is not None:
                raise AssignmentError(f"{BEGIN} inside another one (line {i + 1})")
            start, indent = i, line[:len(line) - len(line.lstrip())]
        elif line.strip() == END:
            if start is None:
                raise AssignmentError(f"{END} without {BEGIN} (line {i + 1})")
            stub = CODE_STUB if cell_type == "code" else WRITTEN_STUB
            out.extend(indent + s for s in stub.splitlines())
            start = None
        elif start is None:
            out.append(line)
    if start is not None:
        raise AssignmentError(f"{BEGIN} (line {start + 1}) has no {END}")
    return "\n".join(out)


def has_solution(text):
    return BEGIN in text or END in text


def items(nb):
    """The scored parts of a teacher notebook, in order."""
    found = []
    for cell in nb.cells:
        meta = role(cell)
        if meta.get("role") in ("written", *SCORED):
            found.append(Item(meta["id"], meta["role"], float(meta["points"]), meta["title"]))
    ids = [item.id for item in found]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise AssignmentError(f"ids used twice: {duplicated}")
    return found


def answers(nb):
    """``{id: defined names}`` of the answer cells."""
    return {role(c)["id"]: list(role(c)["defines"]) for c in nb.cells if role(c).get("role") == "answer"}


def release_notebook(nb):
    """The student notebook: hidden tests dropped, solutions replaced by stubs, outputs cleared."""
    items(nb)  # checks the roles
    out = copy.deepcopy(nb)
    cells = []
    for cell in out.cells:
        kind = role(cell).get("role")
        if kind == "hidden":
            continue
        if kind in ("answer", "written"):
            if not has_solution(cell.source):
                raise AssignmentError(f"{kind} cell {role(cell)['id']!r} has no {BEGIN} ... {END}")
            cell.source = strip_solution(cell.source, cell.cell_type)
        elif has_solution(cell.source):
            raise AssignmentError(f"solution markers outside an answer cell: {cell.source[:60]!r}")
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    out.cells = cells
    return out


def title(nb):
    """The assignment's title: the first Markdown heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return m.group(1).strip()
    raise AssignmentError("no '# title' heading in the first Markdown cells")


def _points(p):
    return f"{p:g}"


def _total(auto, manual):
    text = f"共 {_points(auto + manual)} 分：自动评分 {_points(auto)} 分（公开检查与隐藏测试）"
    return text + (f"，人工评分 {_points(manual)} 分。" if manual else "。")


def page(name, nb, zip_name):
    """The student edition's page of an assignment (MyST): what to do, the points, the download."""
    parts = items(nb)
    intro = next(c.source for c in nb.cells if c.cell_type == "markdown")
    intro = re.sub(r"^#\s+.+\n*", "", intro, count=1, flags=re.M).strip()
    auto = sum(i.points for i in parts if i.role in SCORED)
    manual = sum(i.points for i in parts if i.role == "written")
    kinds = {"check": "自动（公开检查）", "hidden": "自动（隐藏测试）", "written": "人工"}
    rows = "\n".join(f"| {i.title} | {kinds[i.role]} | {_points(i.points)} |" for i in parts)
    defs = "、".join(f"`{n}`" for names in answers(nb).values() for n in names)
    return f"""# {title(nb)}

{intro}

## 下载与提交

- 下载笔记本：{{download}}`{zip_name} <{zip_name}>`（解压后是文件夹 `{name}/`，里面是 `{name}.ipynb`）。
- 在 JupyterLab 或 Colab 中打开它，在答案单元（写着 `raise NotImplementedError` 的单元）里写出 {defs}，
  每写完一个就运行紧跟着的检查单元。
- 交回整个 `{name}/` 文件夹（里面是你保存过的 `{name}.ipynb`）。评分时只运行答案单元和原有的检查，
  你自己添加的单元不会运行，所以辅助函数请写在答案单元里。

## 分值

{_total(auto, manual)}
隐藏测试不在你的笔记本里，评分时与公开检查一起运行；公开检查全部通过并不保证隐藏测试通过。

| 评分项 | 方式 | 分值 |
| --- | --- | --- |
{rows}
"""


def _write_zip(path, name, notebook_path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(f"{name}/{name}.ipynb", date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, notebook_path.read_bytes())


def build_release(out=RELEASE_DIR, root=ROOT):
    """Write every student notebook and zip into ``out``; return ``{name: zip path}``."""
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    zips = {}
    for name in ASSIGNMENTS:
        student = release_notebook(load(name, root))
        path = out / name / f"{name}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(student, path)
        zips[name] = out / f"{name}.zip"
        _write_zip(zips[name], name, path)
    return zips


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RELEASE_DIR, help="release folder (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        zips = build_release(args.out)
    except AssignmentError as exc:
        sys.exit(f"error in a teacher notebook: {exc}")
    for name, path in zips.items():
        parts = items(load(name))
        print(f"{name}: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
              f"({len(parts)} scored parts, {_points(sum(p.points for p in parts))} points)")


if __name__ == "__main__":
    main()
