"""The PDF (`make pdf-quick`, which `make test` runs before the browser tests).

Reads _build/quick/latex/book.pdf, or the file named by BN_BOOK_PDF,
with poppler's pdftotext, pdffonts and pdfimages (`make pdf-deps`).
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.book, pytest.mark.timeout(900)]  # builds, browsers, JupyterLab

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build" / "quick"  # the quick book: html/ and latex/book.pdf
PDF = Path(os.environ.get("BN_BOOK_PDF") or BUILD / "latex" / "book.pdf")


def _run(tool, *options, output=()):
    """Run a poppler tool on the PDF and return what it prints."""
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} not found: run `make pdf-deps` (Debian package poppler-utils)")
    command = [tool, *options, str(PDF), *output]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def text():
    if not PDF.is_file():
        pytest.fail(f"no PDF at {PDF}: run `make pdf-quick` first (or set BN_BOOK_PDF)")
    return _run("pdftotext", "-enc", "UTF-8", output=["-"])


def _squeeze(s):
    return re.sub(r"\s+", "", s)


def _title(docname):
    """The first heading of a page of the book (markdown file or notebook)."""
    path = ROOT / f"{docname}.md"
    if path.exists():
        source = path.read_text(encoding="utf-8")
    else:
        source = next(c.source for c in nbformat.read(ROOT / f"{docname}.ipynb", as_version=4).cells
                      if c.cell_type == "markdown")
    return re.search(r"^# (.+)$", source, re.M)[1].strip()


def test_every_page_title_is_in_the_pdf(text, toc_docnames):
    squeezed = _squeeze(text)
    missing = [(d, _title(d)) for d in toc_docnames if _squeeze(_title(d)) not in squeezed]
    assert not missing, f"titles missing from the PDF: {missing}"


def test_chinese_text_and_captions(text):
    assert "归一化" in text, "no extractable Chinese text (归一化) in the PDF"
    squeezed = _squeeze(text)
    assert "目录" in squeezed and "第1章" in squeezed, "no Chinese table of contents or chapter heading"
    english = [w for w in ("Contents", "Chapter ") if w in text]
    assert not english, f"LaTeX captions left in English: {english}"


def test_fonts_are_embedded_and_formulas_typeset():
    fonts = _run("pdffonts").splitlines()[2:]
    assert fonts, "no fonts in the PDF"
    not_embedded = [f for f in fonts if f.split()[-5] != "yes"]
    assert not not_embedded, f"fonts not embedded: {not_embedded}"
    names = " ".join(f.split()[0] for f in fonts)
    assert "CJK" in names, f"no CJK font: {names}"
    assert "Math" in names, f"no math font (formulas not typeset?): {names}"


def test_figures_are_embedded():
    images = [line for line in _run("pdfimages", "-list").splitlines()[2:] if line.split()[2] == "image"]
    figures = len(list((BUILD / "html" / "_images").glob("*.png")))
    assert figures, "no figures in the quick HTML book to compare with"
    assert len(images) >= figures, f"{len(images)} images in the PDF, {figures} figures in the HTML book"


def test_pdf_is_published_next_to_the_html():
    copy = BUILD / "html" / PDF.name
    if PDF.parent != BUILD / "latex":
        pytest.skip("BN_BOOK_PDF names another PDF")
    assert copy.is_file() and copy.read_bytes() == PDF.read_bytes(), (
        f"{copy} is missing or stale: the preface links to it")
