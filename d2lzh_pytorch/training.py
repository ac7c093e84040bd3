"""``train_ch5`` and ``evaluate_accuracy``: the training loop the chapters share."""

import math
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn

from .config import building_book

__all__ = ["EpochStats", "History", "TrainingDiverged", "evaluate_accuracy", "train_ch5"]


@dataclass(frozen=True)
class EpochStats:
    """What one epoch of ``train_ch5`` measured."""

    epoch: int
    loss: float  # mean cross-entropy per training example
    train_acc: float  # accuracy on the training batches, in training mode
    test_acc: float
    seconds: float  # training and evaluation
    examples_per_sec: float  # training examples per second of training


class History(list):
    """A list of ``EpochStats`` with column access: ``history.test_acc`` etc."""

    interrupted = False  # True when Ctrl-C stopped training early

    def column(self, name):
        return [getattr(stats, name) for stats in self]

    loss = property(lambda self: self.column("loss"))
    train_acc = property(lambda self: self.column("train_acc"))
    test_acc = property(lambda self: self.column("test_acc"))
    seconds = property(lambda self: self.column("seconds"))
    examples_per_sec = property(lambda self: self.column("examples_per_sec"))


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; ``history`` holds the finished epochs."""

    def __init__(self, message, history):
        super().__init__(message)
        self.history = history


def _model_device(net):
    for tensor in net.parameters():
        return tensor.device
    return torch.device("cpu")


def evaluate_accuracy(data_iter, net, device=None):
    """Fraction of correct predictions of ``net`` on ``data_iter``.

    Runs in eval mode without gradients and restores the previous mode.
    """
    device = torch.device(device) if device is not None else _model_device(net)
    was_training = net.training
    net.eval()
    correct, total = 0, 0
    try:
        with torch.no_grad():
            for X, y in data_iter:
                X, y = X.to(device), y.to(device)
                correct += (net(X).argmax(dim=1) == y).sum().item()
                total += y.numel()
    finally:
        net.train(was_training)
    if total == 0:
        raise ValueError("evaluate_accuracy got an empty data iterator")
    return correct / total


def _interactive():
    """True in a Jupyter kernel or on a terminal, and not while the book builds."""
    if building_book():
        return False
    return "ipykernel" in sys.modules or sys.stderr.isatty()


class _Progress:
    """One status line per epoch, updated in place (notebook or terminal)."""

    def __init__(self, enabled, total):
        self.enabled, self.total, self.handle = enabled, total, None
        self.last, self.shown = 0.0, False

    def update(self, done, epoch, loss):
        if not self.enabled or (time.perf_counter() - self.last < 0.2 and done < self.total):
            return
        self.last, self.shown = time.perf_counter(), True
        filled = int(30 * done / self.total)
        text = f"epoch {epoch} [{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} loss {loss:.4f}"
        if "ipykernel" in sys.modules:
            from IPython.display import display

            if self.handle is None:
                self.handle = display({"text/plain": text}, raw=True, display_id=True)
            else:
                self.handle.update({"text/plain": text}, raw=True)
        else:
            print("\r" + text, end="", file=sys.stderr, flush=True)

    def close(self):
        if self.shown and "ipykernel" not in sys.modules:
            print(file=sys.stderr)
        self.handle, self.shown = None, False


class _LiveCurve:
    """A figure of loss and accuracies redrawn after every epoch (notebooks)."""

    def __init__(self, enabled):
        self.enabled = enabled and "ipykernel" in sys.modules
        self.handle = self.fig = None

    def update(self, history):
        if not self.enabled:
            return
        import matplotlib.pyplot as plt
        from IPython.display import display

        from .plotting import plot_history

        if self.fig is None:
            self.fig, self.axes = plt.subplots(1, 2, figsize=(8, 3))
        for ax in self.axes:
            ax.clear()
        plot_history(history, axes=self.axes)
        self.fig.tight_layout()
        if self.handle is None:
            self.handle = display(self.fig, display_id=True)
        else:
            self.handle.update(self.fig)

    def close(self):
        if self.fig is not None:
            import matplotlib.pyplot as plt

            plt.close(self.fig)


def train_ch5(net, train_iter, test_iter, batch_size, optimizer, device=None, num_epochs=5,
              *, loss=None, progress=None, live_plot=None, verbose=True):
    """Train ``net`` and return a ``History`` (one ``EpochStats`` per epoch).

    The signature is the seeds' one. ``batch_size`` is kept for it only: the
    loss is averaged per training example whatever the batch size (the seeds
    divided the already averaged loss by the batch size a second time).
    Prints ``epoch 1, loss 0.6593, train acc 0.765, test acc 0.701, time 8.6 sec``
    per epoch. ``progress`` and ``live_plot`` (None: on when a person is
    watching a notebook or terminal) show a bar within the epoch and curves.
    A NaN/inf loss raises ``TrainingDiverged``; Ctrl-C returns the history so far.
    """
    if not isinstance(num_epochs, int) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs!r}")
    if len(train_iter) == 0:
        raise ValueError("train_iter yields no batches")
    device = torch.device(device) if device is not None else _model_device(net)
    net.to(device)
    loss_fn = loss if loss is not None else nn.CrossEntropyLoss()
    watch = _interactive()
    bar = _Progress(watch if progress is None else progress, len(train_iter))
    curve = _LiveCurve(watch if live_plot is None else live_plot)
    history = History()
    if verbose:
        print(f"training on {device}")
    try:
        for epoch in range(1, num_epochs + 1):
            net.train()
            loss_sum, correct, n = 0.0, 0, 0
            start = time.perf_counter()
            for i, (X, y) in enumerate(train_iter, 1):
                X, y = X.to(device), y.to(device)
                y_hat = net(X)
                batch_loss = loss_fn(y_hat, y)  # mean over the batch
                value = batch_loss.item()
                if not math.isfinite(value):
                    raise TrainingDiverged(
                        f"the training loss became {value} in epoch {epoch}, batch {i}: "
                        f"training diverged. Lower the learning rate (or add batch "
                        f"normalisation) and train again.", history)
                optimizer.zero_grad()
                batch_loss.backward()
                optimizer.step()
                loss_sum += value * y.numel()
                correct += (y_hat.argmax(dim=1) == y).sum().item()
                n += y.numel()
                bar.update(i, epoch, loss_sum / n)
            train_seconds = time.perf_counter() - start
            test_acc = evaluate_accuracy(test_iter, net, device)
            stats = EpochStats(epoch, loss_sum / n, correct / n, test_acc,
                               time.perf_counter() - start, n / train_seconds)
            history.append(stats)
            bar.close()
            curve.update(history)
            if verbose:
                print(f"epoch {epoch}, loss {stats.loss:.4f}, train acc {stats.train_acc:.3f}, "
                      f"test acc {stats.test_acc:.3f}, time {stats.seconds:.1f} sec")
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"interrupted: returning the {len(history)} finished epoch(s)")
    finally:
        bar.close()
        curve.close()
    return history
