"""Multi-seed comparisons: train one fresh model per seed, summarise, tabulate."""

import functools
import html
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .training import History, TrainingDiverged, train_ch5
from .utils import set_seed

__all__ = ["Run", "Table", "compare_bn", "fmt_mean_std", "gap_sentence", "mean_std", "results_table",
           "run_seeds", "summarize"]


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

    def after_epoch(self, epoch, metric="test_acc"):
        """``metric`` after the given (1-based) epoch; NaN if the run stopped before it."""
        if len(self.history) < epoch:
            return math.nan
        return getattr(self.history[epoch - 1], metric)


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


def compare_bn(build, make_optimizer, train_iter, test_iter, num_epochs, *, seeds, device=None,
               **model_kwargs):
    """Train ``build(bn=False, ...)`` and ``build(bn=True, ...)`` with the same seeds.

    Returns ``{"no BN": runs, "BN": runs}``; run ``i`` of both lists shares its
    seed, so the two models start from matched weights and see the same batches.
    """
    return {name: run_seeds(functools.partial(build, bn=bn, **model_kwargs), make_optimizer,
                            train_iter, test_iter, seeds, num_epochs, device=device)
            for name, bn in (("no BN", False), ("BN", True))}


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


def gap_sentence(label, base, other, base_name="无 BN", other_name="有 BN"):
    """One Chinese sentence on the paired difference ``other - base``, seed by seed.

    ``base`` and ``other`` hold one accuracy per seed (same order); NaN pairs are
    skipped. The sentence gives the mean difference in percentage points, its
    spread and whether every seed agrees in direction.
    """
    diffs = [100 * (b - a) for a, b in zip(base, other, strict=True) if not (math.isnan(a) or math.isnan(b))]
    if not diffs:
        return f"{label}：没有可比较的运行（全部发散）。"
    mean, std = mean_std(diffs)
    wins = sum(d > 0 for d in diffs)
    if wins == len(diffs):
        verdict = f"每个种子上都是「{other_name}」更高"
    elif all(d < 0 for d in diffs):
        verdict = f"每个种子上都是「{other_name}」更低"
    else:
        verdict = "各种子的方向不一致，这些运行不足以分出高下"
    if abs(mean) < 0.5:
        verdict += "；平均差距不到 0.5 个百分点，实际意义很小"
    return (f"{label}：「{other_name}」减「{base_name}」平均 {mean:+.1f} 个百分点"
            f"（配对差的标准差 {std:.1f}，{wins}/{len(diffs)} 个种子为正）——{verdict}。")


def results_table(runs_by_name):
    """A ``Table`` with one row per setting: accuracy after epoch 1 and at the end
    (mean ± std over seeds), final loss, seconds per epoch, speed, diverged runs."""
    rows = []
    for name, runs in runs_by_name.items():
        mean, std, diverged = summarize(runs, "test_acc")
        first = mean_std([run.after_epoch(1) for run in runs])
        loss = mean_std([run.final("loss") for run in runs])
        trained = [run for run in runs if run.history]
        secs = np.mean([np.mean(run.history.seconds) for run in trained]) if trained else math.nan
        speed = np.mean([np.mean(run.history.examples_per_sec) for run in trained]) if trained else math.nan
        rows.append([name, fmt_mean_std(*first), fmt_mean_std(mean, std), fmt_mean_std(*loss, digits=4),
                     f"{secs:.2f}", f"{speed:,.0f}", f"{diverged}/{len(runs)}"])
    return Table(["model", "test acc after epoch 1", "final test acc", "final train loss",
                  "seconds per epoch", "train examples/s", "diverged"], rows)


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
