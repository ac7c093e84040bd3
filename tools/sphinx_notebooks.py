"""Sphinx extension: the book's download and Colab buttons serve the reader notebooks.

Loaded through ``sphinx.local_extensions`` in ``_config.yml``. After an HTML
build it writes the notebook of every chapter page, converted by
``tools/reader_notebooks.py`` from the sources the build read, into
``<html>/_notebooks/<name>.ipynb``: the reader notebooks for the book, the
student notebooks for the student edition (whose sources have no solutions;
``notebooks.edition: student`` in its ``_config.yml``). On each chapter page the
".ipynb" download button links to that file and the Colab button to the same
notebook at its published location (``notebooks.branch`` of ``repository.url``).
"""

from pathlib import Path

import book_structure
import nbformat
import reader_notebooks
import setup_cell

FOLDER = "_notebooks"


def _settings(app):
    """(edition, Publication, Book) of the book being built, read from its ``_config.yml``."""
    if not hasattr(app, "_bn_notebooks"):
        root = Path(app.srcdir)
        config = reader_notebooks.read_config(root)
        edition = (config.get("notebooks") or {}).get("edition", "reader")
        if edition not in reader_notebooks.EDITIONS:
            raise ValueError(f"notebooks.edition in {root / '_config.yml'} must be one of "
                             f"{reader_notebooks.EDITIONS}, got {edition!r}")
        app._bn_notebooks = (edition, reader_notebooks.Publication.from_config(config),
                             reader_notebooks.load_book(root, config))
    return app._bn_notebooks


def _chapter(app, pagename):
    return Path(app.srcdir, f"{pagename}.ipynb").is_file()


def point_buttons(app, pagename, templatename, context, doctree):
    """``html-page-context``, after sphinx-book-theme's buttons: re-point .ipynb download and Colab."""
    if app.builder.format != "html" or not _chapter(app, pagename):
        return
    edition, publication, _ = _settings(app)
    name = Path(pagename).name
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []):
            if button.get("label") == "download-source-button":
                button["url"] = f"{context['pathto'](FOLDER, 1)}/{name}.ipynb"
                button["text"] = ".ipynb"
                button["tooltip"] = "下载本章的笔记本（Jupyter 与 Colab 可直接阅读）"
            elif button.get("text") == "Colab":
                button["url"] = publication.colab(edition, name)


def write_notebooks(app, exception):
    """``build-finished``: convert every chapter the build read into ``<outdir>/_notebooks``."""
    if exception is not None or app.builder.format != "html":
        return
    edition, publication, book = _settings(app)
    root = Path(app.srcdir)
    source = setup_cell.render_reader(publication.base(), reader_notebooks.wheel_name())
    out = Path(app.outdir) / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    for docname in book_structure.notebook_docnames(root):
        nb = nbformat.read(root / f"{docname}.ipynb", as_version=4)
        notebook = reader_notebooks.convert_notebook(nb, docname, book, source, edition)
        nbformat.write(notebook, out / f"{Path(docname).name}.ipynb")


def setup(app):
    # after sphinx-book-theme's header buttons (priority 501)
    app.connect("html-page-context", point_buttons, priority=900)
    app.connect("build-finished", write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
