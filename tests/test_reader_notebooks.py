"""The reader and student notebooks (tools/reader_notebooks.py): MyST turned into Markdown.

Small synthetic notebooks cover every role and directive the chapters use
(``test_the_synthetic_cases_cover_every_role_and_directive_of_the_chapters``
keeps that list honest); then every chapter is converted in both editions and
checked for leftover markup, its code and its exercises. Executing the
generated notebooks and opening them in JupyterLab are book tests
(tests/test_notebook_execution.py, tests/test_lab_notebooks.py).
"""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_structure  # noqa: E402
import myst_blocks  # noqa: E402
import reader_notebooks as rn  # noqa: E402
import setup_cell  # noqa: E402
import student_edition  # noqa: E402

md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
URL = "https://example.org/book"
BIB = "https://example.org/book/chapters/bibliography.html"
SETUP = setup_cell.render_reader("http://127.0.0.1:1/x", rn.wheel_name())
# what the synthetic cases below exercise: the chapters may use no other role or directive
COVERED_ROLES = {"ref", "doc", "cite", "cite:p", "cite:t", "numref", "math"}
COVERED_DIRECTIVES = {"exercise", "solution", "solution-start", "solution-end", "note", "warning",
                      "admonition", "figure", "math", "code-block"}


@pytest.fixture
def book():
    b = rn.Book(URL, bibliography="chapters/bibliography")
    b.titles.update({"chapters/01_a": "第一章", "chapters/02_b": "第二章",
                     "chapters/bibliography": "参考文献"})
    b.numbers.update({"chapters/01_a": 1, "chapters/02_b": 2, "chapters/bibliography": None})
    b.labels.update({"sec-a": ("chapters/01_a", "一节"), "ex-02-1": ("chapters/02_b", "练习 2.1"),
                     "ex-02-2": ("chapters/02_b", "练习 2.2")})
    b.citations.update({"ioffe2015batch": "Ioffe & Szegedy, 2015", "wu2018group": "Wu & He, 2018"})
    return b


def _page(book, docname="chapters/02_b"):
    return rn.Page(book, docname)


def _one(text, book, docname="chapters/02_b"):
    pieces = rn.convert_markdown(text, _page(book, docname))
    assert len(pieces) == 1, pieces
    return pieces[0][0]


# ----------------------------------------------------------------------------- roles


def test_ref_with_and_without_title(book):
    out = _one("见{ref}`练习 2.1 <ex-02-1>`和 {ref}`sec-a`。", book)
    assert out == (f"见[练习 2.1]({URL}/chapters/02_b.html#ex-02-1)和 "
                   f"[一节]({URL}/chapters/01_a.html#sec-a)。")


def test_numref_links_like_ref(book):
    assert _one("{numref}`sec-a`", book) == f"[一节]({URL}/chapters/01_a.html#sec-a)"


def test_doc_relative_absolute_titled_and_bare(book):
    out = _one("{doc}`第 1 章 <01_a>`、{doc}`01_a`、{doc}`/chapters/02_b`", book)
    assert out == (f"[第 1 章]({URL}/chapters/01_a.html)、[第一章]({URL}/chapters/01_a.html)、"
                   f"[第二章]({URL}/chapters/02_b.html)")


def test_citations_are_author_year_linked_to_the_bibliography(book):
    assert _one("BN {cite}`ioffe2015batch`。", book) == f"BN ([Ioffe & Szegedy, 2015]({BIB}))。"
    assert _one("{cite:p}`ioffe2015batch,wu2018group`", book) == (
        f"([Ioffe & Szegedy, 2015]({BIB}); [Wu & He, 2018]({BIB}))")
    assert _one("{cite:t}`wu2018group` 提出", book) == f"[Wu & He (2018)]({BIB}) 提出"


def test_math_role(book):
    assert _one("{math}`x^2`", book) == "$x^2$"


def test_inline_code_and_code_fences_are_left_alone(book):
    text = "写作 `{ref}` 或 ``{cite}`key` ``\n\n```md\n:::{exercise}\n{ref}`sec-a`\n:::\n```"
    assert _one(text, book) == text


def test_targets_comments_and_block_breaks_are_dropped(book):
    out = _one("(sec-b)=\n## 标题\n% 注释\n+++\n正文", book)
    assert out == "## 标题\n正文"


def test_equation_labels_are_dropped(book):
    assert _one("$$\nx = 1\n$$ (eq-x)\n", book) == "$$\nx = 1\n$$"


@pytest.mark.parametrize("text, what", [
    ("{ref}`nowhere`", "names no label"),
    ("{doc}`99_missing`", "names no page"),
    ("{cite}`nobody2000`", "not in the .bib"),
    ("{term}`BN`", "the role {term}"),
    (":::{glossary}\nBN\n:::", "the directive {glossary}"),
    ("::::{solution} ex-09-9\n答案\n::::", "names no exercise"),
])
def test_what_cannot_be_converted_is_a_clear_error(book, text, what):
    with pytest.raises(rn.UnsupportedMyst, match=re.escape(what)):
        rn.convert_markdown(text, _page(book))


# ----------------------------------------------------------------------------- directives


@pytest.mark.parametrize("fence", [":::", "::::", "```"])
def test_exercise_becomes_a_numbered_heading_below_its_section(book, fence):
    page = _page(book)
    text = f"## 练习\n\n{fence}{{exercise}}\n:label: ex-02-1\n问题 {{ref}}`sec-a`\n{fence}"
    pieces = rn.convert_markdown(text, page)
    assert pieces == [("## 练习", False),
                      (f"### 练习 2.1\n\n问题 [一节]({URL}/chapters/01_a.html#sec-a)", False)]


def test_exercise_with_a_title(book):
    assert rn.convert_markdown(":::{exercise} 并行公式\n:label: ex-02-1\n问题\n:::", _page(book))[0][0] == (
        "## 练习 2.1：并行公式\n\n问题")


def test_solution_folds_into_details_with_its_code_block(book):
    text = ("::::{solution} ex-02-1\n:class: dropdown\n答案 $x$\n\n```python\nx = 1\n```\n::::\n后文")
    out = _one(text, book)
    assert out == ("<details>\n<summary>练习 2.1 的解答</summary>\n\n答案 $x$\n\n```python\nx = 1\n```\n\n"
                   "</details>\n后文")


def test_gated_solution_spanning_cells_is_a_collapsed_heading(book):
    nb = nbformat.v4.new_notebook(cells=[
        code(setup_cell.render()),
        md("## 练习\n\n:::{exercise}\n:label: ex-02-1\n问题\n:::\n\n"
           "```{solution-start} ex-02-1\n:class: dropdown\n```\n解答开头"),
        code("secret = 42"),
        md("解答结尾\n```{solution-end}\n```\n:::{exercise}\n:label: ex-02-2\n问题二\n:::"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    out = rn.convert_notebook(nb, "chapters/02_b", book, SETUP)
    got = [(c.cell_type, c.source) for c in out.cells]
    assert got == [("code", SETUP), ("markdown", "## 练习"), ("markdown", "### 练习 2.1\n\n问题"),
                   ("markdown", "#### 练习 2.1 的解答"), ("markdown", "解答开头"), ("code", "secret = 42"),
                   ("markdown", "解答结尾"), ("markdown", "### 练习 2.2\n\n问题二")]
    heading = out.cells[3]
    assert not out.cells[4].metadata
    assert heading.metadata["jp-MarkdownHeadingCollapsed"] is True
    assert out.metadata["colab"]["collapsed_sections"] == [heading.id] == [heading.metadata["id"]]
    student = rn.convert_notebook(nb, "chapters/02_b", book, SETUP, "student")
    assert [c.source for c in student.cells] == [SETUP, "## 练习", "### 练习 2.1\n\n问题",
                                                 "### 练习 2.2\n\n问题二"]


def test_admonitions_become_quotes_or_details(book):
    assert _one(":::{note}\n第一行\n\n第二行\n:::", book) == "> **注意**\n>\n> 第一行\n>\n> 第二行"
    assert _one("```{warning}\n小心 {ref}`sec-a`\n```", book) == (
        f"> **警告**\n>\n> 小心 [一节]({URL}/chapters/01_a.html#sec-a)")
    assert _one(":::{admonition} 小贴士\n:class: dropdown\n内容\n:::", book) == (
        "<details>\n<summary>小贴士</summary>\n\n内容\n\n</details>")


def test_figure_and_math_and_code_block(book):
    assert _one("```{figure} ../images/bn.png\n:name: fig-bn\n:alt: BN\n一张图\n```", book) == (
        f"![BN]({URL}/_images/bn.png)\n\n*一张图*")
    assert _one("```{math}\n:label: eq-bn\ny = x\n```", book) == "$$\ny = x\n$$"
    assert _one("```{code-block} python\nx = 1\n```", book) == "```python\nx = 1\n```"


def test_teacher_only_markers_go_in_the_reader_and_their_text_in_the_student_notebook(book):
    nb = nbformat.v4.new_notebook(cells=[md(
        "先做。<!-- not-in-student-edition -->点击“解答”展开。<!-- /not-in-student-edition -->\n结尾")])
    reader = rn.convert_notebook(nb, "chapters/02_b", book, SETUP)
    student = rn.convert_notebook(nb, "chapters/02_b", book, SETUP, "student")
    assert reader.cells[1].source == "先做。点击“解答”展开。\n结尾"
    assert student.cells[1].source == "先做。\n结尾"


def test_cells_keep_their_code_and_lose_their_outputs(book):
    shown = code("print(1)")
    shown.outputs = [nbformat.v4.new_output("stream", text="1\n")]
    shown.execution_count = 3
    hidden = code("d2l.show_markdown('x')", metadata={"tags": ["remove-input"]})
    nb = nbformat.v4.new_notebook(cells=[code(setup_cell.render(), metadata={"tags": ["remove-cell"]}),
                                         shown, hidden])
    out = rn.convert_notebook(nb, "chapters/02_b", book, SETUP)
    assert [c.source for c in out.cells] == [SETUP, "print(1)", "d2l.show_markdown('x')"]
    assert all(c.outputs == [] and c.execution_count is None for c in out.cells)
    assert out.cells[2].metadata["jupyter"] == {"source_hidden": True}
    assert "jupyter" not in out.cells[1].metadata


def test_leftover_markup_is_found():
    assert rn.leftover_markup(":::{exercise}\nx\n:::") == [":::{exercise}"]
    assert rn.leftover_markup("见 {ref}`a`\n(label)=\n:class: dropdown") == ["{ref}`", "(label)=", ":class:"]
    assert rn.leftover_markup("`{ref}` 在代码里\n\n```\n:::{note}\n```") == []


# ----------------------------------------------------------------------------- the chapters


def _chapter_usage():
    roles, directives = set(), set()
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                roles |= {m["role"] for m in rn.INLINE.finditer(cell.source) if m["role"]}

                def walk(text):
                    for block in myst_blocks.parse(text):
                        if isinstance(block, myst_blocks.Directive):
                            directives.add(block.name)
                            walk(block.body)

                walk(cell.source)
    return roles, directives


def test_the_synthetic_cases_cover_every_role_and_directive_of_the_chapters():
    roles, directives = _chapter_usage()
    assert roles and directives
    assert roles <= COVERED_ROLES, f"roles without a test here: {sorted(roles - COVERED_ROLES)}"
    untested = sorted(directives - COVERED_DIRECTIVES)
    assert not untested, f"directives without a test here: {untested}"


@pytest.fixture(scope="module")
def real_book():
    return rn.load_book()


def test_the_book_index(real_book):
    assert real_book.numbers["chapters/04_lenet_bn"] == 4
    assert real_book.numbers["chapters/appendix_notes"] is None
    assert real_book.labels["ex-04-2"] == ("chapters/04_lenet_bn", "练习 4.2")
    assert real_book.labels["ch07-lr"][0] == "chapters/07_fashion_mnist"
    assert real_book.bibliography == "chapters/bibliography"
    assert real_book.citations["ioffe2015batch"] == "Ioffe & Szegedy, 2015"
    assert real_book.citations["goyal2017accurate"] == "Goyal et al., 2017"
    assert real_book.url == rn.Publication.from_config(rn.read_config()).book_url


CHAPTERS = book_structure.notebook_docnames()


def _exercises(nb):
    heading = re.compile(r"^#{2,6} 练习 [\d.]+(?:：.*)?$", re.M)
    return sum(len(heading.findall(c.source)) for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("docname", CHAPTERS, ids=[Path(d).name for d in CHAPTERS])
def test_every_chapter_converts_in_both_editions(docname, real_book):
    source = nbformat.read(ROOT / f"{docname}.ipynb", as_version=4)
    raw = sum(len(rn.leftover_markup(c.source)) for c in source.cells if c.cell_type == "markdown")
    exercises = sum(c.source.count("{exercise}") for c in source.cells if c.cell_type == "markdown")
    code_cells = [c.source for c in source.cells if c.cell_type == "code" and not setup_cell.is_setup_cell(c)]
    student_code = [c.source for c in student_edition.strip_notebook(source).cells
                    if c.cell_type == "code" and not setup_cell.is_setup_cell(c)]
    for edition, expected_code in (("reader", code_cells), ("student", student_code)):
        nb = rn.convert_notebook(source, docname, real_book, SETUP, edition)
        left = [m for c in nb.cells if c.cell_type == "markdown" for m in rn.leftover_markup(c.source)]
        assert not left, f"{edition}: MyST left: {left[:5]}"
        assert nb.cells[0].source == SETUP and nb.cells[0].cell_type == "code"
        assert [c.source for c in nb.cells[1:] if c.cell_type == "code"] == expected_code
        code_out = [c for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not code_out
        assert _exercises(nb) == exercises
        assert nb.metadata["kernelspec"]["name"] == "python3"
        text = "\n".join(c.source for c in nb.cells)
        assert "not-in-student-edition" not in text
        if edition == "student":
            assert "的解答" not in text and "<details>" not in text
    if exercises:
        assert raw > 0  # the control: the source has markup the check finds


def test_make_notebooks_writes_both_editions_without_the_wheel(tmp_path):
    written = rn.write_notebooks(tmp_path, wheel=False)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in written)
    assert names == sorted(f"{e}/{Path(d).name}.ipynb" for e in rn.EDITIONS for d in CHAPTERS)
    nb = nbformat.read(tmp_path / "reader" / "04_lenet_bn.ipynb", as_version=4)
    publication = rn.Publication.from_config(rn.read_config())
    assert f'BASE = "{publication.base()}"' in nb.cells[0].source
    result = subprocess.run(["make", "-n", "notebooks"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "tools/reader_notebooks.py" in result.stdout


def test_the_published_location_comes_from_config():
    config = rn.read_config()
    publication = rn.Publication.from_config(config)
    repo = config["repository"]["url"]
    assert publication.base() == f"{repo}/raw/{config['notebooks']['branch']}"
    org_repo = repo.split("github.com/")[1]
    assert publication.colab("student", "04_lenet_bn") == (
        f"https://colab.research.google.com/github/{org_repo}/blob/{config['notebooks']['branch']}"
        "/student/04_lenet_bn.ipynb")
    with pytest.raises(rn.UnsupportedMyst, match="notebooks.branch"):
        rn.Publication.from_config({"repository": {"url": repo}, "html": {"baseurl": URL}})
