"""Names kept for old code: the original notes' ``FlattenLayer`` (today ``nn.Flatten``) and
d2l's (d2l-zh 2.x, ``from d2l import torch as d2l``) small helpers with d2l's meaning.
The book's own loops do not use them (they keep their sums on the device);
``train_ch6`` lives in ``training``, ``Animator`` in ``animator``.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from torch import nn

from .training import evaluate_accuracy

__all__ = ["Accumulator", "FlattenLayer", "Timer", "accuracy", "evaluate_accuracy_gpu", "plt"]


class FlattenLayer(nn.Module):
    """Flatten every dimension but the first (batch) one: the original notes' name for ``nn.Flatten``."""

    def forward(self, X):
        return X.reshape(X.shape[0], -1)


class Timer:
    """Record several running times (d2l's ``Timer``)."""

    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        """Start the timer."""
        self.tik = time.time()

    def stop(self):
        """Stop the timer, record the time and return it."""
        self.times.append(time.time() - self.tik)
        return self.times[-1]

    def avg(self):
        """Mean recorded time."""
        return sum(self.times) / len(self.times)

    def sum(self):
        """Sum of the recorded times."""
        return sum(self.times)

    def cumsum(self):
        """Cumulative sums of the recorded times."""
        return np.array(self.times).cumsum().tolist()


class Accumulator:
    """Sums over ``n`` variables (d2l's ``Accumulator``); each ``add`` reads its values to the host."""

    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args, strict=False)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


def accuracy(y_hat, y):
    """Number of correct predictions, as a float (d2l's ``accuracy``; not a fraction)."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def evaluate_accuracy_gpu(net, data_iter, device=None):
    """d2l's argument order for ``evaluate_accuracy(data_iter, net, device)``."""
    return evaluate_accuracy(data_iter, net, device)
