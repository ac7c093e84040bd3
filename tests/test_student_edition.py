"""The student edition's sources: solutions removed, exercises kept (tools/student_edition.py).

The built student edition is checked in a browser by tests/test_book.py.
"""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_structure  # noqa: E402
import myst_blocks  # noqa: E402
import student_edition as se  # noqa: E402

md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))


def _exercise(label):
    return f":::{{exercise}}\n:label: {label}\n问题 {label}\n:::"


def test_plain_solution_in_the_exercise_cell_is_removed():
    text = (_exercise("ex-09-1")
            + "\n\n::::{solution} ex-09-1\n:class: dropdown\n答案\n```python\nx = 1\n```\n::::\n后文")
    stripped, in_gate = book_structure.strip_solutions(text)
    assert not in_gate
    assert "答案" not in stripped and "x = 1" not in stripped and "{solution}" not in stripped
    assert "问题 ex-09-1" in stripped and stripped.rstrip().endswith("后文")


def test_backtick_solution_ends_at_its_own_fence():
    text = "```{solution} ex-09-1\n:class: dropdown\n答案\n```\n留下"
    assert book_structure.strip_solutions(text) == ("留下", False)


def test_shorter_colon_fence_inside_does_not_close_the_solution():
    text = "::::{solution} ex-09-1\n:::{note}\n内层\n:::\n还是答案\n::::\n留下"
    assert book_structure.strip_solutions(text)[0] == "留下"


def test_gated_solution_spanning_cells_is_removed_with_its_code():
    nb = nbformat.v4.new_notebook(cells=[
        md("前文"),
        md(_exercise("ex-09-2") + "\n\n```{solution-start} ex-09-2\n:class: dropdown\n```\n解答开头"),
        code("secret = 42"),
        md("解答中间"),
        md("解答结尾\n```{solution-end}\n```\n之后的正文"),
        code("print('kept')"),
    ])
    out = se.strip_notebook(nb)
    sources = [c.source for c in out.cells]
    assert sources[0] == "前文" and "问题 ex-09-2" in sources[1]
    assert sources[2:] == ["之后的正文", "print('kept')"]
    assert not any("secret" in s or "解答" in s for s in sources)
    assert len(nb.cells) == 6  # the input is not changed


def test_cells_left_empty_are_dropped():
    nb = nbformat.v4.new_notebook(cells=[md("::::{solution} ex-09-1\n答案\n::::"), code("x = 1")])
    assert [c.cell_type for c in se.strip_notebook(nb).cells] == ["code"]


@pytest.mark.parametrize("text", [
    "::::{solution} ex-09-1\n答案",  # no closing fence
    "```{solution-end}\n```",  # an end without a start
    "```{solution-start} a\n```\n```{solution-start} b\n```",  # nested starts
    "<!-- not-in-student-edition -->\n关于解答的话",  # unpaired marker
])
def test_malformed_solutions_are_errors(text):
    with pytest.raises(myst_blocks.MystStructureError):
        book_structure.strip_solutions(text)


def test_unterminated_gate_in_a_notebook_is_an_error():
    nb = nbformat.v4.new_notebook(cells=[md("```{solution-start} ex-09-1\n```"), code("x = 1")])
    with pytest.raises(myst_blocks.MystStructureError, match="solution-end"):
        se.strip_notebook(nb)


def test_teacher_only_spans_are_removed_inline_and_across_lines():
    text = ("先做练习。<!-- not-in-student-edition -->点击“解答”展开。<!-- /not-in-student-edition -->\n"
            "<!-- not-in-student-edition -->\n教师看的段落\n<!-- /not-in-student-edition -->\n结尾")
    assert book_structure.strip_solutions(text)[0] == "先做练习。\n结尾"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_chapter_loses_its_solutions_and_keeps_its_exercises(path):
    nb = nbformat.read(path, as_version=4)
    out = se.strip_notebook(nb)
    assert not book_structure.has_solutions(out)

    def exercises(n):
        return sum(c.source.count("{exercise}") for c in n.cells if c.cell_type == "markdown")

    assert exercises(out) == exercises(nb)
    # a solution may share its cell with the exercise: compare the text, not cells
    if book_structure.has_solutions(nb):
        def text(n):
            return sum(len(c.source) for c in n.cells)

        assert text(out) < text(nb)


def test_student_toc_and_config():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    student = se.student_toc(toc)
    files = yaml.safe_dump(student)
    assert all(page not in files for page in se.TEACHER_PAGES)
    assert "chapters/01_motivation" in files and student["root"] == toc["root"]
    config = se.student_config(yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8")))
    assert config["execute"]["execute_notebooks"] == "off"
    # the Colab and download buttons serve the student notebooks (tools/sphinx_notebooks.py)
    assert config["notebooks"]["edition"] == "student" and config["launch_buttons"]["colab_url"]
    assert config["title"].endswith("（学生版）")
    for folder in config["sphinx"]["local_extensions"].values():  # built from _build/student/src
        assert Path(folder).is_absolute() and Path(folder).is_dir()


def test_make_targets_build_the_student_edition_from_the_cache():
    result = subprocess.run(["make", "-n", "book-student", "book-student-quick"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert "tools/student_edition.py --mode full" in result.stdout
    assert "tools/student_edition.py --mode quick" in result.stdout


def test_the_editions_are_published_as_build_edition_html():
    # _build/<edition>/html as build_book.output_dir: student, student-quick (quick, the full book aside)
    assert se.student_dir("full", ROOT) == ROOT / "_build" / "student"
    assert se.student_dir("quick", ROOT) == ROOT / "_build" / "student-quick"
