"""tools/book_structure.py: the pages of _toc.yml, the exercises and the solutions."""

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_structure  # noqa: E402
import myst_blocks  # noqa: E402

TOC = """
format: jb-book
root: index
parts:
  - caption: A
    numbered: true
    chapters:
      - file: a/one
        sections:
          - file: a/one_s
      - file: a/two
  - caption: B
    numbered: true
    chapters:
      - file: b/three
  - caption: 附录
    chapters:
      - file: z/notes
chapters:
  - file: z/extra
"""


def test_pages_are_in_order_numbered_across_parts():
    assert book_structure.toc_pages(yaml.safe_load(TOC)) == [
        ("index", None), ("a/one", 1), ("a/one_s", None), ("a/two", 2), ("b/three", 3),
        ("z/notes", None), ("z/extra", None)]


def test_notebook_docnames_are_the_notebook_pages(tmp_path):
    (tmp_path / "_toc.yml").write_text(TOC)
    for name in ("index.md", "a/one.ipynb", "a/one_s.ipynb", "b/three.md", "z/extra.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert book_structure.docnames(tmp_path)[:3] == ["index", "a/one", "a/one_s"]
    assert book_structure.notebook_docnames(tmp_path) == ["a/one", "a/one_s", "z/extra"]


def test_the_real_book_has_its_chapters_numbered():
    numbers = dict(book_structure.pages(ROOT))
    assert numbers["chapters/00_preface"] is None and numbers["chapters/01_motivation"] == 1
    assert "chapters/01_motivation" in book_structure.notebook_docnames(ROOT)


def test_exercise_directives_are_found_at_any_depth_but_not_in_code():
    text = ("::::{note}\n:::{exercise}\n:label: ex-01-1\n问\n:::\n::::\n"
            "```python\n```{solution} ex-01-9\n```\n"
            "```{solution} ex-01-1 答案\n---\nclass: dropdown\n---\n答\n```\n")
    assert book_structure.exercise_directives(text) == [
        ("exercise", "", {"label": "ex-01-1"}), ("solution", "ex-01-1 答案", {"class": "dropdown"})]
    block = next(b for b in myst_blocks.parse(text) if getattr(b, "name", "") == "solution")
    assert book_structure.solution_target(block) == "ex-01-1"
    assert book_structure.has_solutions(text) and not book_structure.has_solutions(text.split("```python")[0])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# ```{solution} ex-01-1\n# ```"),
                                         nbformat.v4.new_markdown_cell("::::{note}\n:::{solution-end}\n:::\n::::")])
    assert book_structure.exercise_directives(nb) == [("solution-end", "", {})]
    assert book_structure.has_solutions(nb)
