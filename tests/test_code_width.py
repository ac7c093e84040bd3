"""Shown code fits the page: no code line the book shows is wider than 80 columns (tools/code_width.py)."""

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import code_width  # noqa: E402
import reader_notebooks  # noqa: E402
import setup_cell  # noqa: E402

code = nbformat.v4.new_code_cell


def test_columns_count_wide_characters_twice():
    assert code_width.columns("abc") == 3
    assert code_width.columns("批量 BN\n") == 7


def test_only_shown_cells_count():
    long = "x = " + "1" * 80
    nb = nbformat.v4.new_notebook(cells=[
        code(long), code(long, metadata={"tags": ["remove-input"]}),
        code(long, metadata={"tags": ["hide-cell"]}),
        code("short\n" + "# " + "批" * 40), nbformat.v4.new_markdown_cell(long)])
    assert [i for i, _ in code_width.shown_lines(nb)] == [0, 3, 3]
    assert [(i, w) for i, w, _ in code_width.long_lines(nb)] == [(0, 84), (3, 82)]


def test_the_setup_cells_fit():
    base = reader_notebooks.Publication.from_config(reader_notebooks.read_config()).base()
    reader = setup_cell.render_reader(base, reader_notebooks.wheel_name())
    assert max(code_width.columns(line) for line in reader.splitlines()) <= code_width.LIMIT


def test_report_and_command_line(tmp_path, capsys):
    nb = nbformat.v4.new_notebook(cells=[code("y = 1\n" + "z" * 81)])
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    assert code_width.report([path]) == {"01_x.ipynb": (2, 1)}
    assert code_width.main([str(path), "--list"]) == 1
    out = capsys.readouterr().out
    assert "1 of    2 shown code lines wider than 80 columns" in out and "cell   0 ( 81)" in out


@pytest.mark.xfail(strict=True, reason="chapters are reformatted on main (issue 22): 1033 of 4191 shown "
                                       "code lines were wider than 80 columns when this test was written")
def test_shown_code_fits_80_columns():
    counts = code_width.report(code_width.chapters())
    wide = {name: long for name, (_, long) in counts.items() if long}
    assert not wide, (f"shown code lines wider than {code_width.LIMIT} columns: {wide}; "
                      "see `python tools/code_width.py --list`")
