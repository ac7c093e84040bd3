"""JupyterLab in headless Chromium: reader notebooks in a plain JupyterLab, the sources in `make lab`.

* Plain JupyterLab (jupyterlab-myst disabled, as in Colab or any JupyterLab
  without it): the reader notebooks of chapters 4 and 9 show no raw markup
  (the HTML book's rule, tests/test_book.py's ``MARKUP``, on the rendered text
  outside code and formulas), their exercises are headings, their solutions
  are closed ``<details>`` or collapsed headings whose cells are hidden. The
  control: the same JupyterLab shows the *source* notebook's MyST raw.
* `make lab` (jupyterlab-myst, pinned in requirements.txt): the source
  notebook renders its exercises and roles.

Screenshots in tests/artifacts/: lab_source_plain_* (before), lab_reader_plain_*
(after) and lab_source_myst_*. Each JupyterLab starts on a free port with its
own settings (no windowing, so every cell is rendered; no news) and is stopped
afterwards.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.book, pytest.mark.timeout(900)]  # builds, browsers, JupyterLab

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import reader_notebooks as rn  # noqa: E402
import setup_cell  # noqa: E402
from test_book import ARTIFACTS, MARKUP, RAW_TEX  # noqa: E402  (the browser fixture: conftest.py)

TOKEN = "bn-book-lab-test"
CHAPTERS = ["04_lenet_bn", "09_data_parallel"]
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                       "checkForUpdates": False},
}
# every Markdown cell of the open notebook: its rendered text without code, formulas and the
# (hidden) editor; whether jupyterlab-myst rendered it; its <details>; whether it is shown
CELLS_JS = """
() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')].map(c => {
  const v = c.cloneNode(true);
  v.querySelectorAll('.jp-InputArea-editor, .jp-OutputArea, pre, code, mjx-container, script, style')
   .forEach(e => e.remove());
  return {markdown: c.classList.contains('jp-MarkdownCell'), text: v.textContent,
          myst: !!c.querySelector('.myst'), shown: c.checkVisibility(),
          details: [...c.querySelectorAll('details')].map(d => ({open: d.open,
                    summary: (d.querySelector('summary') || {}).textContent || ''})),
          hiddenButton: !!c.querySelector('.jp-showHiddenCellsButton'),
          headings: [...c.querySelectorAll('h1, h2, h3, h4, h5, h6')]
                    .map(h => h.textContent.replace('¶', '').trim()),
          mystExercises: [...c.querySelectorAll('.myst-exercise[id]')].map(e => e.id)};
})
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder):
    for name, values in SETTINGS.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


def _wait_for(url, log, deadline=120):
    end = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except OSError:
            if time.monotonic() > end:
                pytest.fail(f"JupyterLab did not answer within {deadline} s: {log.read_text()[-2000:]}")
            time.sleep(0.5)


def _start(command, env, tmp, port):
    log = tmp / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/status?token={TOKEN}", log)
    except BaseException:
        _stop(proc)
        raise
    return proc


def _stop(proc):
    os.killpg(proc.pid, signal.SIGTERM)  # the server (and make) in their own session
    proc.wait(timeout=30)


def _lab_args(port, tmp):
    return [f"--port={port}", "--ip=127.0.0.1", "--no-browser", f"--ServerApp.token={TOKEN}",
            f"--LabApp.user_settings_dir={_settings(tmp / 'settings')}",
            f"--LabApp.workspaces_dir={tmp / 'ws'}"]


@pytest.fixture(scope="module")
def plain_lab(tmp_path_factory):
    """JupyterLab with jupyterlab-myst disabled, serving reader notebooks and their sources."""
    tmp = tmp_path_factory.mktemp("plain_lab")
    root = tmp / "root"
    root.mkdir()
    book = rn.load_book()
    setup = setup_cell.render_reader(rn.Publication.from_config(rn.read_config()).base(), rn.wheel_name())
    for name in CHAPTERS:
        source = nbformat.read(ROOT / "chapters" / f"{name}.ipynb", as_version=4)
        nbformat.write(source, root / f"source_{name}.ipynb")
        reader = rn.convert_notebook(source, f"chapters/{name}", book, setup)
        nbformat.write(reader, root / f"reader_{name}.ipynb")
    config = tmp / "config" / "labconfig"
    config.mkdir(parents=True)
    (config / "page_config.json").write_text(json.dumps({"disabledExtensions": {"jupyterlab-myst": True}}))
    port = _free_port()
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}", *_lab_args(port, tmp)]
    if os.getuid() == 0:
        command.append("--allow-root")
    proc = _start(command, {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config")}, tmp, port)
    page_config = urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={TOKEN}", timeout=30).read()
    assert b'"disabledExtensions": ["jupyterlab-myst"]' in page_config, "jupyterlab-myst is not disabled"
    yield f"http://127.0.0.1:{port}", root
    _stop(proc)


@pytest.fixture(scope="module")
def myst_lab(tmp_path_factory):
    """`make lab` (chapters/, with jupyterlab-myst)."""
    tmp = tmp_path_factory.mktemp("myst_lab")
    port = _free_port()
    proc = _start(["make", "--no-print-directory", "lab", f"LAB_ARGS={' '.join(_lab_args(port, tmp))}"],
                  dict(os.environ), tmp, port)
    yield f"http://127.0.0.1:{port}"
    _stop(proc)


def _open(browser, base, path, cell_count, screenshot, scroll_to):  # noqa: F811
    """Open a notebook in a fresh workspace; the facts of its cells (CELLS_JS). Screenshots of its top
    and of the cell with the text ``scroll_to``."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    external = []

    def route(r):
        if r.request.url.startswith(base):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    try:
        workspace = re.sub(r"\W", "-", path)
        page.goto(f"{base}/lab/workspaces/{workspace}/tree/{path}?reset&token={TOKEN}", timeout=90_000)
        page.wait_for_function(
            "n => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell').length === n "
            "&& [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell')]"
            ".every(c => c.querySelector('.jp-RenderedMarkdown, .myst'))", arg=cell_count, timeout=90_000)
        page.wait_for_timeout(5_000)  # MathJax typesets the formulas after the Markdown is rendered
        cells = page.evaluate(CELLS_JS)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{screenshot}.png"))
        page.evaluate("t => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
                      ".jp-MarkdownCell')].find(c => c.textContent.includes(t)).scrollIntoView()", scroll_to)
        page.wait_for_timeout(1_000)
        page.screenshot(path=str(ARTIFACTS / f"{screenshot}_exercises.png"))
    finally:
        context.close()
    assert not external, f"JupyterLab asked for resources outside 127.0.0.1: {external[:5]}"
    return cells


def _markup(cells):
    found = []
    for c in cells:
        if c["markdown"]:
            for m in [*MARKUP.finditer(c["text"]), *RAW_TEX.finditer(c["text"])]:
                found.append(c["text"][max(0, m.start() - 20):m.end() + 20].replace("\n", " "))
    return found


@pytest.mark.parametrize("name", CHAPTERS)
def test_reader_notebook_in_plain_jupyterlab_shows_no_raw_markup(browser, plain_lab, name):  # noqa: F811
    base, root = plain_lab
    nb = nbformat.read(root / f"reader_{name}.ipynb", as_version=4)
    number = int(name[:2])
    cells = _open(browser, base, f"reader_{name}.ipynb", len(nb.cells), f"lab_reader_plain_{name}",
                  scroll_to=f"练习 {number}.1")
    assert not any(c["myst"] for c in cells), "jupyterlab-myst rendered a cell: this JupyterLab is not plain"
    found = _markup(cells)
    assert not found, f"raw Markdown/MyST in the reader notebook: {found[:5]}"
    source = nbformat.read(ROOT / "chapters" / f"{name}.ipynb", as_version=4)
    count = sum(c.source.count("{exercise}") for c in source.cells if c.cell_type == "markdown")
    headings = [h for c in cells for h in c["headings"] if re.fullmatch(r"练习 [\d.]+", h)]
    assert headings == [f"练习 {number}.{k}" for k in range(1, count + 1)]
    details = [d for c in cells for d in c["details"]]
    assert all(not d["open"] and d["summary"].endswith("的解答") for d in details), details
    folded = nb.metadata["colab"]["collapsed_sections"]
    assert sum(c["hiddenButton"] for c in cells) == len(folded), "a gated solution's heading is not collapsed"
    solutions = sum(1 for c in nb.cells if "的解答" in c.source)
    assert len(details) + len(folded) == solutions, "a solution is not folded"
    hidden_code = [c for c in cells if not c["markdown"] and not c["shown"]]
    assert bool(hidden_code) == bool(folded), "the code of the gated solutions should be hidden"


def test_source_notebook_in_plain_jupyterlab_shows_raw_markup(browser, plain_lab):  # noqa: F811
    """The control for the test above, and the "before" screenshot."""
    base, root = plain_lab
    name = "source_09_data_parallel"
    count = len(nbformat.read(root / f"{name}.ipynb", as_version=4).cells)
    cells = _open(browser, base, f"{name}.ipynb", count, "lab_source_plain_09_data_parallel",
                  scroll_to="ex-09-1")
    found = _markup(cells)
    assert len(found) > 10, f"the check should find the sources' MyST markup: {found}"
    assert any("{cite}" in f for f in found) and any("{ref}" in f for f in found)


def test_make_lab_renders_myst_in_the_source_notebook(browser, myst_lab):  # noqa: F811
    name = "09_data_parallel"
    source = nbformat.read(ROOT / "chapters" / f"{name}.ipynb", as_version=4)
    cells = _open(browser, myst_lab, f"{name}.ipynb", len(source.cells), f"lab_source_myst_{name}",
                  scroll_to="（纸笔）。(1)")
    markdown = [c for c in cells if c["markdown"]]
    assert all(c["myst"] for c in markdown), "jupyterlab-myst did not render every Markdown cell"
    found = _markup(cells)
    assert not found, f"MyST shown raw in `make lab`: {found[:5]}"
    labels = re.findall(r"^:label: (ex-\d\d-\d+)", "\n".join(c.source for c in source.cells), re.M)
    assert labels and [i for c in markdown for i in c["mystExercises"] if i.startswith("ex-")] == labels
