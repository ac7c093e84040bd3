"""The built book, opened in a real browser (headless Chromium).

These tests read the quick-mode build (`make book-quick`, which `make test`
runs first) from _build/quick/_build/html, or from the folder named by the
environment variable BN_BOOK_HTML. The pages are served over http from
127.0.0.1 (the search needs http, not file://); any request to another host
is blocked and reported, so the book must render with no internet.
Screenshots of every page and of the search results are written to
tests/artifacts/ (not kept in git).
"""

import functools
import http.server
import os
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BN_BOOK_HTML") or ROOT / "_build" / "quick" / "_build" / "html")
CHROMIUM = Path(os.environ.get("BN_CHROMIUM") or "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
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
    colab: [...document.querySelectorAll('a[href*="colab.research.google.com"]')].map(a => a.href),
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
    screenshot: Path = None


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def html_dir(toc_docnames):
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book at {HTML}: run `make book-quick` first (or set BN_BOOK_HTML)")
    missing = [d for d in toc_docnames if not (HTML / f"{d}.html").is_file()]
    if missing:
        pytest.fail(f"{HTML} lacks pages for {missing}: the build is stale, run `make book-quick`")
    return HTML


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


@pytest.fixture(scope="session")
def browser():
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make system-deps` "
                    "(Debian packages chromium and fonts-noto-cjk) or set BN_CHROMIUM")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is missing: run `make install`")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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
def reports(browser, base_url, toc_docnames):
    """One visit of every page in _toc.yml: {docname: PageReport}."""
    return {doc: _visit(browser, base_url, doc) for doc in toc_docnames}


def _notebook_docs(toc_docnames):
    return [d for d in toc_docnames if (ROOT / f"{d}.ipynb").is_file()]


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


def test_every_figure_loads(reports, toc_docnames):
    figures = sum(1 for r in reports.values() for img in r.images if img["figure"])
    assert figures, "no figure found in any page"
    broken = {doc: [i["src"] for i in r.images if not i["ok"]] for doc, r in reports.items()}
    broken = {doc: srcs for doc, srcs in broken.items() if srcs}
    assert not broken, f"images that did not load: {broken}"


def test_setup_cell_is_hidden(reports):
    shown = [doc for doc, r in reports.items() if "google.colab" in r.facts["text"]]
    assert not shown, f"the Colab setup cell is visible in {shown}: tag it remove-cell"


def test_colab_links_point_at_notebooks(reports, toc_docnames, book_config):
    repo = book_config["repository"]
    colab = book_config["launch_buttons"]["colab_url"].rstrip("/")
    org_repo = urllib.parse.urlsplit(repo["url"]).path.strip("/")
    prefix = repo.get("path_to_book") or ""
    prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    notebooks = _notebook_docs(toc_docnames)
    assert notebooks, "no notebook pages in _toc.yml"
    wrong = {}
    for doc in notebooks:
        expected = f"{colab}/github/{org_repo}/blob/{repo['branch']}/{prefix}{doc}.ipynb"
        links = reports[doc].facts["colab"]
        if links != [expected]:
            wrong[doc] = {"expected": expected, "found": links}
    assert not wrong, f"Colab links do not point at the chapter notebooks: {wrong}"


def test_solutions_hidden_until_clicked(reports, toc_docnames, book_config):
    hint = book_config["sphinx"]["config"]["togglebutton_hint"]
    notebooks = _notebook_docs(toc_docnames)
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
