"""The one 'is a person watching?' switch, the callback base and the tqdm progress bar."""

import io
import math
import types

import pytest
import torch

import d2lzh_pytorch as d2l
from d2lzh_pytorch import progress


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_not_in_a_notebook_under_pytest():
    assert d2l.in_notebook() is False


def test_in_notebook_means_a_kernel_shell(monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))
    assert d2l.in_notebook() is True
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace())  # terminal IPython
    assert d2l.in_notebook() is False


@pytest.mark.parametrize("build, notebook, tty, expected, notebook_only", [
    ("1", True, True, False, False),  # the book build: nobody watches
    ("", True, False, True, True),  # a notebook
    ("", False, True, True, False),  # a terminal
    ("", False, True, False, True),  # a terminal, but only notebooks asked for (live plots)
    ("0", False, False, False, False),  # output piped into a file
])
def test_is_interactive(monkeypatch, build, notebook, tty, expected, notebook_only):
    monkeypatch.setenv("BN_BOOK_BUILD", build)
    monkeypatch.setattr(progress, "in_notebook", lambda: notebook)
    monkeypatch.setattr("sys.stderr", _Stream(tty))
    assert d2l.is_interactive(notebook_only=notebook_only) is expected


def test_is_interactive_with_a_closed_stderr(monkeypatch):
    monkeypatch.delenv("BN_BOOK_BUILD", raising=False)
    stream = io.StringIO()
    stream.close()
    monkeypatch.setattr("sys.stderr", stream)
    assert d2l.is_interactive() is False


def test_callback_hooks_are_no_ops():
    state = d2l.TrainState(net=None, device=torch.device("cpu"), num_epochs=1, num_batches=1,
                           history=d2l.History())
    callback = d2l.Callback()
    for hook in ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end"):
        assert getattr(callback, hook)(state) is None
    assert state.epoch == 0 and math.isnan(state.loss) and not state.synced


def _run_bar(bar, num_epochs=2, num_batches=3):
    history = d2l.History()
    state = d2l.TrainState(net=None, device=torch.device("cpu"), num_epochs=num_epochs,
                           num_batches=num_batches, history=history)
    bar.on_train_begin(state)
    for epoch in range(1, num_epochs + 1):
        state.epoch = epoch
        bar.on_epoch_begin(state)
        for i in range(1, num_batches + 1):
            state.batch, state.synced, state.loss = i, i == 2, 0.5
            bar.on_batch_end(state)
        history.append(d2l.EpochStats(epoch, 0.25, 0.9, 0.8, 1.0, 100.0))
        bar.on_epoch_end(state)
    bar.on_train_end(state)


def test_progress_bar_shows_each_epoch_with_its_loss():
    stream = io.StringIO()
    bar = d2l.ProgressBar(file=stream, mininterval=0)
    _run_bar(bar)
    text = stream.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text
    assert "3/3" in text and "loss 0.5000" in text and "loss 0.2500" in text
    assert bar.bar is None  # closed


def test_progress_bar_can_stay(monkeypatch):
    stream = io.StringIO()
    _run_bar(d2l.ProgressBar(leave=True, file=stream), num_epochs=1)
    assert stream.getvalue().rstrip().endswith("loss 0.2500]")


def test_progress_bar_closes_when_training_stops_early():
    stream = io.StringIO()
    bar = d2l.ProgressBar(file=stream)
    state = d2l.TrainState(net=None, device=torch.device("cpu"), num_epochs=3, num_batches=5,
                           history=d2l.History(), epoch=1)
    bar.on_train_end(state)  # nothing open: fine
    bar.on_epoch_begin(state)
    bar.on_train_end(state)
    assert bar.bar is None
