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


def test_shown_code_fits_80_columns():
    counts = code_width.report(code_width.chapters())
    wide = {name: long for name, (_, long) in counts.items() if long}
    assert not wide, (f"shown code lines wider than {code_width.LIMIT} columns: {wide}; "
                      "run `python tools/wrap_code.py` on them (`tools/code_width.py --list` lists them)")


# --- tools/wrap_code.py: shown code made to fit, code unchanged -------------------

import wrap_code  # noqa: E402


def test_claim_cells_are_recognised():
    check = ('gap = a - b\nd2l.claim(gap > 0, "A 比 B 大", evidence=f"{gap:.2f}")')
    assert wrap_code.is_claim_cell(check)
    assert wrap_code.is_claim_cell('display(d2l.claim(x > 0, "x 是正数"))')
    helper = 'def pp(d):\n    return f"{d:+.1f}"\n'
    assert wrap_code.is_claim_cell(helper + 'd2l.claim(1 > 0, "s", evidence=pp(1))')
    # a name a later cell reads is not a claim's helper: the cell stays shown
    assert not wrap_code.is_claim_cell(check, ["print(gap)"])
    assert wrap_code.is_claim_cell(check, ["gap = 2\nprint(gap)", "[gap for gap in range(3)]"])
    # cells that do anything else: train, loop, print, or no claim at all
    assert not wrap_code.is_claim_cell('net.fit()\nd2l.claim(True, "s")')
    assert not wrap_code.is_claim_cell('for k in ks:\n    d2l.claim(k > 0, "s")')
    assert not wrap_code.is_claim_cell("gap = a - b")
    assert not wrap_code.is_claim_cell("%timeit d2l.claim(True, 's')")


def test_hide_claim_cells_tags_only_shown_claim_cells():
    nb = nbformat.v4.new_notebook(cells=[
        code('d2l.claim(True, "s")'), code('d2l.claim(True, "s")', metadata={"tags": ["remove-cell"]}),
        code("x = 1"), nbformat.v4.new_markdown_cell('d2l.claim(True, "s")')])
    assert wrap_code.hide_claim_cells(nb) == 1
    assert [c.metadata.get("tags") for c in nb.cells] == [["hide-input"], ["remove-cell"], None, None]


def test_fit_cell_recuts_strings_and_keeps_the_syntax_tree():
    import build_book
    wide = ('print("' + "一段很长的中文说明，" * 6 + '",\n'
            '      f"value {x:.3f} and " f"more {y!r} {{literal}} ' + "words " * 10 + '")  # ' + "note " * 12)
    fitted = wrap_code.fit_cell(wide)
    assert not wrap_code.too_wide(fitted)
    assert build_book._cell_form(fitted) == build_book._cell_form(wide)
    assert "# note" in fitted
    # a docstring is broken at spaces, its words kept (code_digest counts a docstring by them)
    doc = 'def f():\n    """' + "word " * 30 + '"""\n    return 1'
    fitted = wrap_code.fit_cell(doc)
    assert not wrap_code.too_wide(fitted) and fitted.count("\n") > doc.count("\n")
    assert build_book._cell_form(fitted) == build_book._cell_form(doc)
    assert fitted.split("\n")[2].startswith("    word")


def test_split_body_never_cuts_a_replacement_field_or_an_escape():
    import ast
    body = "abc {value:{width}} \\n def {{ghi}} " * 4
    pieces = wrap_code.split_body(body, 12, fstring=True)
    assert "".join(pieces) == body and len(pieces) > 1
    for piece in pieces:
        ast.parse(f'f"{piece}"')  # each piece is an f-string on its own
    split = ast.parse(" ".join(f'f"{piece}"' for piece in pieces))
    assert ast.dump(split) == ast.dump(ast.parse(f'f"{body}"'))


def test_process_refuses_a_digest_change(tmp_path, monkeypatch):
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[code("y = 1  # " + "z" * 80)]), path)
    assert wrap_code.main(["--check", str(path)]) == 0
    monkeypatch.setattr(wrap_code, "fit_cell", lambda source, limit=80: "y = 2")
    with pytest.raises(wrap_code.WrapError, match="digest"):
        wrap_code.process(path)
    assert nbformat.read(path, as_version=4).cells[0].source.startswith("y = 1")
    assert wrap_code.main([str(path)]) == 1


def test_only_the_wide_statement_is_formatted():
    import build_book
    fits = "x = f(a,\n      b)  # hanging indent, kept\n"
    wide = "y = g(" + ", ".join(f"argument_{i}" for i in range(12)) + ")\n"
    loop = "for k in ks:\n    " + wide.replace("y =", "z =")
    source = fits + wide + loop
    fitted = wrap_code.fit_cell(source)
    assert fitted.startswith(fits) and "for k in ks:\n    z = g(\n" in fitted
    assert not wrap_code.too_wide(fitted)
    assert build_book._cell_form(fitted) == build_book._cell_form(source)
