"""The Colab path of the reader notebooks' setup cell, run in a real kernel with ``IN_COLAB`` forced.

A stand-in ``google.colab`` module on the kernel's path makes the cell take its
Colab branch. The package's wheel, built from this checkout, is served from
127.0.0.1 as the published location (``make notebooks`` writes it next to the
notebooks); pip installs it into a fresh folder (``PIP_TARGET``, never into the
book's environment) without an index. The data then come from a local mirror
of torchvision's download addresses, as in Colab where ``data/`` is absent.
Nothing leaves 127.0.0.1.
"""

import functools
import http.server
import os
import socket
import sys
import threading
from pathlib import Path
from unittest import mock

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import reader_notebooks as rn  # noqa: E402
import setup_cell  # noqa: E402

DATA = ROOT / "data"


class _Handler(http.server.SimpleHTTPRequestHandler):
    requested = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.requested.append(self.path)
        super().do_GET()


@pytest.fixture
def serve():
    """``serve(folder)`` -> (base URL on 127.0.0.1, paths requested); stopped after the test."""
    servers = []

    def start(folder):
        requested = []
        handler = type("Handler", (_Handler,), {"requested": requested})
        handler = functools.partial(handler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", requested

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return rn.build_wheel(tmp_path_factory.mktemp("published"))


@pytest.fixture
def colab(tmp_path):
    """The kernel's environment in "Colab": google.colab importable, pip aimed at a fresh folder."""
    fake = tmp_path / "fake"
    (fake / "google" / "colab").mkdir(parents=True)  # a namespace package `google`, like Colab's
    (fake / "google" / "colab" / "__init__.py").write_text('"""Stand-in: only imported."""\n')
    target = tmp_path / "site"
    target.mkdir()
    env = {"PYTHONPATH": os.pathsep.join([str(target), str(fake)]), "PIP_TARGET": str(target),
           "PIP_NO_DEPS": "1", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost", "OMP_NUM_THREADS": "1"}
    return env, target


def _run(sources, cwd, env, timeout=300):
    """Execute ``sources`` as code cells in a fresh python3 kernel started with ``env``; the notebook."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    with mock.patch.dict(os.environ, env):
        os.environ.pop("BN_BOOK_DATA", None)
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def _text(nb):
    return "".join(o.get("text", "") for c in nb.cells for o in c.outputs)


def test_colab_installs_the_published_wheel_and_fetches_the_data(tmp_path, serve, wheel, colab):
    env, target = colab
    base, wheel_requests = serve(wheel.parent)
    mirror, data_requests = serve(DATA)
    docname = "chapters/04_lenet_bn"  # the reader notebook, with the local server as published location
    nb = rn.convert_notebook(nbformat.read(ROOT / f"{docname}.ipynb", as_version=4), docname, rn.load_book(),
                             setup_cell.render_reader(base, rn.wheel_name()))
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    assert cells[0] == setup_cell.render_reader(base, rn.wheel_name())
    assert "import d2lzh_pytorch as d2l" in cells[1]
    mirrors = (  # torchvision's download addresses, pointed at the local mirror (the test's only addition)
        "import torchvision\n"
        f"torchvision.datasets.FashionMNIST.mirrors = ['{mirror}/FashionMNIST/raw/']")
    check = ("images, labels = d2l.load_arrays('FashionMNIST', train=False)\n"
             "print(IN_COLAB, d2l.__file__, tuple(images.shape), d2l.default_data_root())")
    result = _text(_run([cells[0], mirrors, cells[1], check], tmp_path, env))
    assert wheel_requests == [f"/{wheel.name}"]
    assert f"True {target / 'd2lzh_pytorch' / '__init__.py'} (10000, 1, 28, 28) {tmp_path / 'data'}" in result
    stems = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte",
             "train-labels-idx1-ubyte")  # the package fetches every missing file of the data set
    assert sorted(data_requests) == [f"/FashionMNIST/raw/{stem}.gz" for stem in stems]
    assert (tmp_path / "data" / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte.gz").is_file()


def test_a_missing_server_is_a_clear_error(tmp_path, colab):
    env, target = colab
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    source = setup_cell.render_reader(base, rn.wheel_name())
    with pytest.raises(CellExecutionError) as err:
        _run([source], tmp_path, env, timeout=120)
    message = str(err.value)
    assert f"pip could not install the book's package from {base}/{rn.wheel_name()}" in message
    assert "check that this address is reachable" in message
    assert "Connection refused" in message or "connection" in message.lower()
    assert list(target.iterdir()) == []


def test_outside_colab_the_cell_does_nothing(tmp_path, colab):
    env, target = colab
    env = {**env, "PYTHONPATH": str(target)}  # no google.colab
    source = setup_cell.render_reader("http://127.0.0.1:9/nowhere", rn.wheel_name())
    nb = _run([source, "print(IN_COLAB)"], tmp_path, env, timeout=120)
    assert _text(nb) == "False\n" and list(target.iterdir()) == []


def test_the_wheel_is_named_as_the_setup_cell_says(wheel):
    assert wheel.name == rn.wheel_name() and wheel.stat().st_size > 10_000
