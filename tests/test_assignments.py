"""The graded assignments: teacher notebooks, the student release, the book pages, the grader's parts.

Grading real submissions in kernels is tests/test_grading.py; the built student
edition's part 作业 is checked at the end (``book`` marker).
"""

import ast
import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import grade  # noqa: E402
import setup_cell  # noqa: E402
import student_edition  # noqa: E402

import assignments as asg  # noqa: E402

# the definitions the issue asks for, with their signatures (the grader and the checks call them so)
SIGNATURES = {
    "bn_backprop": {"batchnorm_forward": "(x, gamma, beta, eps=1e-05)", "batchnorm_backward": "(dout, cache)",
                    "batchnorm_backward_alt": "(dout, cache)"},
    "bn_layer": {"BatchNorm": "(self, num_features, num_dims, eps=1e-05, momentum=0.1)"},
    "norm_family": {"group_norm": "(x, num_groups, gamma, beta, eps=1e-05)"},
    "bn_experiment": {"paired_interval": "(a, b, confidence=0.95)"},
}
WRITTEN = {"bn_backprop": 1, "bn_layer": 0, "norm_family": 1, "bn_experiment": 1}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    return out, asg.build_release(out)


def _signature(source, name):
    """``(args)`` of the function ``name`` (of ``__init__`` for a class) defined in ``source``."""
    node = next(n for n in ast.parse(source).body if getattr(n, "name", None) == name)
    if isinstance(node, ast.ClassDef):
        node = next(n for n in node.body if getattr(n, "name", None) == "__init__")
    return f"({ast.unparse(node.args)})"


def test_every_assignment_folder_is_listed():
    folders = sorted(p.name for p in (ROOT / "assignments").iterdir() if p.is_dir())
    assert folders == sorted(asg.ASSIGNMENTS) == sorted(SIGNATURES)


@pytest.mark.parametrize("name", asg.ASSIGNMENTS)
def test_teacher_notebook_is_clean_and_well_formed(name):
    nb = asg.load(name)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert not [c for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source == setup_cell.render(), "run `python tools/setup_cell.py`"
    items = asg.items(nb)
    assert sum(i.role == "hidden" for i in items) >= 4 and sum(i.role == "check" for i in items) >= 1
    assert sum(i.role == "written" for i in items) == WRITTEN[name]
    assert asg.title(nb).startswith("作业 ")


@pytest.mark.parametrize("name", asg.ASSIGNMENTS)
def test_answers_define_the_required_names_with_their_signatures(name):
    nb = asg.load(name)
    answers = asg.answers(nb)
    assert [n for names in answers.values() for n in names] == list(SIGNATURES[name])
    cells = {(c.metadata.get("grading") or {}).get("id"): c for c in nb.cells}
    for ident, names in answers.items():
        for defined in names:
            assert _signature(cells[ident].source, defined) == SIGNATURES[name][defined]


@pytest.mark.parametrize("name", asg.ASSIGNMENTS)
def test_student_notebook_has_stubs_and_no_solution_or_hidden_test(release, name):
    out, zips = release
    teacher, student = asg.load(name), nbformat.read(out / name / f"{name}.ipynb", as_version=4)
    nbformat.validate(student)
    text = "\n".join(c.source for c in student.cells)
    assert not asg.has_solution(text) and "hidden" not in str([c.metadata for c in student.cells])
    assert all(not c.get("outputs") for c in student.cells)
    # no line that only a hidden test or a solution has survives
    def outside(cell):  # what the teacher notebook shows besides the hidden tests and the solutions
        if asg.role(cell).get("role") == "hidden":
            return ""
        before, _, rest = cell.source.partition(asg.BEGIN)
        return before + rest.partition(asg.END)[2]

    public = {line.strip() for c in teacher.cells for line in outside(c).splitlines()}
    for cell in teacher.cells:
        meta = asg.role(cell)
        secret = []
        if meta.get("role") == "hidden":
            secret = cell.source.splitlines()
        elif meta.get("role") in ("answer", "written"):
            secret = cell.source.split(asg.BEGIN)[1].split(asg.END)[0].splitlines()
        secret = [line.strip() for line in secret if len(line.strip()) > 12 and line.strip() not in public]
        assert secret or meta.get("role") not in ("hidden", "answer", "written")
        leaked = [line for line in secret if line in {t.strip() for t in text.splitlines()}]
        assert not leaked, f"lines of {meta['id']} in the student notebook: {leaked}"
    stubs = [c for c in student.cells if asg.role(c).get("role") == "answer"]
    assert stubs and all("raise NotImplementedError" in c.source for c in stubs)
    # the visible checks are the teacher's, unchanged
    visible = [c.source for c in teacher.cells if asg.role(c).get("role") == "check"]
    assert visible == [c.source for c in student.cells if asg.role(c).get("role") == "check"]
    with zipfile.ZipFile(zips[name]) as z:
        assert z.namelist() == [f"{name}/{name}.ipynb"]
        assert z.read(f"{name}/{name}.ipynb") == (out / name / f"{name}.ipynb").read_bytes()


def test_release_is_reproducible(release, tmp_path):
    out, zips = release
    again = asg.build_release(tmp_path)
    assert all(again[name].read_bytes() == zips[name].read_bytes() for name in asg.ASSIGNMENTS)


def test_strip_solution_keeps_indentation_and_rejects_broken_markers():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    stub = '    raise NotImplementedError("还没有写：请在这个答案单元里完成它")'
    assert asg.strip_solution(source) == "def f(x):\n    # 在这里写你的代码\n" + stub
    assert asg.strip_solution("### BEGIN SOLUTION\n答案\n### END SOLUTION", "markdown") == asg.WRITTEN_STUB
    for broken in ("### BEGIN SOLUTION\nx", "### END SOLUTION", "### BEGIN SOLUTION\n### BEGIN SOLUTION"):
        with pytest.raises(asg.AssignmentError):
            asg.strip_solution(broken)


def test_roles_are_checked():
    cell = nbformat.v4.new_code_cell("x = 1", metadata={"grading": {"role": "check", "id": "a"}})
    with pytest.raises(asg.AssignmentError, match="points and a title"):
        asg.role(cell)
    cell.metadata["grading"] = {"role": "answr", "id": "a"}
    with pytest.raises(asg.AssignmentError, match="not one of"):
        asg.role(cell)
    with pytest.raises(asg.AssignmentError, match="unknown assignment"):
        asg.source_path("bn_nothing")


@pytest.mark.parametrize("name", asg.ASSIGNMENTS)
def test_book_page_says_what_to_do_the_points_and_where_to_download(name):
    nb = asg.load(name)
    page = asg.page(name, nb, f"{name}.zip")
    items = asg.items(nb)
    assert page.startswith(f"# {asg.title(nb)}\n") and f"{{download}}`{name}.zip <{name}.zip>`" in page
    assert f"共 {sum(i.points for i in items):g} 分" in page
    assert all(f"| {i.title} |" in page for i in items)
    assert not asg.has_solution(page)


def test_student_toc_gets_the_assignments_part_before_the_appendix():
    toc = student_edition.student_toc(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8")))
    captions = [p["caption"] for p in toc["parts"]]
    assert captions[-2:] == ["作业", "附录"]
    assert [c["file"] for c in toc["parts"][-2]["chapters"]] == [f"assignments/{n}" for n in asg.ASSIGNMENTS]


def test_assignment_pages_are_written_with_their_zips(tmp_path):
    student_edition.write_assignment_pages(tmp_path / "src", tmp_path / "release")
    for name in asg.ASSIGNMENTS:
        assert (tmp_path / "src" / "assignments" / f"{name}.zip").is_file()
        assert "{download}" in (tmp_path / "src" / "assignments" / f"{name}.md").read_text(encoding="utf-8")


# ------------------------------------------------------------------ the grader's parts (no kernel)


def test_discover_follows_nbgraders_layout(tmp_path):
    (tmp_path / "amy" / "bn_layer").mkdir(parents=True)
    (tmp_path / "amy" / "bn_layer" / "bn_layer.ipynb").write_text("{}")
    (tmp_path / "bob" / "norm_family").mkdir(parents=True)
    (tmp_path / "bob" / "norm_family" / "copy.ipynb").write_text("{}")
    (tmp_path / "bob" / "bn_layer").mkdir()
    for i in range(2):
        (tmp_path / "bob" / "bn_layer" / f"v{i}.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    found = {(s, a): (p, note) for s, a, p, note in grade.discover(tmp_path)}
    assert len(found) == 2 * len(asg.ASSIGNMENTS)
    assert found[("amy", "bn_layer")] == (tmp_path / "amy" / "bn_layer" / "bn_layer.ipynb", "")
    assert found[("amy", "bn_backprop")] == (None, "")
    path, note = found[("bob", "norm_family")]
    assert path.name == "copy.ipynb" and "copy.ipynb" in note
    assert found[("bob", "bn_layer")][0] is None and "2 个笔记本" in found[("bob", "bn_layer")][1]
    with pytest.raises(grade.GradingError, match="no student folders"):
        grade.discover(tmp_path / "amy" / "bn_layer")
    with pytest.raises(grade.GradingError, match="no submission in"):  # e.g. the release folder itself
        grade.discover(tmp_path / "amy")
    with pytest.raises(grade.GradingError, match="not a folder"):
        grade.discover(tmp_path / "nothing")


def test_assemble_runs_the_teachers_checks_and_the_students_answers_only():
    source = asg.load("bn_layer")
    student = asg.release_notebook(source)
    answer = next(c for c in student.cells if asg.role(c).get("role") == "answer")
    answer.source = "class BatchNorm:\n    pass  # mine"
    for cell in student.cells:
        if asg.role(cell).get("role") == "check":
            cell.source = "pass  # a check the student emptied"
    student.cells.append(nbformat.v4.new_code_cell("print('scratch')"))
    runs, written, notes = grade.assemble(source, student)
    kinds = [k for k, _, _ in runs]
    assert kinds.count("answer") == 1 and "class BatchNorm:\n    pass  # mine" in [c for _, _, c in runs]
    teacher = [c.source for c in source.cells if asg.role(c).get("role") in asg.SCORED]
    assert [c for k, _, c in runs if k in asg.SCORED] == teacher
    assert not any("scratch" in c or "student emptied" in c for _, _, c in runs)
    assert not written and not notes


def test_assemble_finds_an_answer_whose_metadata_was_lost_and_reports_a_missing_one():
    source = asg.load("norm_family")
    student = asg.release_notebook(source)
    answer = next(c for c in student.cells if asg.role(c).get("role") == "answer")
    del answer.metadata["grading"]
    answer.source = "import torch\n\ndef group_norm(x, num_groups, gamma, beta, eps=1e-5):\n    return x"
    runs, written, notes = grade.assemble(source, student)
    assert answer.source in [c for k, _, c in runs if k == "answer"] and not notes
    assert written[0]["answer"] == asg.WRITTEN_STUB
    student.cells.remove(answer)
    runs, _, notes = grade.assemble(source, student)
    assert "answer" not in [k for k, _, _ in runs] and "group_norm" in notes[0]


def test_errors_are_explained_in_chinese():
    assert grade.explain("CheckFailed", "dx：相对误差 1e-3") == "dx：相对误差 1e-3"
    assert "还没有实现" in grade.explain("NotImplementedError", "")
    assert "找不到名字" in grade.explain("NameError", "name 'f' is not defined")
    assert grade.explain("TypeError", "bad") == "运行出错：TypeError: bad"


def test_manual_grades_are_validated(tmp_path):
    path = tmp_path / "manual.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, grade.MANUAL_FIELDS)
        writer.writeheader()
        writer.writerow({"student": "amy", "assignment": "norm_family", "question": "q", "max_points": "4",
                         "points": "3.5", "comment": "好"})
        writer.writerow({"student": "bob", "assignment": "norm_family", "question": "q", "max_points": "4",
                         "points": "", "comment": ""})
    assert grade.read_manual(path) == {("amy", "norm_family", "q"): (3.5, "好"),
                                       ("bob", "norm_family", "q"): (None, "")}
    for bad, message in (("5", "outside 0..4"), ("三", "not a number")):
        path.write_text(path.read_text(encoding="utf-8").replace("3.5", bad), encoding="utf-8")
        with pytest.raises(grade.GradingError, match=message):
            grade.read_manual(path)
        path.write_text(path.read_text(encoding="utf-8").replace(bad, "3.5"), encoding="utf-8")


def test_make_targets():
    # -o: never (re)install the environment here
    make = ["make", "-o", ".venv/.installed"]
    result = subprocess.run([*make, "-n", "assignments", "grade", "SUBMISSIONS=subs"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert "tools/assignments.py" in result.stdout and 'tools/grade.py "subs"' in result.stdout
    result = subprocess.run([*make, "grade"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "usage: make grade SUBMISSIONS=<dir>" in result.stdout
    # the student notebooks open in JupyterLab with `make lab LAB_DIR=_build/assignments`
    result = subprocess.run([*make, "-n", "lab", "LAB_DIR=_build/assignments"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert "jupyter lab --ServerApp.root_dir=_build/assignments" in result.stdout


def test_readme_and_teachers_guide_name_the_commands_and_the_points():
    guide = (ROOT / "chapters" / "teaching.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for text in (guide, readme):
        assert "make assignments" in text and "make grade SUBMISSIONS=" in text
    for name in asg.ASSIGNMENTS:
        items = asg.items(asg.load(name))
        auto = sum(i.points for i in items if i.role in asg.SCORED)
        manual = sum(i.points for i in items if i.role == "written")
        row = next(line for line in guide.splitlines() if line.startswith(f"| `{name}`"))
        assert f"| {auto:g} 分 |" in row and (f"| {manual:g} 分" in row if manual else "| — |" in row), row


# ------------------------------------------------------------------ the built student edition


# as in tests/test_book.py: `make book-student-quick`'s output, or BN_BOOK_STUDENT_HTML
STUDENT_HTML = Path(os.environ.get("BN_BOOK_STUDENT_HTML") or ROOT / "_build" / "student-quick" / "html")


@pytest.mark.book
@pytest.mark.parametrize("name", asg.ASSIGNMENTS)
def test_student_edition_has_a_page_and_a_download_per_assignment(name):
    page = STUDENT_HTML / "assignments" / f"{name}.html"
    if not page.exists():
        pytest.fail(f"{page} is missing: run `make book-student-quick`")
    html = page.read_text(encoding="utf-8")
    assert asg.title(asg.load(name)) in html and "作业" in html
    downloads = list((STUDENT_HTML / "_downloads").glob(f"*/{name}.zip"))
    assert len(downloads) == 1 and f"{downloads[0].parent.name}/{name}.zip" in html
    with zipfile.ZipFile(downloads[0]) as z:
        nb = nbformat.reads(z.read(f"{name}/{name}.ipynb").decode(), as_version=4)
    assert not asg.has_solution("\n".join(c.source for c in nb.cells))
    assert not [c for c in nb.cells if asg.role(c).get("role") == "hidden"]
