"""Notebook hygiene: what every chapter notebook must look like in git.

No stored outputs, a ``python3`` kernel, listed in ``_toc.yml``, the Colab setup
cell rendered by ``tools/setup_cell.py`` from ``_config.yml`` as the first code cell, and classroom exercises
whose solutions are hidden dropdowns. None of this needs the book to be built.
"""

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_structure  # noqa: E402
import setup_cell  # noqa: E402

SETUP_CELL, SETUP_TAGS = setup_cell.render(), setup_cell.TAGS
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
# appendices (chapters/appendix_*.ipynb) follow the same conventions but have no exercises
NOTEBOOKS = CHAPTERS + sorted((ROOT / "chapters").glob("appendix_*.ipynb"))
MIN_EXERCISES = 3

SETUP_URL = re.compile(r"git\+(?P<url>[^\"'@\s]+)@(?P<branch>[^\"'\s]+)")


def _read(path):
    return nbformat.read(path, as_version=4)


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def notebook(request):
    return request.param, _read(request.param)


def test_chapters_exist():
    assert CHAPTERS, f"no chapter notebooks (chapters/NN_name.ipynb) under {ROOT / 'chapters'}"


def test_no_stored_outputs(notebook):
    path, nb = notebook
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, (
        f"{path.name}: cells {dirty} have stored outputs or an execution count; notebooks are "
        "committed without outputs (the book build executes them). Clear them, e.g. "
        f"`jupyter nbconvert --clear-output --inplace chapters/{path.name}`")


def test_kernelspec_is_python3(notebook):
    path, nb = notebook
    name = nb.metadata.get("kernelspec", {}).get("name")
    assert name == "python3", f"{path.name}: kernelspec name is {name!r}, expected 'python3'"


def test_notebook_is_valid(notebook):
    path, nb = notebook
    nbformat.validate(nb)


def test_toc_lists_every_chapter(toc_docnames):
    listed = set(toc_docnames)
    missing = [p.name for p in NOTEBOOKS if f"chapters/{p.stem}" not in listed]
    assert not missing, f"chapters not listed in _toc.yml (add them to a part there): {missing}"
    absent = [d for d in toc_docnames
              if not (ROOT / f"{d}.ipynb").exists() and not (ROOT / f"{d}.md").exists()]
    assert not absent, f"_toc.yml lists files that do not exist (neither .ipynb nor .md): {absent}"


def test_first_code_cell_is_setup_cell(notebook):
    path, nb = notebook
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name}: no code cell"
    first = code[0]
    assert first.source == SETUP_CELL, (
        f"{path.name}: the first code cell is not the setup cell rendered from _config.yml; "
        "run `python tools/setup_cell.py` to write it into every chapter")
    tags = first.metadata.get("tags", [])
    assert sorted(tags) == sorted(SETUP_TAGS), (
        f"{path.name}: the setup cell has tags {tags}, expected {SETUP_TAGS} "
        "(remove-cell hides it in the HTML book)")


def test_setup_cell_installs_from_configured_repository(book_config):
    repo = book_config["repository"]
    m = SETUP_URL.search(SETUP_CELL)
    assert m and (m["url"], m["branch"]) == (repo["url"], repo["branch"])


def test_setup_cell_tool_writes_and_then_has_nothing_to_do(tmp_path):
    (tmp_path / "chapters").mkdir()
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 标题"),
                                         nbformat.v4.new_code_cell("print(1)")])
    path = tmp_path / "chapters" / "01_x.ipynb"
    nbformat.write(nb, path)
    source = setup_cell.render(tmp_path)
    assert setup_cell.sync(path, source)  # inserted before the first code cell
    assert not setup_cell.sync(path, source)  # a re-run is a no-op
    cells = nbformat.read(path, as_version=4).cells
    assert [c.cell_type for c in cells] == ["markdown", "code", "code"]
    assert cells[1].source == source and cells[1].metadata["tags"] == SETUP_TAGS
    assert setup_cell.sync(path, source.replace("@main", "@other"))  # a stale cell is replaced
    assert len(nbformat.read(path, as_version=4).cells) == 3


def test_exercises_have_hidden_solutions(notebook):
    path, nb = notebook
    if path not in CHAPTERS:
        pytest.skip("appendices have no exercises")
    chapter = path.stem[:2]
    found = book_structure.exercise_directives(nb)
    exercises = [opts.get("label", "") for name, _, opts in found if name == "exercise"]
    solutions = [(arg, opts) for name, arg, opts in found if name in ("solution", "solution-start")]
    gates = [name for name, _, _ in found if name in ("solution-start", "solution-end")]
    assert gates == ["solution-start", "solution-end"] * (len(gates) // 2) and len(gates) % 2 == 0, (
        f"{path.name}: every {{solution-start}} needs its own {{solution-end}} before the next one")
    assert len(exercises) >= MIN_EXERCISES, (
        f"{path.name}: {len(exercises)} exercises, at least {MIN_EXERCISES} expected")
    bad = [lab for lab in exercises if not re.fullmatch(rf"ex-{chapter}-\d+", lab)]
    assert not bad, f"{path.name}: exercise labels must be ex-{chapter}-k, got {bad}"
    targets = Counter(arg for arg, _ in solutions)
    unsolved = [lab for lab in exercises if targets[lab] != 1]
    assert not unsolved, f"{path.name}: exercises without exactly one solution: {unsolved}"
    stray = sorted(set(targets) - set(exercises))
    assert not stray, f"{path.name}: solutions for unknown exercises: {stray}"
    shown = [arg for arg, opts in solutions if "dropdown" not in opts.get("class", "").split()]
    assert not shown, (
        f"{path.name}: solutions {shown} would be shown open; give them `:class: dropdown`")


def test_exercise_labels_unique_across_book():
    labels = Counter()
    for path in CHAPTERS:
        labels.update(opts.get("label") for name, _, opts in book_structure.exercise_directives(_read(path))
                      if name == "exercise")
    dup = sorted(lab for lab, n in labels.items() if n > 1)
    assert not dup, f"exercise labels used more than once: {dup}"


def test_directive_parser_reads_plain_and_gated_solutions():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(":::{exercise}\n:label: ex-09-1\n问题\n:::"),
        nbformat.v4.new_markdown_cell("::::{solution} ex-09-1\n:class: dropdown\n答案\n::::"),
        nbformat.v4.new_markdown_cell(":::{exercise}\n:label: ex-09-2\n问题\n:::"),
        nbformat.v4.new_markdown_cell("```{solution-start} ex-09-2\n:class: dropdown\n```\n说明"),
        nbformat.v4.new_code_cell("print(1)"),
        nbformat.v4.new_markdown_cell("```{solution-end}\n```"),
    ])
    assert book_structure.exercise_directives(nb) == [
        ("exercise", "", {"label": "ex-09-1"}), ("solution", "ex-09-1", {"class": "dropdown"}),
        ("exercise", "", {"label": "ex-09-2"}), ("solution-start", "ex-09-2", {"class": "dropdown"}),
        ("solution-end", "", {})]


EXERCISE_REF = re.compile(r"\{ref\}`(?:(?P<title>[^`<]*?)\s*<)?(?P<label>ex-\d\d-\d+)>?`")


def _exercise_refs(text):
    """(title or None, label) of each {ref} to an exercise in a piece of Markdown."""
    return [(m["title"], m["label"]) for m in EXERCISE_REF.finditer(text)]


def test_exercise_ref_parser():
    text = "见{ref}`练习 8.5 <ex-08-5>`和 {ref}`ex-02-1`"
    assert _exercise_refs(text) == [("练习 8.5", "ex-08-5"), (None, "ex-02-1")]


def test_exercises_are_numbered_in_order(notebook):
    # the explicit reference titles below ("练习 C.k") rely on ex-CC-k being the k-th exercise
    path, nb = notebook
    labels = [opts.get("label", "") for name, _, opts in book_structure.exercise_directives(nb)
              if name == "exercise"]
    assert labels == [f"ex-{path.stem[:2]}-{k}" for k in range(1, len(labels) + 1)], (
        f"{path.name}: exercises must be labelled ex-{path.stem[:2]}-1, -2, ... in order, got {labels}")


def test_exercise_references_have_their_number_as_title():
    # a bare {ref}`ex-..` prints sphinx-exercise's number in HTML (after our own "练习": "练习 练习 2.1")
    # and "??" in the PDF; an explicit title reads the same in both
    pages = [(p.name, "\n".join(c.source for c in _read(p).cells if c.cell_type == "markdown"))
             for p in ROOT.glob("chapters/*.ipynb")]
    pages += [(p.name, p.read_text(encoding="utf-8")) for p in ROOT.glob("chapters/*.md")]
    bad = []
    for name, text in pages:
        for title, label in _exercise_refs(text):
            chapter, k = label.split("-")[1:]
            if title != f"练习 {int(chapter)}.{int(k)}":
                bad.append(f"{name}: {{ref}} to {label} titled {title!r}")
        bad += [f"{name}: “练习 练习”" for _ in re.finditer(r"练习\s*\{ref\}`练习", text)]
    assert not bad, "write exercise references as {ref}`练习 C.k <ex-CC-k>`:\n" + "\n".join(bad)
