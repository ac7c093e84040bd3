"""``train_ch5``, ``train_ch6`` and ``evaluate_accuracy``: the training loops the chapters share.

Both loops run the same epoch loop and report through callbacks (see
``progress``): printing, the progress bar and the live plot are callbacks,
not code inside the loop. The loop keeps its running sums (loss, correct
predictions) on the device and reads them to the host only every
``check_interval(num_batches)`` batches and at the end of each epoch, so a GPU
is not made to wait for the host after every step; a NaN/inf loss is noticed at
those reads.
"""

import math
import time
from dataclasses import dataclass
from numbers import Real

import torch
from torch import nn

from .animator import LivePlot
from .data import TensorBatches, _as_device
from .diagnostics import _keep_in_eval_mode
from .layers import BatchNorm
from .progress import Callback, ProgressBar, TrainState, is_interactive

__all__ = ["CHECK_EVERY", "EpochStats", "History", "TrainingDiverged", "check_interval",
           "evaluate_accuracy", "train_ch5", "train_ch6"]

CHECK_EVERY = 50  # the most batches between two reads of the running sums


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


def check_interval(num_batches):
    """Batches between two reads of the running sums: about 5 reads per epoch,
    but at least 10 and at most ``CHECK_EVERY`` (50) batches apart."""
    return min(CHECK_EVERY, max(10, num_batches // 5))


def _model_device(net):
    for tensor in net.parameters():
        return tensor.device
    return torch.device("cpu")


def _synchronize(device):
    """Wait for queued device work (so that the clock is honest); no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _to(tensor, device):
    return tensor.to(device, non_blocking=device.type == "cuda")  # the same tensor if already there


def _check_labels(y):
    """Labels are class indices, one per example (one-hot rows would be miscounted)."""
    if y.dim() != 1:
        raise ValueError(f"labels must be class indices, one per example (shape (N,)), got shape "
                         f"{tuple(y.shape)}; for one-hot labels pass y.argmax(dim=1)")


def _check_device(device):
    """``device`` as a ``torch.device`` that exists here, or a ValueError that says what to use."""
    device = _as_device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} was asked for, but CUDA is not available here; use "
                         f"device=d2l.try_gpu() (a GPU if there is one, else the CPU)")
    return device


def evaluate_accuracy(data_iter, net, device=None):
    """Fraction of correct predictions of ``net`` on ``data_iter``.

    Runs in eval mode without gradients and restores the previous mode. The
    count stays on the device; it is read once, at the end.
    """
    if isinstance(data_iter, nn.Module):
        raise TypeError(f"evaluate_accuracy(data_iter, net) takes the data first, got the network "
                        f"{type(data_iter).__name__} as data_iter: call evaluate_accuracy(test_iter, net), "
                        f"or d2l 2.x's order evaluate_accuracy_gpu(net, test_iter)")
    device = _check_device(device) if device is not None else _model_device(net)
    was_training = net.training
    net.eval()
    correct, total = torch.zeros((), dtype=torch.int64, device=device), 0
    try:
        with torch.no_grad():
            for X, y in data_iter:
                _check_labels(y)
                X, y = _to(X, device), _to(y, device)
                correct += (net(X).argmax(dim=1) == y).sum()
                total += y.numel()
    finally:
        net.train(was_training)
    if total == 0:
        raise ValueError("evaluate_accuracy got an empty data iterator")
    return correct.item() / total


def _check_optimizer(optimizer, net):
    if isinstance(optimizer, type):
        name = optimizer.__name__
        public = getattr(torch.optim, name, None) is optimizer
        full = f"torch.optim.{name}" if public else optimizer.__qualname__
        raise TypeError(f"optimizer is {full}, the class; pass an optimizer built on the net: "
                        f"{full}(net.parameters(), lr=0.1)")
    if not (callable(getattr(optimizer, "step", None)) and callable(getattr(optimizer, "zero_grad", None))):
        raise TypeError(
            f"optimizer must be a torch.optim optimizer (anything with step() and zero_grad()), "
            f"e.g. torch.optim.SGD(net.parameters(), lr=0.1); got {optimizer!r}")
    own = {id(p) for p in net.parameters()}
    updated = [p for group in getattr(optimizer, "param_groups", []) for p in group.get("params", [])]
    if own and updated and not any(id(p) in own for p in updated):
        raise ValueError("the optimizer updates none of net's parameters: it was built on another model "
                         "(for example on a net that was built again afterwards), so training would "
                         "leave net unchanged. Build it after the net: "
                         "torch.optim.SGD(net.parameters(), lr=0.1)")


def _last_batch_size(train_iter):
    """Examples in each pass's last training batch, when the iterator says (else None)."""
    batch_size = getattr(train_iter, "batch_size", None)
    if not isinstance(batch_size, int) or batch_size < 1 or getattr(train_iter, "drop_last", True):
        return None
    if isinstance(train_iter, TensorBatches):
        n = len(train_iter.labels)
    elif isinstance(train_iter, torch.utils.data.DataLoader) and type(train_iter.sampler) in (
            torch.utils.data.SequentialSampler, torch.utils.data.RandomSampler):
        n = len(train_iter.sampler)
    else:
        return None
    return n % batch_size or batch_size


def _check_last_batch(net, train_iter):
    """Refuse, before the first step, a last batch of one example that a BN layer cannot train on.

    Only ``d2l.BatchNorm`` layers of (N, C) inputs (``num_dims=2``) that train are sure to fail;
    others (after a convolution: N*H*W values per channel) train on one example.
    """
    if _last_batch_size(train_iter) != 1:
        return
    # a layer that d2l.freeze_bn keeps in eval mode normalises one example with its running statistics
    layers = [name for name, m in net.named_modules() if isinstance(m, BatchNorm) and m.num_dims == 2
              and (m.running_mean is None or _keep_in_eval_mode not in m._forward_pre_hooks.values())]
    if layers:
        n = len(train_iter.labels) if isinstance(train_iter, TensorBatches) else len(train_iter.sampler)
        raise ValueError(
            f"the last training batch holds 1 example ({n} examples, batch_size {train_iter.batch_size}), "
            f"and the BatchNorm layer(s) {layers} normalise (N, C) inputs: one example gives one value "
            f"per channel, which has no variance, so training would fail at the end of the first epoch. "
            f"Pass drop_last=True to d2l.load_data (or DataLoader), or choose num_train and batch_size "
            f"so that the last batch has at least 2 examples")


def _explain_single_example(err, X, epoch, batch):
    """A BN layer's 'more than 1 value per channel' on a batch of one example: name drop_last."""
    if len(X) == 1 and "more than 1 value per channel" in str(err):
        return ValueError(f"{err}\n(batch {batch} of epoch {epoch} holds 1 example: pass drop_last=True to "
                          f"d2l.load_data or DataLoader, or choose the data size and batch size so that "
                          f"no batch has a single example)")
    return None


def _check_arguments(num_epochs, train_iter, test_iter):
    """Validate ``num_epochs``, ``train_iter`` and ``test_iter``; return the number of batches per epoch."""
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs!r}")
    try:
        num_batches = len(train_iter)
    except TypeError:
        raise TypeError(f"train_iter must have a length (a DataLoader, TensorBatches or a list of "
                        f"batches), got {type(train_iter).__name__}") from None
    if num_batches == 0:
        raise ValueError("train_iter yields no batches")
    if hasattr(test_iter, "__len__") and len(test_iter) == 0:
        raise ValueError("test_iter yields no batches: evaluation after each epoch needs test data")
    return num_batches


def _read(loss_sum, correct):
    """Both running sums as Python floats: one device-to-host transfer."""
    return torch.stack([loss_sum, correct.to(loss_sum.dtype)]).tolist()


def _check_finite(loss_sum, epoch, first, last, history):
    if math.isfinite(loss_sum):
        return
    where = f"batch {first}" if first == last else f"between batches {first} and {last}"
    raise TrainingDiverged(
        f"the training loss became {loss_sum} in epoch {epoch}, {where}: training diverged. "
        f"Lower the learning rate (or add batch normalisation) and train again.", history)


def _call(callbacks, hook, state):
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(state)


def _fit(net, train_iter, test_iter, optimizer, device, num_epochs, num_batches, loss_fn,
         callbacks, catch_interrupt):
    """The epoch loop both ``train_ch5`` and ``train_ch6`` run; returns the ``History``."""
    net.to(device)
    history = History()
    state = TrainState(net=net, device=device, num_epochs=num_epochs, num_batches=num_batches,
                       history=history)
    every = check_interval(num_batches)
    # float64 keeps the loss sum exact enough; MPS has no float64
    sum_dtype = torch.float32 if device.type == "mps" else torch.float64
    _call(callbacks, "on_train_begin", state)
    try:
        for epoch in range(1, num_epochs + 1):
            state.epoch, state.batch, state.synced = epoch, 0, False
            state.loss = state.train_acc = math.nan
            state.examples, state.train_seconds = 0, 0.0
            _call(callbacks, "on_epoch_begin", state)
            net.train()
            loss_sum = torch.zeros((), dtype=sum_dtype, device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            n, checked = 0, 0  # examples so far; batches known to have a finite loss
            start = time.perf_counter()
            for i, (X, y) in enumerate(train_iter, 1):
                _check_labels(y)
                X, y = _to(X, device), _to(y, device)
                try:
                    y_hat = net(X)
                except ValueError as err:
                    explained = _explain_single_example(err, X, epoch, i)
                    if explained is None:
                        raise
                    raise explained from err
                batch_loss = loss_fn(y_hat, y)  # the mean over the batch (or one value per example)
                optimizer.zero_grad()
                (batch_loss if batch_loss.dim() == 0 else batch_loss.mean()).backward()
                optimizer.step()
                with torch.no_grad():
                    batch_loss = batch_loss.detach()
                    loss_sum += batch_loss * y.shape[0] if batch_loss.dim() == 0 else batch_loss.sum()
                    correct += (y_hat.argmax(dim=1) == y).sum()
                n += y.shape[0]
                state.batch, state.examples, state.synced = i, n, False
                if i % every == 0 and i != num_batches:
                    loss_value, correct_value = _read(loss_sum, correct)
                    _check_finite(loss_value, epoch, checked + 1, i, history)
                    checked = i
                    state.loss, state.train_acc, state.synced = loss_value / n, correct_value / n, True
                _call(callbacks, "on_batch_end", state)
            if n == 0:
                raise ValueError(f"train_iter yielded no batches in epoch {epoch}")
            _synchronize(device)
            train_seconds = time.perf_counter() - start
            loss_value, correct_value = _read(loss_sum, correct)
            _check_finite(loss_value, epoch, checked + 1, state.batch, history)
            test_acc = evaluate_accuracy(test_iter, net, device)
            state.loss, state.train_acc = loss_value / n, correct_value / n
            state.train_seconds = train_seconds
            history.append(EpochStats(epoch, state.loss, state.train_acc, test_acc,
                                      time.perf_counter() - start, n / train_seconds))
            _call(callbacks, "on_epoch_end", state)
    except KeyboardInterrupt as err:
        history.interrupted = True
        if not catch_interrupt:
            err.history = history
            raise
    finally:
        _call(callbacks, "on_train_end", state)
    return history


def _with_display(progress, live_plot, printer, callbacks):
    """The progress bar, the printer, the live plot (the first and last on by default
    only while a person watches), then the caller's callbacks."""
    bar = ProgressBar() if (is_interactive() if progress is None else progress) else None
    plot = LivePlot() if (is_interactive(notebook_only=True) if live_plot is None else live_plot) else None
    return [cb for cb in (bar, printer, plot) if cb is not None] + list(callbacks or [])


class _EpochPrinter(Callback):
    """train_ch5's lines: ``epoch 1, loss 0.6593, train acc 0.765, test acc 0.701, time 8.6 sec``."""

    def on_train_begin(self, state):
        print(f"training on {state.device}")

    def on_epoch_end(self, state):
        s = state.history[-1]
        print(f"epoch {s.epoch}, loss {s.loss:.4f}, train acc {s.train_acc:.3f}, "
              f"test acc {s.test_acc:.3f}, time {s.seconds:.1f} sec")

    def on_train_end(self, state):
        if state.history.interrupted:
            print(f"interrupted after {len(state.history)} finished epoch(s)")


def train_ch5(net, train_iter, test_iter, batch_size, optimizer, device=None, num_epochs=5,
              *, loss=None, progress=None, live_plot=None, verbose=True, callbacks=None,
              catch_interrupt=True):
    """Train ``net`` and return a ``History`` (one ``EpochStats`` per epoch).

    The signature is the original notes' one. ``batch_size`` is kept for it
    only: the loss is averaged per training example whatever the batch size
    (some versions of the upstream Dive-into-DL-PyTorch ``train_ch5`` divided
    the already averaged loss by the batch size a second time; the notes'
    own numbers are correct: see the book's appendix on the notes).
    ``verbose`` prints ``epoch 1, loss 0.6593, train acc 0.765, test acc 0.701,
    time 8.6 sec`` per epoch. ``progress`` (a tqdm bar per epoch) and
    ``live_plot`` (d2l's Animator figure) are on when None and a person is
    watching (``progress.is_interactive``). ``callbacks`` are more objects with
    ``on_train_begin/on_epoch_begin/on_batch_end/on_epoch_end/on_train_end(state)``.

    A NaN/inf loss raises ``TrainingDiverged`` (noticed within
    ``check_interval`` batches or at the end of the epoch). Ctrl-C returns the
    history so far with ``history.interrupted = True``; with
    ``catch_interrupt=False`` the ``KeyboardInterrupt`` propagates, carrying it
    as ``err.history``.
    """
    _check_optimizer(optimizer, net)
    num_batches = _check_arguments(num_epochs, train_iter, test_iter)
    _check_last_batch(net, train_iter)
    device = _check_device(device) if device is not None else _model_device(net)
    all_callbacks = _with_display(progress, live_plot, _EpochPrinter() if verbose else None, callbacks)
    return _fit(net, train_iter, test_iter, optimizer, device, num_epochs, num_batches,
                loss if loss is not None else nn.CrossEntropyLoss(), all_callbacks, catch_interrupt)


class _D2LSummary(Callback):
    """d2l's train_ch6 lines: ``training on cpu`` first, then the last epoch and the speed."""

    def __init__(self):
        self.examples, self.seconds = 0, 0.0

    def on_train_begin(self, state):
        print("training on", state.device)

    def on_epoch_end(self, state):
        self.examples += state.examples
        self.seconds += state.train_seconds

    def on_train_end(self, state):
        history = state.history
        if history.interrupted:
            print(f"interrupted after {len(history)} finished epoch(s)")
        if history and (history.interrupted or len(history) == state.num_epochs):
            s = history[-1]
            print(f"loss {s.loss:.3f}, train acc {s.train_acc:.3f}, test acc {s.test_acc:.3f}")
            print(f"{self.examples / max(self.seconds, 1e-9):.1f} examples/sec on {state.device}")


def _xavier_init(module):
    if type(module) is nn.Linear or type(module) is nn.Conv2d:  # d2l's test: exact types
        nn.init.xavier_uniform_(module.weight)


def train_ch6(net, train_iter, test_iter, num_epochs, lr, device=None, *, progress=False,
              live_plot=None, verbose=True, callbacks=None, catch_interrupt=True):
    """d2l-zh 2.x's ``train_ch6``: train a fresh ``net`` with SGD and cross-entropy.

    As in d2l: every ``nn.Linear``/``nn.Conv2d`` weight is re-initialised
    (Xavier uniform), the live figure shows train loss, train acc and test
    acc against the epoch (in notebooks), and the last lines read
    ``loss 0.255, train acc 0.906, test acc 0.860`` and ``41213.3 examples/sec
    on cpu`` (training examples per second of training, evaluation excluded).
    Unlike d2l it returns the ``History``, ``device=None`` means the model's
    device, and the keyword arguments are those of ``train_ch5`` (no progress
    bar by default, as in d2l).
    """
    if isinstance(lr, bool) or not isinstance(lr, Real) or not math.isfinite(lr) or lr < 0:
        raise ValueError(f"lr must be a non-negative number, got {lr!r}")
    num_batches = _check_arguments(num_epochs, train_iter, test_iter)
    _check_last_batch(net, train_iter)
    device = _check_device(device) if device is not None else _model_device(net)
    net.apply(_xavier_init)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    all_callbacks = _with_display(progress, live_plot, _D2LSummary() if verbose else None, callbacks)
    return _fit(net, train_iter, test_iter, optimizer, device, num_epochs, num_batches,
                nn.CrossEntropyLoss(), all_callbacks, catch_interrupt)
