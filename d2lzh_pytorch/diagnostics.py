"""Looking inside training, and BN's running statistics in practice (chapters 4 and 10).

* ``precise_bn`` (chapter 4) re-estimates the running statistics of every BN
  layer of a trained network with its parameters frozen; ``bn_layers`` finds
  those layers (``d2l.BatchNorm`` and ``nn.BatchNorm1d/2d/3d`` alike).
* ``freeze_bn`` keeps BN layers in prediction mode while the rest of a network
  is fine-tuned.
* ``TrainingMonitor`` is a ``train_ch5`` callback that records, every few
  steps, per activation layer the mean, standard deviation and saturated
  fraction of its outputs and of their gradients, and per weight the
  update-to-data ratio ``log10(||dW|| / ||W||)``; ``plot_layer_histograms``
  and ``plot_update_ratios`` draw what it recorded.
"""

import copy
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from . import _checks
from .progress import Callback
from .utils import generator

__all__ = ["TrainingMonitor", "bn_layers", "freeze_bn", "plot_layer_histograms", "plot_update_ratios",
           "precise_bn", "saturated_fraction"]


def bn_layers(net):
    """The modules of ``net`` that keep running statistics (``d2l.BatchNorm``, ``nn.BatchNorm*``, ...).

    A module counts when it has ``reset_running_stats()``, a ``momentum`` and a
    ``running_mean`` buffer that is not None (``track_running_stats=True``).
    """
    return [m for m in net.modules()
            if callable(getattr(m, "reset_running_stats", None)) and hasattr(m, "momentum")
            and getattr(m, "running_mean", None) is not None]


def precise_bn(net, data_iter, num_batches=None, device=None):
    """A copy of ``net`` whose BN running statistics are re-estimated on ``data_iter``.

    The parameters are frozen: each BN layer's statistics are reset and, with
    ``momentum=None``, become the equal-weight average over the batches of
    one pass (or of the first ``num_batches``) in training mode, without
    gradients. Only the BN layers run in training mode, so dropout stays off,
    as at prediction time. ``net`` itself is not changed; the copy keeps its
    mode and the BN layers' momentum. Works for ``d2l.BatchNorm`` and
    ``nn.BatchNorm1d/2d/3d`` (``torch.optim.swa_utils.update_bn`` skips the
    former and changes the network in place).
    """
    if num_batches is not None:
        num_batches = _checks.count(num_batches, "num_batches", " (or None: one whole pass)")
    model = copy.deepcopy(net)
    layers = bn_layers(model)
    if not layers:
        raise ValueError("net has no BN layer with running statistics (a d2l.BatchNorm or nn.BatchNorm* "
                         "with track_running_stats=True): there is nothing to re-estimate")
    if device is None:
        device = next(model.parameters()).device
    was_training, momenta = model.training, [m.momentum for m in layers]
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # an equal-weight average over the batches below
        m.train()
    seen = 0
    with torch.no_grad():  # only the statistics change
        for batch in data_iter:
            if num_batches is not None and seen == num_batches:
                break
            X = batch if isinstance(batch, torch.Tensor) else batch[0]  # (X, y) pairs or bare X
            model(X.to(device))
            seen += 1
    if seen == 0:
        raise ValueError("data_iter yielded no batches: precise_bn needs at least one batch of inputs")
    for m, momentum in zip(layers, momenta, strict=True):
        m.momentum = momentum
    return model.train(was_training)


def _keep_in_eval_mode(module, inputs):
    module.eval()


class _Handles(list):
    """Hook handles; ``remove()`` removes them all."""

    def remove(self):
        for handle in self:
            handle.remove()
        self.clear()


def freeze_bn(net, freeze_affine=True):
    """Keep every BN layer of ``net`` in prediction mode, also after ``net.train()``.

    The running statistics then stop moving (``requires_grad=False`` alone does
    not stop them: they are buffers, updated by the training-mode forward
    pass). With ``freeze_affine`` the scale gamma and shift beta get
    ``requires_grad=False`` too. Returns handles: ``remove()`` undoes the
    prediction-mode hooks (not ``requires_grad``).
    """
    layers = bn_layers(net)
    if not layers:
        others = [f"{name} ({type(m).__name__})" for name, m in net.named_modules()
                  if getattr(m, "running_mean", None) is not None]
        raise ValueError("net has no BN layer with running statistics (a d2l.BatchNorm or nn.BatchNorm* "
                         "with track_running_stats=True): there is nothing to freeze"
                         + (f". {', '.join(others)} keep running statistics but cannot be reset or "
                            f"frozen (e.g. chapter 8's Norm); use d2l.BatchNorm or nn.BatchNorm2d"
                            if others else ""))
    handles = _Handles()
    for m in layers:
        m.eval()
        handles.append(m.register_forward_pre_hook(_keep_in_eval_mode))  # undoes a later net.train()
        if freeze_affine:
            for p in m.parameters(recurse=False):
                p.requires_grad_(False)
    return handles


def saturated_fraction(module, output):
    """Fraction of ``output`` of the activation ``module`` in its flat region.

    Tanh: ``|y| > 0.97``; sigmoid: ``y < 0.03`` or ``y > 0.97``; ReLU: the
    fraction of units (all positions after the batch axis) that are 0 for
    every example of the batch (dead for this batch). NaN for other modules.
    """
    if isinstance(module, nn.Tanh):
        return (output.abs() > 0.97).float().mean().item()
    if isinstance(module, nn.Sigmoid):
        return ((output < 0.03) | (output > 0.97)).float().mean().item()
    if isinstance(module, nn.ReLU):
        return (output <= 0).all(dim=0).float().mean().item()
    return math.nan


def _sample(tensor, max_values, generator):
    flat = tensor.detach().flatten().float().cpu()
    if flat.numel() > max_values:
        flat = flat[torch.randperm(flat.numel(), generator=generator)[:max_values]]
    return flat.numpy()


class TrainingMonitor(Callback):
    """Record per-layer statistics every ``every`` training steps (a ``train_ch5`` callback).

    At steps 1, 1 + every, 1 + 2 every, ... it records, for each module of a
    type in ``activations`` (default: ReLU, tanh, sigmoid): the mean and std
    of its outputs, their saturated fraction (``saturated_fraction``), and the
    mean and std of the gradient of the loss with respect to them; and for
    each parameter with two or more dimensions (the weights): the std of its
    gradient, its norm and the update-to-data ratio ``log10(||dW|| / ||W||)``
    of that step. Hooks only copy statistics at those steps, and only in
    training mode. ``activation_frame()``/``update_frame()`` return the records
    as DataFrames; ``samples[(step, layer)]`` holds up to ``max_samples``
    output and gradient values for histograms.

    With ``train_ch5(..., callbacks=[monitor])`` the hooks are attached when
    training begins and removed when it ends. In a loop of your own, call
    ``attach()`` first, ``after_step()`` after each optimiser step and
    ``detach()`` at the end.
    """

    def __init__(self, net, every=10, activations=(nn.ReLU, nn.Tanh, nn.Sigmoid), max_samples=2000):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer (record every `every` steps), got {every!r}")
        max_samples = _checks.count(max_samples, "max_samples", " (values kept per layer and step)")
        self.net, self.every, self.max_samples = net, every, max_samples
        self.layers = {f"{i}: {type(m).__name__}": m
                       for i, m in enumerate(net.modules()) if isinstance(m, tuple(activations))}
        if not self.layers:
            raise ValueError(f"net has no module of the types {[t.__name__ for t in activations]}; "
                             f"pass activations=(...) naming the layers to watch")
        self.weights = {name: p for name, p in net.named_parameters() if p.dim() >= 2}
        self.step, self.armed = 0, False
        self.activation_records, self.update_records, self.samples = [], [], {}
        self._handles, self._before, self._pending = [], {}, {}
        self._generator = generator(0)

    # ---- the callback protocol
    def on_train_begin(self, state):
        trained = {id(m) for m in state.net.modules()}
        if not any(id(m) in trained for m in self.layers.values()):
            raise ValueError(f"this TrainingMonitor watches a different network than the one being trained "
                             f"({type(state.net).__name__}), so it would record nothing: build it on the "
                             f"net you train, monitor = d2l.TrainingMonitor(net), after net is built")
        self.attach()

    def on_batch_end(self, state):
        self.after_step()

    def on_train_end(self, state):
        self.detach()

    # ---- the same by hand
    def attach(self):
        """Register the forward hooks and arm the next step (if it is one to record)."""
        self.detach()
        self._handles = [m.register_forward_hook(self._make_hook(name)) for name, m in self.layers.items()]
        self._arm()

    def detach(self):
        """Remove the hooks (the records stay)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def after_step(self):
        """Finish the record of the step that just ended; arm the next one if it is to be recorded."""
        self.step += 1
        if self.armed:
            self._finish()
        self._arm()

    def _arm(self):
        self.armed = self.step % self.every == 0  # the next step, step + 1, is 1 (mod every)
        if self.armed:
            self._before = {name: p.detach().clone() for name, p in self.weights.items()}

    def _make_hook(self, name):
        def hook(module, inputs, output):
            if not (self.armed and module.training) or name in self._pending:
                return
            record = {"step": self.step + 1, "layer": name, "act_mean": output.mean().item(),
                      "act_std": output.std().item(), "saturated": saturated_fraction(module, output),
                      "grad_mean": math.nan, "grad_std": math.nan}
            self._pending[name] = record
            self.samples[(self.step + 1, name)] = {"activation": _sample(output, self.max_samples,
                                                                         self._generator)}
            if output.requires_grad:
                def grad_hook(grad):
                    record["grad_mean"], record["grad_std"] = grad.mean().item(), grad.std().item()
                    self.samples[(record["step"], name)]["gradient"] = _sample(
                        grad, self.max_samples, self._generator)
                output.register_hook(grad_hook)
        return hook

    def _finish(self):
        self.activation_records.extend(self._pending.values())
        self._pending = {}
        for name, p in self.weights.items():
            before = self._before[name]
            delta = (p.detach() - before).norm().item()
            norm = before.norm().item()
            ratio = math.log10(delta / norm) if delta > 0 and norm > 0 else -math.inf
            grad_std = p.grad.std().item() if p.grad is not None else math.nan
            self.update_records.append({"step": self.step, "param": name, "weight_norm": norm,
                                        "update_norm": delta, "update_ratio": ratio, "grad_std": grad_std})
        self._before = {}

    # ---- results
    def activation_frame(self):
        """One row per (recorded step, activation layer)."""
        return pd.DataFrame(self.activation_records,
                            columns=["step", "layer", "act_mean", "act_std", "saturated", "grad_mean",
                                     "grad_std"])

    def update_frame(self):
        """One row per (recorded step, weight): norm, update norm, log10 ratio, gradient std."""
        columns = ["step", "param", "weight_norm", "update_norm", "update_ratio", "grad_std"]
        return pd.DataFrame(self.update_records, columns=columns)


def plot_layer_histograms(monitor, step=None, kind="activation", ax=None, bins=50):
    """Histograms (as lines) of the recorded outputs or gradients of each layer at ``step``.

    ``step=None`` takes the last recorded step; ``kind`` is "activation" or "gradient".
    """
    if kind not in ("activation", "gradient"):
        raise ValueError(f"kind must be 'activation' or 'gradient', got {kind!r}")
    steps = sorted({s for s, _ in monitor.samples})
    if not steps:
        raise ValueError("the monitor recorded nothing yet: train with it first")
    step = steps[-1] if step is None else step
    if step not in steps:
        raise ValueError(f"step {step} was not recorded; recorded steps: {steps}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    for name in monitor.layers:
        values = monitor.samples.get((step, name), {}).get(kind)
        if values is None:
            continue
        counts, edges = np.histogram(values, bins=bins)
        ax.plot((edges[:-1] + edges[1:]) / 2, counts / counts.sum(), label=name)
    ax.set(xlabel=f"{kind} value", ylabel="fraction of values", title=f"{kind}s per layer at step {step}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return ax


def plot_update_ratios(monitor, ax=None, healthy=-3.0):
    """``log10(||dW|| / ||W||)`` of each weight against the step, with a line at ``healthy``."""
    frame = monitor.update_frame()
    if frame.empty:
        raise ValueError("the monitor recorded no update yet: train with it first")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    for name, rows in frame.groupby("param", sort=False):
        ax.plot(rows["step"], rows["update_ratio"], label=name)
    ax.axhline(healthy, color="black", linestyle="--", linewidth=1, label=f"{healthy:g} (rule of thumb)")
    ax.set(xlabel="training step", ylabel="log10(update norm / weight norm)", title="Update-to-data ratio")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return ax
