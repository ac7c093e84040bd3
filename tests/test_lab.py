"""`make lab`: JupyterLab on chapters/ with the book's environment as the python3 kernel.

Starts it headless on a free port, asks its REST API what it serves, then stops
it (about 10 s). Marked `book` so it runs with the browser tests, not the unit tests.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.book, pytest.mark.timeout(900)]  # builds, browsers, JupyterLab

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bn-book-test"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, deadline):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_make_lab_serves_the_chapters_with_the_book_kernel(tmp_path):
    port = _free_port()
    args = f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.token={TOKEN}"
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"], cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        base = f"http://127.0.0.1:{port}/api"
        try:
            specs = _get(f"{base}/kernelspecs?token={TOKEN}", deadline)
        except OSError:
            pytest.fail(f"JupyterLab did not answer within 90 s: {log.read_text()[-2000:]}")
        contents = _get(f"{base}/contents?token={TOKEN}", deadline)
        lab = _get(f"http://127.0.0.1:{port}/lab/api/settings?token={TOKEN}", deadline)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # make and the server it started (their own session)
        proc.wait(timeout=30)
    assert specs["default"] == "python3"
    argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
    assert Path(argv[0]).resolve() == Path(sys.executable).resolve(), f"not the book's .venv: {argv}"
    names = {item["name"] for item in contents["content"]}
    assert {"01_motivation.ipynb", "00_preface.md"} <= names, f"not serving chapters/: {sorted(names)}"
    assert lab["settings"], "JupyterLab's front end did not answer"
