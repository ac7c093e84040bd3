"""Shared fixtures: the book's configuration and table of contents."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files(toc):
    """Every ``file:`` of a jb-book ``_toc.yml`` (root first), without suffix."""
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return files


@pytest.fixture(scope="session")
def book_config():
    """``_config.yml`` as a dict."""
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def toc_docnames():
    """Document names listed in ``_toc.yml``, e.g. ``chapters/01_motivation``."""
    return toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8")))
