"""Batch, layer, instance and group normalisation as one idea: which axes share statistics (chapter 8).

``group_norm_stats`` normalises an (N, C, ...) tensor with one mean and one
variance per group of values; ``Norm`` is a layer built on it whose ``kind``
picks the groups: "batch" (BN), "layer" (LN), "instance" (IN) or "group" (GN).
Chapter 8 shows this code in ``# @save`` cells and checks it against
``nn.BatchNorm2d``, ``nn.LayerNorm``, ``nn.InstanceNorm2d`` and ``nn.GroupNorm``.
"""

import torch
from torch import nn

from . import _checks

__all__ = ["NORM_KINDS", "Norm", "group_norm_stats"]


def group_norm_stats(X, num_groups, over_batch=False, eps=1e-5):
    """Normalise ``X`` (N, C, ...) over groups of C/G channels; return ``(Y, mean, var)``.

    ``X`` is viewed as (N, G, C/G, rest), ``rest`` being all positions (H*W
    for images). Each example and group gets one mean and one biased variance
    over its C/G * rest values; with ``over_batch=True`` the N examples share
    them too. ``mean`` and ``var`` keep the grouped shape, e.g. (N, G, 1, 1).
    G = 1: layer norm; G = C: instance norm; G = C and ``over_batch``: batch norm.
    """
    if X.dim() < 2:
        raise ValueError(f"X must have a batch and a channel axis, (N, C, ...), got shape {tuple(X.shape)}")
    N, C = X.shape[:2]
    if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups < 1 or C % num_groups:
        raise ValueError(f"num_groups must be a positive integer that divides the {C} channels, "
                         f"got {num_groups!r}")
    rest = X.shape[2:].numel()  # positions per channel: H*W for images, 1 for (N, C)
    Xg = X.reshape(N, num_groups, C // num_groups, rest)  # (N, G, C/G, rest)
    dims = (0, 2, 3) if over_batch else (2, 3)
    count = (N if over_batch else 1) * (C // num_groups) * rest  # values per mean and variance
    if count == 1:
        raise ValueError(f"each mean and variance would be taken over {count} value(s) for input shape "
                         f"{tuple(X.shape)}, {num_groups} group(s), over_batch={over_batch}: a "
                         f"variance needs at least 2 values (more examples, positions or channels)")
    if X.numel() == 0:  # an empty batch: an empty output, and no statistics
        return X.clone(), None, None
    mean = Xg.mean(dim=dims, keepdim=True)
    var = Xg.var(dim=dims, correction=0, keepdim=True)  # biased, as every normalisation layer uses
    Y = (Xg - mean) / torch.sqrt(var + eps)
    return Y.reshape(X.shape), mean, var


NORM_KINDS = ("batch", "layer", "instance", "group")


class Norm(nn.Module):
    """One normalisation layer for (N, C, ...) inputs; ``kind`` says which values share statistics.

    Args:
        kind: "batch" (per channel, over the batch and all positions), "layer"
            (per example, over all channels and positions), "instance" (per
            example and channel, over positions) or "group" (per example and
            group of C/G channels).
        num_channels: C, the input's channel count.
        num_groups: G, needed only (and only allowed) for kind "group".
        eps: added to the variance before the square root.
        momentum: weight of the new batch in BN's running statistics (a number
            in [0, 1]; None, the cumulative average, is not supported).

    All kinds learn a scale gamma (``weight``) and a shift beta (``bias``), one
    per channel. Only "batch" keeps running statistics, used in eval mode; the
    other kinds normalise every example by its own statistics in both modes.
    """

    def __init__(self, kind, num_channels, num_groups=None, eps=1e-5, momentum=0.1):
        super().__init__()
        if kind not in NORM_KINDS:
            raise ValueError(f"kind must be one of {NORM_KINDS}, got {kind!r}")
        # num_channels > 0, eps > 0, 0 <= momentum <= 1, as BatchNorm checks them
        num_channels, eps, momentum = _checks.norm_arguments(
            num_channels, eps, momentum, "num_channels", momentum_none=False)
        if (kind == "group") != (num_groups is not None):
            raise ValueError(f"num_groups is needed for kind 'group' and only for it; got kind {kind!r} "
                             f"and num_groups={num_groups!r}")
        groups = {"batch": num_channels, "layer": 1, "instance": num_channels, "group": num_groups}[kind]
        groups = _checks.count(groups, "num_groups", f" that divides num_channels={num_channels}",
                              divides=num_channels)
        self.kind, self.num_channels, self.num_groups = kind, num_channels, groups
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        if kind == "batch":  # only BN needs statistics for prediction
            self.register_buffer("running_mean", torch.zeros(num_channels))
            self.register_buffer("running_var", torch.ones(num_channels))

    def forward(self, X):
        if X.dim() < 2 or X.shape[1] != self.num_channels:
            raise ValueError(f"Norm({self.kind!r}, num_channels={self.num_channels}) expects an input "
                             f"(N, {self.num_channels}, ...), got shape {tuple(X.shape)}")
        shape = (1, -1) + (1,) * (X.dim() - 2)  # one value per channel
        if self.kind == "batch" and not self.training:
            X_hat = (X - self.running_mean.reshape(shape)) / torch.sqrt(self.running_var.reshape(shape)
                                                                          + self.eps)
        else:
            X_hat, mean, var = group_norm_stats(X, self.num_groups, self.kind == "batch", self.eps)
            if self.kind == "batch" and X.numel() > 0:  # update the running statistics (unbiased
                # variance, like PyTorch); an empty batch has none
                n = X.numel() // self.num_channels
                with torch.no_grad():
                    self.running_mean.lerp_(mean.reshape(-1), self.momentum)
                    self.running_var.lerp_(var.reshape(-1) * n / (n - 1), self.momentum)
        return X_hat * self.weight.reshape(shape) + self.bias.reshape(shape)

    def extra_repr(self):
        groups = f", num_groups={self.num_groups}" if self.kind == "group" else ""
        return f"{self.kind!r}, {self.num_channels}{groups}, eps={self.eps}"
