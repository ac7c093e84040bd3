"""Shared fixtures: the book's configuration and table of contents, and the headless browser."""

import os
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import book_structure  # noqa: E402


@pytest.fixture(scope="session")
def book_config():
    """``_config.yml`` as a dict."""
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def toc_docnames():
    """Document names listed in ``_toc.yml``, e.g. ``chapters/01_motivation``."""
    return book_structure.docnames(ROOT)


# one Chromium for every browser test of the session (test_book, test_lab_notebooks): Playwright's
# sync API cannot start a second instance while the first one runs
CHROMIUM = Path(os.environ.get("BN_CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


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
