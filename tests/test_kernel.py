"""The notebook path under a real Jupyter kernel: progress widgets, the live plot, printed lines.

A small in-memory notebook runs in this environment's ``python3`` kernel with
``BN_BOOK_BUILD`` unset, i.e. the way a person watching a notebook sees the
training loops (the book build turns these displays off).
"""

import re

import nbformat
import pytest
from nbclient import NotebookClient

pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

WIDGET = "application/vnd.jupyter.widget-view+json"
EPOCH_LINE = r"epoch \d, loss \d+\.\d{4}, train acc \d\.\d{3}, test acc \d\.\d{3}, time \d+\.\d sec"

CELLS = [
    # 0: the switches a person watching has
    """import torch
from torch import nn
import d2lzh_pytorch as d2l
assert not d2l.building_book() and d2l.in_notebook() and d2l.is_interactive()
train_iter, test_iter = d2l.load_data_fashion_mnist(64, num_train=256, num_test=128)""",
    # 1: train_ch5 with its defaults: progress bar and live plot on
    """d2l.set_seed(0)
net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))
history = d2l.train_ch5(net, train_iter, test_iter, 64, torch.optim.SGD(net.parameters(), lr=0.1),
                        'cpu', 2)
print(len(history))""",
    # 2: d2l's train_ch6 with its Animator
    """net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.Sigmoid(), nn.Linear(32, 10))
history = d2l.train_ch6(net, train_iter, test_iter, 2, 0.5, d2l.try_gpu())""",
    # 3: a progress bar on request in train_ch6
    """history = d2l.train_ch6(net, train_iter, test_iter, 1, 0.5, 'cpu', progress=True, live_plot=False)""",
]


class _RecordingClient(NotebookClient):
    """Also records the kind of every message each cell's execution received."""

    def __init__(self, nb, **kwargs):
        super().__init__(nb, **kwargs)
        self.messages = {}

    def process_message(self, msg, cell, cell_index):
        self.messages.setdefault(cell_index, []).append(msg["msg_type"])
        return super().process_message(msg, cell, cell_index)


def _outputs(cell, output_type=None):
    return [o for o in cell.outputs if output_type is None or o.output_type == output_type]


def _stdout(cell):
    return "".join(o.text for o in _outputs(cell, "stream") if o.name == "stdout")


def _images(cell):
    return [o for o in _outputs(cell, "display_data") if "image/png" in o.data]


def _widgets(cell):
    return [o for o in _outputs(cell, "display_data") if WIDGET in o.data]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("BN_BOOK_BUILD", raising=False)  # the kernel inherits this environment
        mp.setenv("OMP_NUM_THREADS", "1")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CELLS])
        client = _RecordingClient(nb, kernel_name="python3", timeout=120, allow_errors=False,
                                  resources={"metadata": {"path": str(tmp_path_factory.mktemp("kernel"))}})
        client.execute()
    return nb, client.messages


def test_train_ch5_shows_progress_widgets_live_plot_and_epoch_lines(executed):
    nb, messages = executed
    cell = nb.cells[1]
    assert len(_widgets(cell)) == 2  # one tqdm bar per epoch
    assert len(_images(cell)) == 1  # one figure; not shown again when the cell ends
    assert messages[1].count("update_display_data") >= 1  # updated in place, after each epoch
    lines = _stdout(cell).splitlines()
    assert lines[0] == "training on cpu"
    assert [bool(re.fullmatch(EPOCH_LINE, line)) for line in lines[1:3]] == [True, True]
    assert lines[3] == "2"
    assert not [o for o in nb.cells[1].outputs if o.output_type == "stream" and o.name == "stderr"]


def test_train_ch6_prints_d2l_lines_and_shows_its_animator(executed):
    nb, messages = executed
    cell = nb.cells[2]
    assert len(_images(cell)) == 1 and "update_display_data" in messages[2]
    assert not _widgets(cell)  # d2l's train_ch6 has no progress bar
    out = _stdout(cell)
    assert re.fullmatch(r"training on (\S+)\nloss \d\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}\n"
                        r"\d+\.\d examples/sec on \1\n", out), out


def test_train_ch6_progress_bar_on_request(executed):
    cell = executed[0].cells[3]
    assert len(_widgets(cell)) == 1 and not _images(cell)
