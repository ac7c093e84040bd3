"""Multi-seed comparisons: train one fresh model per seed, summarise, tabulate."""

import html
import math
from dataclasses import dataclass

import torch
from torch import nn

from .training import History, TrainingDiverged, train_ch5
from .utils import set_seed


@dataclass
class Run:
    """One training run: its seed, the trained network and its history."""

    seed: int
    net: nn.Module
    history: History
    diverged: bool = False

    def final(self, metric="test_acc"):
        """Last epoch's value of ``metric``; NaN if the run diverged."""
        if self.diverged or not self.history:
            return math.nan
        return getattr(self.history[-1], metric)


def run_seeds(make_net, make_optimizer, train_iter, test_iter, seeds, num_epochs,
              device=None, verbose=False):
    """Train ``make_net()`` once per seed with ``make_optimizer(net.parameters())``.

    Each seed fixes both the initial weights and the order of the training
    batches, so two settings run with the same seeds see the same data in the
    same order. A run whose loss becomes NaN/inf is kept, marked ``diverged``.
    """
    runs = []
    for seed in seeds:
        set_seed(seed)
        net = make_net()
        if device is not None:
            net.to(device)
        train_iter.seed, train_iter.epoch = seed, 0
        optimizer = make_optimizer(net.parameters())
        try:
            history = train_ch5(net, train_iter, test_iter, None, optimizer, device,
                                num_epochs, verbose=verbose, progress=False, live_plot=False)
            runs.append(Run(seed, net, history))
        except TrainingDiverged as err:
            runs.append(Run(seed, net, err.history, diverged=True))
    return runs


def mean_std(values):
    """Mean and (population) standard deviation, ignoring NaN; (nan, nan) if empty."""
    values = torch.tensor([v for v in values if not math.isnan(v)], dtype=torch.float64)
    if len(values) == 0:
        return math.nan, math.nan
    return values.mean().item(), values.std(correction=0).item()


def summarize(runs, metric="test_acc"):
    """``(mean, std, diverged count)`` of the final ``metric`` over ``runs``."""
    mean, std = mean_std([run.final(metric) for run in runs])
    return mean, std, sum(run.diverged for run in runs)


class Table:
    """A small results table that renders as Markdown/HTML in a notebook."""

    def __init__(self, headers, rows):
        if any(len(row) != len(headers) for row in rows):
            raise ValueError("every row needs one value per header")
        self.headers, self.rows = list(headers), [list(r) for r in rows]

    @staticmethod
    def _fmt(value):
        if isinstance(value, float):
            return "—" if math.isnan(value) else f"{value:.4f}"
        return str(value)

    def _repr_markdown_(self):
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        lines += ["| " + " | ".join(self._fmt(v) for v in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def _repr_html_(self):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(self._fmt(v))}</td>" for v in row) + "</tr>"
            for row in self.rows)
        return f"<table class=\"table\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self):
        return self._repr_markdown_()


def fmt_mean_std(mean, std, digits=3):
    """Format ``mean ± std`` for tables and prose."""
    if math.isnan(mean):
        return "—"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
