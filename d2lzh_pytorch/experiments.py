"""Multi-seed comparisons: train one fresh model per seed, summarise, stop cleanly on Ctrl-C.

Orchestration only: statistics live in ``stats`` and tables/sentences in
``report``.

**Ctrl-C.** Pressing Ctrl-C (KeyboardInterrupt) during ``run_seeds``,
``compare_bn`` or ``sweep`` stops the *whole* experiment: no further seed,
model or setting is started. What finished is returned, marked: the run that
was cut short has ``run.interrupted = True``, and the returned ``Runs`` list
(or ``Results`` dict) has ``.interrupted = True``; ``results_table`` shows it.
The functions return instead of raising, so a notebook cell still shows the
partial results. A loop of your own over several calls stops with one
Ctrl-C when it checks the flag (or use ``sweep``, which does it for you)::

    for lr in lrs:
        lr_runs[lr] = compare(...)
        if lr_runs[lr].interrupted:
            break
"""

import functools
import inspect
import math
from dataclasses import dataclass

from torch import nn

from .stats import mean_std
from .training import History, TrainingDiverged, train_ch5
from .utils import set_seed

__all__ = ["Results", "Run", "Runs", "compare_bn", "run_seeds", "summarize", "sweep"]


@dataclass
class Run:
    """One training run: its seed, the trained network and its history.

    ``diverged``: the loss became NaN/inf. ``interrupted``: Ctrl-C stopped it
    before ``num_epochs``; ``history`` then holds the finished epochs only.
    """

    seed: int
    net: nn.Module
    history: History
    diverged: bool = False
    interrupted: bool = False

    def final(self, metric="test_acc"):
        """Last epoch's value of ``metric``; NaN if the run diverged or was interrupted (no final value)."""
        if self.diverged or self.interrupted or not self.history:
            return math.nan
        return getattr(self.history[-1], metric)

    def after_epoch(self, epoch, metric="test_acc"):
        """``metric`` after the given (1-based) epoch; NaN if the run stopped before it."""
        if len(self.history) < epoch:
            return math.nan
        return getattr(self.history[epoch - 1], metric)


class Runs(list):
    """A list of ``Run`` (one per seed); ``interrupted`` is True when Ctrl-C stopped it early."""

    def __init__(self, runs=(), interrupted=False):
        super().__init__(runs)
        self.interrupted = interrupted


class Results(dict):
    """A dict of results (name -> ``Runs``, or -> another ``Results``).

    ``interrupted`` is True when Ctrl-C stopped the experiment: then it holds
    the settings that were started, the last one marked interrupted.
    """

    def __init__(self, *args, interrupted=False, **kwargs):
        super().__init__(*args, **kwargs)
        self._stopped = interrupted

    @property
    def interrupted(self):
        return self._stopped or any(getattr(value, "interrupted", False) for value in self.values())

    @interrupted.setter
    def interrupted(self, value):
        self._stopped = bool(value)


def _check_train_iter(train_iter):
    if not hasattr(train_iter, "reseed") and not callable(train_iter):
        raise TypeError(
            f"run_seeds needs a training iterator it can reseed per seed: an object with a "
            f"reseed(seed) method such as d2l.TensorBatches (from d2l.load_data_...), or a function "
            f"make_train_iter(seed) that returns a fresh iterator; got {type(train_iter).__name__}. "
            f"A DataLoader's order cannot be reseeded, so wrap it: lambda seed: DataLoader(..., "
            f"generator=torch.Generator().manual_seed(seed)).")


def _as_list(values, what, example):
    """``values`` as a list, or a TypeError naming ``what`` and an ``example``."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{what} must be a list of {what}, e.g. {example}, got {values!r}")
    return list(values)


def _repeated(values):
    """The values that occur more than once, in order of first appearance (no hashing needed)."""
    repeated = []
    for i, value in enumerate(values):
        if value in values[:i] and value not in repeated:
            repeated.append(value)
    return repeated


def _check_seeds(seeds):
    seeds = _as_list(seeds, "seeds", "[0, 1, 2] or range(3)")
    if not seeds:
        raise ValueError("seeds is empty; pass at least one seed, e.g. seeds=[0, 1, 2]")
    repeated = _repeated(seeds)
    if repeated:
        raise ValueError(
            f"seeds {seeds} repeat {', '.join(map(repr, repeated))}: a seed gives the same run every time, "
            f"so a repeated seed counts one run twice and makes the standard deviation look smaller than "
            f"it is. Pass distinct seeds, e.g. range({len(seeds)})")
    return seeds


def _check_factories(make_net, make_optimizer):
    if isinstance(make_net, nn.Module) or not callable(make_net):
        what = f"the network itself ({type(make_net).__name__})" if isinstance(make_net, nn.Module) \
            else repr(make_net)
        raise TypeError(f"make_net must be a function that builds a fresh net, got {what}: every seed "
                        f"starts from new weights, so pass e.g. lambda: nn.Sequential(...) or d2l.lenet")
    if hasattr(make_optimizer, "param_groups") or not callable(make_optimizer):
        what = f"an optimizer ({type(make_optimizer).__name__})" if hasattr(make_optimizer, "param_groups") \
            else repr(make_optimizer)
        raise TypeError(f"make_optimizer must be a function of the parameters, got {what}: each new net "
                        f"needs its own optimizer, so pass e.g. functools.partial(torch.optim.SGD, lr=0.1) "
                        f"or lambda params: torch.optim.SGD(params, lr=0.1)")


def _iterator_for(train_iter, seed):
    """The training iterator for ``seed``: ``train_iter.reseed(seed)`` or ``train_iter(seed)``."""
    if hasattr(train_iter, "reseed"):
        train_iter.reseed(seed)
        return train_iter
    return train_iter(seed)


def _train(net, train_iter, test_iter, optimizer, device, num_epochs, verbose):
    """Call ``train_ch5`` so that it returns (does not raise) on Ctrl-C when it can."""
    params = inspect.signature(train_ch5).parameters
    options = {"verbose": verbose, "progress": False, "live_plot": False}
    if "catch_interrupt" in params:
        options["catch_interrupt"] = True  # keep the finished epochs of the run that is cut short
    options = {key: value for key, value in options.items() if key in params}
    return train_ch5(net, train_iter, test_iter, None, optimizer, device, num_epochs, **options)


def run_seeds(make_net, make_optimizer, train_iter, test_iter, seeds, num_epochs,
              device=None, verbose=False):
    """Train ``make_net()`` once per seed with ``make_optimizer(net.parameters())``; return ``Runs``.

    Each seed fixes both the initial weights (``set_seed``) and the order of
    the training batches: ``train_iter.reseed(seed)`` (``TensorBatches``), or,
    when ``train_iter`` is a function ``make_train_iter(seed)``, the iterator
    it returns. Two settings run with the same seeds therefore see the same
    data in the same order.

    A run whose loss becomes NaN/inf is kept, marked ``diverged``. Ctrl-C
    stops the remaining seeds too: the list so far is returned with
    ``interrupted=True`` (see the module docstring for loops over calls).
    """
    seeds = _check_seeds(seeds)
    _check_factories(make_net, make_optimizer)
    _check_train_iter(train_iter)
    runs = Runs()
    for seed in seeds:
        net = None
        try:
            set_seed(seed)
            net = make_net()
            if device is not None:
                net.to(device)
            batches = _iterator_for(train_iter, seed)
            optimizer = make_optimizer(net.parameters())
            history = _train(net, batches, test_iter, optimizer, device, num_epochs, verbose)
        except TrainingDiverged as err:
            runs.append(Run(seed, net, err.history, diverged=True))
            continue
        except KeyboardInterrupt as err:
            if net is not None:  # keep the finished epochs if the interrupt carries them
                runs.append(Run(seed, net, getattr(err, "history", None) or History(), interrupted=True))
            runs.interrupted = True
            return runs
        if getattr(history, "interrupted", False):
            runs.append(Run(seed, net, history, interrupted=True))
            runs.interrupted = True
            return runs
        runs.append(Run(seed, net, history))
    return runs


def compare_bn(build, make_optimizer, train_iter, test_iter, num_epochs, *, seeds, device=None,
               **model_kwargs):
    """Train ``build(bn=False, ...)`` and ``build(bn=True, ...)`` with the same seeds.

    Returns ``Results({"no BN": runs, "BN": runs})``; run ``i`` of both lists
    shares its seed, so the two models start from matched weights and see the
    same batches. After Ctrl-C the result is ``interrupted`` and a setting
    that was never started is an empty ``Runs`` marked interrupted.
    """
    seeds = _check_seeds(seeds)
    results = Results()
    for name, bn in (("no BN", False), ("BN", True)):
        if results.interrupted:
            results[name] = Runs(interrupted=True)
            continue
        results[name] = run_seeds(functools.partial(build, bn=bn, **model_kwargs), make_optimizer,
                                  train_iter, test_iter, seeds, num_epochs, device=device)
    return results


def sweep(settings, run):
    """Call ``run(setting)`` for each setting and collect ``Results({setting: result})``.

    Stops at the first result that is ``interrupted`` (or at a Ctrl-C between
    calls) and returns what finished, with ``interrupted=True``; settings that
    were not started are left out. The settings become the result's keys,
    so they must be distinct and hashable (numbers, strings, tuples);
    both are checked before the first run. For example::

        lr_runs = d2l.sweep(lrs, lambda lr: compare(functools.partial(torch.optim.SGD, lr=lr),
                                                     train_iter, test_iter, num_epochs))
    """
    settings = _as_list(settings, "settings", "[0.01, 0.1]")
    for setting in settings:
        try:
            hash(setting)
        except TypeError:
            raise TypeError(f"each setting becomes a key of sweep's result, so it must be hashable "
                            f"(a number, string or tuple); got {setting!r}: use a tuple instead, "
                            f"e.g. tuple(setting)") from None
    repeated = _repeated(settings)
    if repeated:
        raise ValueError(f"settings repeat {', '.join(map(repr, repeated))}: a repeated setting would "
                         f"overwrite the result of its first run; pass each setting once")
    results = Results()
    for setting in settings:
        try:
            results[setting] = run(setting)
        except KeyboardInterrupt:
            results.interrupted = True
            break
        if getattr(results[setting], "interrupted", False):
            break
    return results


def summarize(runs, metric="test_acc"):
    """``(mean, sample std, diverged count)`` of the final ``metric`` over ``runs`` (NaN skipped)."""
    mean, std = mean_std([run.final(metric) for run in runs])
    return mean, std, sum(run.diverged for run in runs)
