"""How the training loops report: the callback protocol, the tqdm progress bar,
and the one place that decides whether a person is watching.

``train_ch5`` and ``train_ch6`` call, on each callback, whichever of these
methods it has (all optional; ``Callback`` supplies no-op defaults), always with
the same ``TrainState``::

    on_train_begin(state)   before the first epoch
    on_epoch_begin(state)   state.epoch is the new (1-based) epoch
    on_batch_end(state)     after each optimiser step; state.batch counts the
                            batches of this epoch. state.loss and state.train_acc
                            are refreshed only where the loop read them from the
                            device (state.synced is then True): every few
                            batches, never every step on a GPU.
    on_epoch_end(state)     state.history[-1] is the finished epoch's EpochStats
    on_train_end(state)     always, also after Ctrl-C or a diverged loss
"""

import math
import sys
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from .config import building_book

__all__ = ["Callback", "ProgressBar", "TrainState", "in_notebook", "is_interactive"]


def in_notebook():
    """True when this code runs in a Jupyter kernel (notebook, JupyterLab, VS Code, Colab)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def is_interactive(notebook_only=False):
    """Is a person watching? The one switch for progress bars and live plots.

    False while the book is built (``BN_BOOK_BUILD=1``, see ``config.building_book``);
    otherwise True in a Jupyter kernel and, unless ``notebook_only``, when
    standard error is a terminal.
    """
    if building_book():
        return False
    if in_notebook():
        return True
    if notebook_only:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


@dataclass
class TrainState:
    """What a training loop tells its callbacks; the same object for every call."""

    net: Any
    device: torch.device
    num_epochs: int
    num_batches: int
    history: Any  # training.History, the finished epochs
    epoch: int = 0  # current epoch, 1-based
    batch: int = 0  # batches finished in the current epoch
    loss: float = math.nan  # mean training loss of this epoch so far, as of the last read
    train_acc: float = math.nan  # training accuracy of this epoch so far, as of the last read
    synced: bool = False  # loss/train_acc were read from the device at this batch
    examples: int = 0  # training examples seen in this epoch
    train_seconds: float = 0.0  # seconds of training (no evaluation) in this epoch


class Callback:
    """Base class with no-op hooks; override the ones you need (see the module docstring)."""

    def on_train_begin(self, state):
        pass

    def on_epoch_begin(self, state):
        pass

    def on_batch_end(self, state):
        pass

    def on_epoch_end(self, state):
        pass

    def on_train_end(self, state):
        pass


class ProgressBar(Callback):
    """One ``tqdm.auto`` bar per epoch: a widget in notebooks, a line on stderr elsewhere.

    The bar advances every batch without touching the device; its loss is the
    one the loop last read. With ``leave=False`` (default) each bar disappears
    when its epoch ends, leaving the printed epoch lines.
    """

    def __init__(self, leave=False, file=None, mininterval=0.2):
        self.leave, self.file, self.mininterval = leave, file, mininterval
        self.bar = None

    def on_epoch_begin(self, state):
        self._close()
        self.bar = tqdm(total=state.num_batches, desc=f"epoch {state.epoch}/{state.num_epochs}",
                        unit="batch", leave=self.leave, file=self.file, mininterval=self.mininterval,
                        dynamic_ncols=True)

    def on_batch_end(self, state):
        if self.bar is None:
            return
        if state.synced:
            self.bar.set_postfix_str(f"loss {state.loss:.4f}", refresh=False)
        self.bar.update(1)

    def on_epoch_end(self, state):
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {state.history[-1].loss:.4f}", refresh=False)
            self.bar.refresh()
        self._close()

    def on_train_end(self, state):
        self._close()

    def _close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
