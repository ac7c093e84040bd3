"""tools/sphinx_notebooks.py: the book's download and Colab buttons serve the reader notebooks.

Its two event handlers are called here with a stand-in Sphinx application on a
copy of the book's configuration; tests/test_book.py checks the buttons and the
served notebooks of the real quick builds in a browser.
"""

import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_structure  # noqa: E402
import reader_notebooks as rn  # noqa: E402
import sphinx_notebooks  # noqa: E402
import student_edition  # noqa: E402


def _book(tmp_path, edition=None):
    """A copy of the book's sources (configuration, table of contents, chapters, bibliography)."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "chapters", src / "chapters")
    for name in ("_toc.yml", "references.bib"):
        shutil.copy(ROOT / name, src / name)
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    if edition == "student":
        config = student_edition.student_config(config)
        for path in src.glob("chapters/*.ipynb"):
            nbformat.write(student_edition.strip_notebook(nbformat.read(path, as_version=4)), path)
    (src / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return src


def _app(src, out, fmt="html"):
    return SimpleNamespace(srcdir=str(src), outdir=str(out), builder=SimpleNamespace(format=fmt))


def _context():
    """The header buttons sphinx-book-theme builds for a chapter page."""
    return {
        "pathto": lambda name, resource: f"../{name}",
        "header_buttons": [
            {"label": "download-buttons", "buttons": [
                {"label": "download-source-button", "url": "../_sources/chapters/04_lenet_bn.ipynb",
                 "text": ".ipynb"},
                {"label": "download-pdf-button", "text": ".pdf"}]},
            {"label": "launch-buttons", "buttons": [
                {"text": "Colab", "url": "https://colab.research.google.com/github/o/r/blob/main/x.ipynb"}]},
        ],
    }


@pytest.mark.parametrize("edition", rn.EDITIONS)
def test_buttons_point_at_the_edition_notebooks(tmp_path, edition):
    src = _book(tmp_path, edition)
    app = _app(src, tmp_path / "html")
    context = _context()
    sphinx_notebooks.point_buttons(app, "chapters/04_lenet_bn", "page.html", context, None)
    download, pdf = context["header_buttons"][0]["buttons"]
    colab = context["header_buttons"][1]["buttons"][0]
    assert download["url"] == "../_notebooks/04_lenet_bn.ipynb" and pdf == {"label": "download-pdf-button",
                                                                          "text": ".pdf"}
    publication = rn.Publication.from_config(rn.read_config())
    assert colab["url"] == publication.colab(edition, "04_lenet_bn")
    assert f"/blob/{publication.branch}/{edition}/04_lenet_bn.ipynb" in colab["url"]


def test_pages_that_are_not_notebooks_keep_their_buttons(tmp_path):
    app, context = _app(_book(tmp_path), tmp_path / "html"), _context()
    before = repr(context["header_buttons"])
    sphinx_notebooks.point_buttons(app, "chapters/00_preface", "page.html", context, None)
    sphinx_notebooks.point_buttons(_app(app.srcdir, app.outdir, "latex"), "chapters/04_lenet_bn", "page.html",
                                   context, None)
    assert repr(context["header_buttons"]) == before


@pytest.mark.parametrize("edition", rn.EDITIONS)
def test_build_finished_writes_the_edition_notebooks(tmp_path, edition):
    src = _book(tmp_path, edition)
    out = tmp_path / "html"
    sphinx_notebooks.write_notebooks(_app(src, out), None)
    written = sorted(p.name for p in (out / "_notebooks").glob("*.ipynb"))
    assert written == sorted(f"{Path(d).name}.ipynb" for d in book_structure.notebook_docnames())
    # the same notebooks as `make notebooks` writes from the repository's sources
    expected = rn.convert_notebook(nbformat.read(ROOT / "chapters/04_lenet_bn.ipynb", as_version=4),
                                   "chapters/04_lenet_bn", rn.load_book(), _setup_source(), edition)
    served = nbformat.read(out / "_notebooks" / "04_lenet_bn.ipynb", as_version=4)
    assert served == expected


def _setup_source():
    import setup_cell

    return setup_cell.render_reader(rn.Publication.from_config(rn.read_config()).base(), rn.wheel_name())


def test_nothing_is_written_after_a_failed_or_non_html_build(tmp_path):
    src = _book(tmp_path)
    sphinx_notebooks.write_notebooks(_app(src, tmp_path / "a"), RuntimeError("build failed"))
    sphinx_notebooks.write_notebooks(_app(src, tmp_path / "b", "latex"), None)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_an_unknown_edition_is_a_clear_error(tmp_path):
    src = _book(tmp_path)
    config = yaml.safe_load((src / "_config.yml").read_text(encoding="utf-8"))
    config["notebooks"]["edition"] = "teacher"
    (src / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="notebooks.edition.*teacher"):
        sphinx_notebooks.write_notebooks(_app(src, tmp_path / "html"), None)


def test_the_book_loads_the_extension():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "sphinx_notebooks" in config["sphinx"]["config"]["extensions"]
    assert (ROOT / config["sphinx"]["local_extensions"]["sphinx_notebooks"] / "sphinx_notebooks.py").is_file()
