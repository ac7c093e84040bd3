"""The download fallback (Colab without ``data/``), end to end against a local HTTP mirror on 127.0.0.1."""

import functools
import http.server
import shutil
import socket
import threading

import pytest
import torch
import torchvision

import d2lzh_pytorch as d2l
from d2lzh_pytorch import data as data_mod

REPO_DATA = d2l.default_data_root()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and records the paths asked for, without logging to stderr."""

    requested = None  # set per server

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.requested.append(self.path)
        super().do_GET()


@pytest.fixture(autouse=True)
def _only_local_traffic(monkeypatch):
    """Every fetch must go to 127.0.0.1 (and never through a proxy); the cache starts empty."""
    fetch = data_mod._fetch

    def local_only(url, timeout):
        assert url.startswith("http://127.0.0.1:"), f"a test tried to leave 127.0.0.1: {url}"
        return fetch(url, timeout=5)

    monkeypatch.setattr(data_mod, "_fetch", local_only)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    d2l.clear_data_cache()
    yield
    d2l.clear_data_cache()


@pytest.fixture
def serve():
    """``serve(folder)`` starts an HTTP server for ``folder`` on 127.0.0.1 (ephemeral port).

    Returns ``(base_url, requested_paths)``; every server is shut down after the test.
    """
    servers = []

    def start(folder):
        requested = []
        handler = type("Handler", (_QuietHandler,), {"requested": requested})
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}", requested

    try:
        yield start
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens (a port that was just released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("name", ["MNIST", "FashionMNIST"])
def test_missing_files_are_downloaded_from_torchvisions_mirrors(name, serve, tmp_path, monkeypatch):
    base, requested = serve(REPO_DATA)
    monkeypatch.setattr(getattr(torchvision.datasets, name), "mirrors", [f"{base}/{name}/raw/"])
    root = tmp_path / "fresh"
    for train in (True, False):
        images, labels = d2l.load_arrays(name, train, root=root)
        expected_images, expected_labels = d2l.load_arrays(name, train)
        assert torch.equal(images, expected_images) and torch.equal(labels, expected_labels)
    raw = root / name / "raw"
    stems = data_mod.RESOURCES[name]
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{s}.gz" for s in stems)  # only what was missing
    for stem in stems:
        assert (raw / f"{stem}.gz").read_bytes() == (REPO_DATA / name / "raw" / f"{stem}.gz").read_bytes()
    assert sorted(requested) == sorted(f"/{name}/raw/{stem}.gz" for stem in stems)


def test_a_dead_mirror_is_skipped(serve, closed_port_url, tmp_path, monkeypatch):
    base, _ = serve(REPO_DATA)
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors",
                        [f"{closed_port_url}/MNIST/raw/", f"{base}/MNIST/raw/"])
    images, _ = d2l.load_arrays("MNIST", train=False, root=tmp_path)
    assert torch.equal(images, d2l.load_arrays("MNIST", train=False)[0])


def test_server_down_gives_a_clear_error(closed_port_url, tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"{closed_port_url}/MNIST/raw/"])
    with pytest.raises(FileNotFoundError) as err:
        d2l.load_arrays("MNIST", train=True, root=tmp_path)
    message = str(err.value)
    assert "could not be downloaded" in message and closed_port_url in message
    for stem in data_mod.RESOURCES["MNIST"]:
        assert f"{stem}.gz" in message
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "data/MNIST/raw/" in message and "BN_BOOK_DATA" in message
    assert list(tmp_path.rglob("*.gz")) == []


def test_a_mirror_with_wrong_content_is_rejected(serve, tmp_path, monkeypatch):
    bad = tmp_path / "bad_mirror"
    shutil.copytree(REPO_DATA / "MNIST" / "raw", bad, ignore=shutil.ignore_patterns("*-ubyte"))
    labels = bad / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes((bad / "train-labels-idx1-ubyte.gz").read_bytes())  # the wrong file
    base, _ = serve(bad)
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"{base}/"])
    root = tmp_path / "fresh"
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz.*SHA-256"):
        d2l.load_arrays("MNIST", train=False, root=root)
    assert not (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").exists()


def test_ensure_torchvision_layout_downloads_then_decompresses(serve, tmp_path, monkeypatch):
    base, _ = serve(REPO_DATA)
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", [f"{base}/FashionMNIST/raw/"])
    root = d2l.ensure_torchvision_layout(tmp_path, names=["FashionMNIST"])
    ds = torchvision.datasets.FashionMNIST(str(root), train=False)
    assert torch.equal(ds.targets, d2l.load_arrays("FashionMNIST", train=False)[1])
