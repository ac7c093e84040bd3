"""The built book, opened in a real browser (headless Chromium).

These tests read the quick-mode builds that `make test` runs first: the book
(`make book-quick`, _build/quick/html, or the folder named by the
environment variable BN_BOOK_HTML) and the student edition without solutions
(`make book-student-quick`, _build/student-quick/html, or BN_BOOK_STUDENT_HTML).
Every page test runs on both editions. The pages are served over http from
127.0.0.1 (the search needs http, not file://); any request to another host
is blocked and reported, so the book must render with no internet.
Screenshots of every page and of the search results are written to
tests/artifacts/ (not kept in git).
"""

import functools
import http.server
import json
import os
import re
import sys
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.book, pytest.mark.timeout(900)]  # builds, browsers, JupyterLab
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import book_structure  # noqa: E402
import reader_notebooks  # noqa: E402
import setup_cell  # noqa: E402
import student_edition  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BN_BOOK_HTML") or ROOT / "_build" / "quick" / "html")
STUDENT_HTML = Path(os.environ.get("BN_BOOK_STUDENT_HTML") or ROOT / "_build" / "student-quick" / "html")
EDITIONS = {"normal": HTML, "student": STUDENT_HTML}
# the notebooks each edition's download and Colab buttons serve (tools/reader_notebooks.py)
_EDITION_NOTEBOOKS = {"normal": "reader", "student": "student"}
BUILD_COMMAND = {"normal": "make book-quick", "student": "make book-student-quick"}
ARTIFACTS = ROOT / "tests" / "artifacts"
SEARCH_WORD = "归一化"
TIMEOUT_MS = 30_000
# TeX that MathJax should have replaced, looked for in the page text outside code and outputs
RAW_TEX = re.compile(r"\$\$|\$[^$\n]{1,80}\$|\\\(|\\\[|\\begin\{")
# Markdown or MyST markup that should have been rendered (e.g. `**粗体**，` next to Chinese
# punctuation is not bold in CommonMark), looked for in all visible text but code
MARKUP = re.compile(r"\*\*|:::|```|\{(?:doc|ref|cite|numref|eq|glue|term)[:}]|\$")

PAGE_FACTS_JS = """
() => {
  const main = document.querySelector('main') || document.body;
  const maths = [...main.querySelectorAll('.math')];
  const prose = main.cloneNode(true);
  prose.querySelectorAll('pre, code, .cell_output, .output, mjx-container, script, style')
       .forEach(e => e.remove());
  return {
    lang: document.documentElement.lang,
    mathTotal: maths.length,
    mathRendered: maths.filter(e => e.querySelector('mjx-container')).length,
    mathErrors: [...main.querySelectorAll('mjx-merror')].map(e => e.textContent),
    prose: prose.textContent,
    visible: (() => {
      const v = main.cloneNode(true);
      v.querySelectorAll('pre, code, mjx-container, script, style').forEach(e => e.remove());
      return v.textContent;
    })(),
    text: main.innerText,
    all: main.textContent,  // hidden (folded) content too
    colab: [...document.querySelectorAll('a[href*="colab.research.google.com"]')].map(a => a.href),
    links: [...main.querySelectorAll('a[href]')].map(a => a.href),
    solutions: [...main.querySelectorAll('.solution')].map(s => {
      const body = s.querySelector('section');
      const title = s.querySelector('.admonition-title');
      const button = s.querySelector('.toggle-button');
      return {id: s.id, dropdown: s.classList.contains('dropdown'),
              title: title ? title.textContent.trim() : '',
              hint: button ? button.dataset.toggleHint : '',
              hidden: body ? !body.checkVisibility({opacityProperty: true, visibilityProperty: true})
                           : false};
    }),
  };
}
"""

# every animation of d2l.slider_animation: move its slider to the last frame and back
SLIDERS_JS = """
() => [...document.querySelectorAll('main input.anim-slider')].map(s => {
  const img = document.getElementById(s.id.replace('_anim_slider', '_anim_img'));
  const first = img ? img.getAttribute('src') : null;
  s.value = s.max;
  s.dispatchEvent(new Event('input', {bubbles: true}));
  const last = img ? img.getAttribute('src') : null;
  s.value = s.min;
  s.dispatchEvent(new Event('input', {bubbles: true}));
  return {frames: Number(s.max) - Number(s.min) + 1, img: !!img, changed: first !== last,
          back: img ? img.getAttribute('src') === first : false};
})
"""

IMAGES_JS = """
async () => Promise.all([...document.images].map(async img => {
  img.loading = 'eager';
  try { await img.decode(); } catch (e) { /* reported below as not loaded */ }
  return {src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0,
          figure: !!img.closest('main article, .bd-article')};
}))
"""


@dataclass
class PageReport:
    """What one visit of one page found."""

    url: str
    errors: list = field(default_factory=list)  # console errors, page errors, failed requests
    external: list = field(default_factory=list)  # requests to hosts other than 127.0.0.1
    facts: dict = field(default_factory=dict)  # PAGE_FACTS_JS
    images: list = field(default_factory=list)  # IMAGES_JS
    opened_solution: bool = None  # the first solution became visible after a click
    sliders: list = field(default_factory=list)  # SLIDERS_JS
    screenshot: Path = None


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session", params=sorted(EDITIONS))
def edition(request):
    """``normal`` (solutions folded) or ``student`` (no solutions): every page test runs on both."""
    return request.param


@pytest.fixture(scope="session")
def docnames(edition, toc_docnames):
    """The pages of this edition: the student edition leaves out the teachers' pages."""
    if edition == "student":
        return [d for d in toc_docnames if d not in student_edition.TEACHER_PAGES]
    return toc_docnames


@pytest.fixture(scope="session")
def html_dir(edition, docnames):
    html, command = EDITIONS[edition], BUILD_COMMAND[edition]
    if not (html / "index.html").is_file():
        pytest.fail(f"no built {edition} edition at {html}: run `{command}` first")
    missing = [d for d in docnames if not (html / f"{d}.html").is_file()]
    if missing:
        pytest.fail(f"{html} lacks pages for {missing}: the build is stale, run `{command}`")
    return html


@pytest.fixture(scope="session")
def base_url(html_dir):
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            # Chromium asks every site for /favicon.ico; the book has none (a 404
            # would show up as a console error at random, depending on timing).
            if self.path == "/favicon.ico":
                self.send_response(204)
                self.end_headers()
                return
            super().do_GET()

    handler = functools.partial(QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _new_page(browser, base_url, report):
    """A fresh page that records errors and blocks every request leaving 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    local = urllib.parse.urlsplit(base_url).netloc

    def route(r):
        if urllib.parse.urlsplit(r.request.url).netloc == local:
            r.continue_()
        else:
            report.external.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and report.errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: report.errors.append(f"page error: {e}"))
    page.on("response", lambda r: r.status >= 400 and report.errors.append(f"HTTP {r.status}: {r.url}"))
    return context, page


def _visit(browser, base_url, docname):
    url = f"{base_url}/{docname}.html"
    report = PageReport(url)
    context, page = _new_page(browser, base_url, report)
    try:
        page.goto(url, wait_until="load")
        if page.locator("main .math").count():
            try:
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("() => MathJax.startup.promise.then(() => true)")
            except Exception as exc:  # reported, checked by test_math_is_rendered
                report.errors.append(f"MathJax did not start: {exc}")
        report.images = page.evaluate(IMAGES_JS)
        report.sliders = page.evaluate(SLIDERS_JS)
        report.facts = page.evaluate(PAGE_FACTS_JS)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        report.screenshot = ARTIFACTS / f"page_{Path(docname).name}.png"
        page.screenshot(path=str(report.screenshot), full_page=True)
        if report.facts["solutions"]:
            first = page.locator("main .solution").first
            first.locator(".admonition-title").first.click()
            try:
                first.locator("section").first.wait_for(state="visible", timeout=5_000)
                report.opened_solution = True
            except Exception:
                report.opened_solution = False
    finally:
        context.close()
    return report


@pytest.fixture(scope="session")
def reports(browser, base_url, docnames):
    """One visit of every page of the edition: {docname: PageReport}."""
    return {doc: _visit(browser, base_url, doc) for doc in docnames}


def _notebook_docs(docnames):
    return [d for d in docnames if (ROOT / f"{d}.ipynb").is_file()]


def _search_terms(html_dir):
    """The words of Sphinx's search index (searchindex.js) of a built edition."""
    text = (html_dir / "searchindex.js").read_text(encoding="utf-8")
    return set(json.loads(text[text.index("(") + 1:text.rindex(")")])["terms"])


@functools.cache
def _solution_only_words():
    """Identifiers (snake_case names) that appear in the chapters' solutions and nowhere else in the
    book's sources."""
    everything, kept = _words()
    return everything - kept


@functools.cache
def _kept_stems():
    """The search index's stems of the words the student edition keeps: Sphinx stems Latin words
    (Porter), so chapter 12's ``res_gaps`` is indexed as ``res_gap``, a name only a solution uses."""
    import snowballstemmer

    stemmer = snowballstemmer.stemmer("porter")
    return {stemmer.stemWord(w) for w in _words()[1]}


@functools.cache
def _words():
    """(snake_case words of the chapters' sources, those of them the student edition keeps)."""
    word = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]*[A-Za-z0-9](?![A-Za-z0-9_])")
    everything, kept = set(), set()
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        everything |= {w.lower() for c in nb.cells for w in word.findall(c.source)}
        kept |= {w.lower() for c in student_edition.strip_notebook(nb).cells for w in word.findall(c.source)}
    for path in sorted((ROOT / "chapters").glob("*.md")):
        kept |= {w.lower() for w in word.findall(path.read_text(encoding="utf-8"))}
    # what the kept cells print is on the student pages too (chapter 11's Keras layer names, which
    # a solution also spells out): the outputs of the built book's executed chapters
    for path in sorted(_execution_cache(HTML).glob("executed/*/base.ipynb")):
        nb = nbformat.read(path, as_version=4)
        kept |= {w.lower() for c in student_edition.strip_notebook(nb).cells if c.cell_type == "code"
                 for o in c.get("outputs", []) for w in word.findall(_output_text(o))}
    return everything, kept


def _execution_cache(html_dir):
    """The execution cache of the build published as ``html_dir``: ``_build/.jupyter_cache`` beside
    the full book's ``_build/html``; ``_build/quick/_build/.jupyter_cache`` (Jupyter Book's working
    folder) for the quick book published as ``_build/quick/html``."""
    for cache in (html_dir.parent / ".jupyter_cache", html_dir.parent / "_build" / ".jupyter_cache"):
        if cache.is_dir():
            return cache
    raise FileNotFoundError(f"no execution cache beside {html_dir}: build the book first")


def _output_text(output):
    """The text of one cell output (stream text, or each of its text data)."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    texts = [v if isinstance(v, str) else "".join(v) for k, v in data.items() if k.startswith("text/")]
    return "\n".join(texts)


# ----------------------------------------------------------------------------- tests


def test_pages_load_without_errors(reports):
    bad = {doc: r.errors for doc, r in reports.items() if r.errors}
    assert not bad, f"browser errors while loading pages: {bad}"


def test_pages_need_no_internet(reports):
    bad = {doc: sorted(set(r.external)) for doc, r in reports.items() if r.external}
    assert not bad, f"pages request resources outside the book (they must work offline): {bad}"


def test_pages_are_chinese(reports):
    bad = {doc: r.facts["lang"] for doc, r in reports.items() if not r.facts["lang"].startswith("zh")}
    assert not bad, f"<html lang> is not Chinese: {bad}"


def test_math_is_rendered(reports):
    assert sum(r.facts["mathTotal"] for r in reports.values()), "no formula found in the whole book"
    problems = {}
    for doc, r in reports.items():
        f = r.facts
        issues = []
        if f["mathRendered"] < f["mathTotal"]:
            issues.append(f"{f['mathTotal'] - f['mathRendered']} of {f['mathTotal']} formulas not typeset")
        if f["mathErrors"]:
            issues.append(f"MathJax errors: {f['mathErrors'][:5]}")
        raw = RAW_TEX.findall(f["prose"])
        if raw:
            issues.append(f"raw TeX left in the text: {raw[:5]}")
        if issues:
            problems[doc] = issues
    assert not problems, f"math problems: {problems}"


def test_no_markup_is_left_in_the_text(reports):
    found = {}
    for doc, r in reports.items():
        hits = []
        for m in MARKUP.finditer(r.facts["visible"]):
            start = max(0, m.start() - 25)
            hits.append(r.facts["visible"][start:m.end() + 25].replace("\n", " "))
        if hits:
            found[doc] = hits[:5]
    assert not found, f"Markdown/MyST markup shown as text (not rendered): {found}"


def test_every_figure_loads(reports):
    figures = sum(1 for r in reports.values() for img in r.images if img["figure"])
    assert figures, "no figure found in any page"
    broken = {doc: [i["src"] for i in r.images if not i["ok"]] for doc, r in reports.items()}
    broken = {doc: srcs for doc, srcs in broken.items() if srcs}
    assert not broken, f"images that did not load: {broken}"


def test_setup_cell_is_hidden(reports):
    shown = [doc for doc, r in reports.items() if "google.colab" in r.facts["text"]]
    assert not shown, f"the Colab setup cell is visible in {shown}: tag it remove-cell"


def test_colab_links_point_at_notebooks(reports, docnames, edition):
    """Each chapter's Colab button opens its reader (student) notebook at the published location."""
    publication = reader_notebooks.Publication.from_config(reader_notebooks.read_config())
    notebooks = _notebook_docs(docnames)
    assert notebooks, "no notebook pages in _toc.yml"
    wrong = {}
    for doc in notebooks:
        expected = publication.colab(_EDITION_NOTEBOOKS[edition], Path(doc).name)
        links = reports[doc].facts["colab"]
        if links != [expected]:
            wrong[doc] = {"expected": expected, "found": links}
    assert not wrong, f"Colab links do not point at the published {edition} edition's notebooks: {wrong}"
    folder = f"/blob/{publication.branch}/{_EDITION_NOTEBOOKS[edition]}/"
    assert all(folder in reports[d].facts["colab"][0] for d in notebooks)


def test_solutions_hidden_until_clicked(reports, docnames, book_config, edition):
    if edition == "student":
        pytest.skip("the student edition has no solutions (test_student_edition_has_no_solutions)")
    hint = book_config["sphinx"]["config"]["togglebutton_hint"]
    notebooks = _notebook_docs(docnames)
    assert any(reports[d].facts["solutions"] for d in notebooks), "no solution found in any chapter"
    problems = {}
    for doc, r in reports.items():
        sols = r.facts["solutions"]
        shown = [s["id"] for s in sols if not (s["dropdown"] and s["hidden"])]
        english = [(s["title"], s["hint"]) for s in sols
                   if not (s["title"].startswith("解答") and s["hint"] == hint)]
        if shown:
            problems[doc] = f"visible before a click: {shown}"
        elif english:
            problems[doc] = f"(title, hint) not '解答 …' and {hint!r}: {english[:3]}"
        elif sols and not r.opened_solution:
            problems[doc] = "clicking the first solution's title did not show it"
    assert not problems, f"solutions: {problems}"


def test_chinese_search_finds_results(browser, base_url):
    report = PageReport(f"{base_url}/search.html?q={urllib.parse.quote(SEARCH_WORD)}")
    context, page = _new_page(browser, base_url, report)
    try:
        page.goto(report.url, wait_until="load")
        page.wait_for_function(
            "() => { const s = document.querySelector('#search-results .search-summary');"
            " return s && s.innerText.trim().length > 0; }")
        results = page.evaluate(
            "() => [...document.querySelectorAll('#search-results ul.search li')].map(li => "
            "({href: li.querySelector('a').getAttribute('href'), text: li.innerText}))")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "search_results.png"), full_page=True)
    finally:
        context.close()
    assert not report.errors, f"browser errors on the search page: {report.errors}"
    assert results, f"searching {SEARCH_WORD!r} found nothing (is jieba installed for the build?)"
    chapters = [r for r in results if "chapters/" in r["href"]]
    assert chapters, f"no chapter among the results: {results}"
    assert any(SEARCH_WORD in r["text"] for r in results), (
        f"no result shows an excerpt with {SEARCH_WORD!r}: {results}")


def test_student_edition_has_no_solutions(reports, edition, html_dir):
    words = _solution_only_words()
    assert words, "no identifier found that only the solutions use: the check below would be empty"
    texts = {doc: r.facts["all"].lower() for doc, r in reports.items()}  # folded solutions count
    terms = _search_terms(html_dir)
    if edition == "normal":  # the control: the same words are in the normal book's pages and index
        assert any(_has_word(t, w) for t in texts.values() for w in words), "no solution code in the book"
        assert words & terms, "the normal book's search index has no solution text"
        return
    problems = {doc: [s["id"] for s in r.facts["solutions"]] for doc, r in reports.items()
                if r.facts["solutions"]}
    assert not problems, f"solutions left in the student edition: {problems}"
    shown = {doc: sorted(w for w in words if _has_word(t, w))[:5] for doc, t in texts.items()}
    shown = {doc: ws for doc, ws in shown.items() if ws}
    assert not shown, f"solution code shown in the student edition: {shown}"
    indexed = sorted(words & terms - _kept_stems())
    assert not indexed, f"solution words in the student edition's search index: {indexed[:10]}"


def _has_word(text, word):
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", text) is not None


def test_downloadable_notebooks(edition, html_dir, docnames):
    """Each chapter page's download button serves its reader notebook (student notebook in the student
    edition, tools/sphinx_notebooks.py): MyST turned into Markdown, setup cell first, no outputs, the
    same notebook `make notebooks` writes."""
    book = reader_notebooks.load_book()
    publication = reader_notebooks.Publication.from_config(reader_notebooks.read_config())
    setup = setup_cell.render_reader(publication.base(), reader_notebooks.wheel_name())
    for doc in _notebook_docs(docnames):
        name = Path(doc).name
        page = (html_dir / f"{doc}.html").read_text(encoding="utf-8")
        assert f'../_notebooks/{name}.ipynb"' in page, f"{doc}: no download link to its reader notebook"
        nb = nbformat.read(html_dir / "_notebooks" / f"{name}.ipynb", as_version=4)
        source = nbformat.read(ROOT / f"{doc}.ipynb", as_version=4)
        expected = reader_notebooks.convert_notebook(source, doc, book, setup, _EDITION_NOTEBOOKS[edition])
        assert nb == expected, f"{doc}: the served notebook is not the {edition} notebook of the sources"
        left = [m for c in nb.cells if c.cell_type == "markdown"
                for m in reader_notebooks.leftover_markup(c.source)]
        assert not left, f"{doc}: MyST markup in the served notebook: {left[:5]}"
        assert nb.cells[0].source == setup
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
        assert _heading_exercises(nb) == _exercise_count(source), f"{doc}: exercises lost"
        solutions = "\n".join(c.source for c in nb.cells).count("的解答")
        assert (solutions == 0) == (edition == "student" or not book_structure.has_solutions(source))



def test_notebook_links_reach_the_book(html_dir):
    """Every link from a served notebook to the book (html.baseurl) names a built page and an id on it."""
    book_url = reader_notebooks.Publication.from_config(reader_notebooks.read_config()).book_url
    link = re.compile(rf"\]\({re.escape(book_url)}/(?P<page>[^)#]+)(?:#(?P<anchor>[^)]+))?\)")
    checked, broken = 0, []
    for path in sorted((html_dir / "_notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for m in link.finditer(cell.source if cell.cell_type == "markdown" else ""):
                page = html_dir / m["page"]
                checked += 1
                if not page.is_file() or (m["anchor"] and f'id="{m["anchor"]}"' not in page.read_text()):
                    broken.append(f"{path.name}: {m[0]}")
    assert checked > 50, f"only {checked} links to the book found in the served notebooks"
    assert not broken, f"links to pages or ids the book does not have: {broken[:10]}"


def _heading_exercises(nb):
    heading = re.compile(r"^#{2,6} 练习 [\d.]+(?:：.*)?$", re.M)
    return sum(len(heading.findall(c.source)) for c in nb.cells if c.cell_type == "markdown")


def _exercise_count(nb):
    return sum(c.source.count("{exercise}") for c in nb.cells if c.cell_type == "markdown")


def test_sliders_change_the_frame(reports):
    sliders = {doc: r.sliders for doc, r in reports.items() if r.sliders}
    assert sum(len(s) for s in sliders.values()) >= 2, f"fewer than two interactive figures: {sliders}"
    bad = {doc: s for doc, ss in sliders.items() for s in ss
           if not (s["img"] and s["frames"] >= 2 and s["changed"] and s["back"])}
    assert not bad, f"moving a slider did not change the frame: {bad}"


def test_pdf_link(browser, base_url, reports, edition, html_dir):
    links = [a for r in reports.values() for a in r.facts["links"] if a.endswith("book.pdf")]
    if edition == "student":  # the PDF has the solutions
        assert not links, f"the student edition links to the PDF with solutions: {links}"
        return
    assert links, "no page links to the PDF (book.pdf)"
    if not (html_dir / "book.pdf").is_file():
        pytest.skip("no PDF next to this build: run `make pdf-quick` first")
    report = PageReport(links[0])
    context, page = _new_page(browser, base_url, report)
    try:
        response = page.request.get(links[0])
        assert response.ok and response.body()[:5] == b"%PDF-", f"{links[0]} is not the PDF"
    finally:
        context.close()
