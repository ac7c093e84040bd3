"""Argument and input checks that the normalisation layers share (``_checks.norm_arguments`` ...).

The chapters' layers call them in one line each, so that the code a chapter
teaches stays short while a mistake still gets an error that says what was
wrong and what to do. They accept what ``nn.BatchNorm*`` accepts (NumPy
integers for counts, float16/bfloat16 inputs into a float32 layer) and refuse
what it refuses, and a few things it lets through silently (``eps=True``).
"""

import operator
from numbers import Real

import torch
from torch import nn

__all__ = []  # used as ``_checks.<name>`` by the layers; nothing is exported into ``d2l``

HALF_DTYPES = (torch.float16, torch.bfloat16)  # the dtypes of mixed precision


def count(value, what, hint="", divides=None):
    """``value`` as a Python int if it is a positive integer (a NumPy integer too, not a bool)
    that divides ``divides`` (if given); else ValueError saying so, with ``hint``."""
    if not isinstance(value, bool):
        try:
            value = operator.index(value)
        except TypeError:
            pass
    if (isinstance(value, bool) or not isinstance(value, int) or value < 1
            or (divides is not None and divides % value)):
        raise ValueError(f"{what} must be a positive integer{hint}, got {value!r}")
    return value


def _number(value, what, example):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{what} must be a number (e.g. {what}={example}), got {value!r} "
                         f"of type {type(value).__name__}")
    return float(value)


def norm_arguments(num_features, eps, momentum, what="num_features", momentum_none=True):
    """Check a normalisation layer's size, ``eps`` and ``momentum``; return them as int, float, float.

    ``num_features``: a positive integer (the channels C). ``eps``: a positive,
    finite number. ``momentum``: a number in [0, 1], or None (the cumulative
    average) when ``momentum_none``.
    """
    num_features = count(num_features, what, " (the number of channels C)")
    eps = _number(eps, "eps", "1e-5")
    if not 0 < eps < float("inf"):  # also rejects NaN
        raise ValueError(f"eps must be positive and finite (e.g. 1e-5), got {eps!r}")
    if momentum is None:
        if not momentum_none:
            raise ValueError("momentum=None (a cumulative average) is not supported by this layer; "
                             "pass a number in [0, 1] such as 0.1, or use d2l.BatchNorm / "
                             "nn.BatchNorm2d for momentum=None")
        return num_features, eps, None
    momentum = _number(momentum, "momentum", "0.1")
    if not 0 <= momentum <= 1:  # also rejects NaN
        raise ValueError(f"momentum must be in [0, 1] or None, got {momentum!r}")
    return num_features, eps, momentum


def _is_vmapped(X):
    """Is ``X`` a tensor that ``torch.func.vmap`` batches (seen one example at a time)?"""
    is_batched = getattr(getattr(torch._C, "_functorch", None), "is_batchedtensor", None)
    return bool(is_batched is not None and is_batched(X))


def input_tensor(layer, X):
    """Check that the BN ``layer`` can normalise ``X`` (before any shape checks).

    ``X`` must be a floating-point tensor of the layer's dtype; as in
    ``nn.BatchNorm*``, a float16/bfloat16 input may enter a float32 layer
    (mixed precision). Under ``torch.func.vmap`` a layer that would update its
    running statistics in place refuses, with ``nn.BatchNorm``'s advice.
    """
    name = type(layer).__name__
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor, got {type(X).__name__}; convert it with "
                        f"torch.as_tensor(X, dtype=torch.float32)")
    if not X.is_floating_point():
        raise TypeError(f"{name} expects a floating-point input, got dtype {X.dtype}: normalising "
                        f"needs real-valued means and variances. Convert it first, e.g. X.float() "
                        f"(and divide uint8 images by 255)")
    own = layer.weight if layer.weight is not None else layer.running_mean
    mixed_precision = X.dtype in HALF_DTYPES and own is not None and own.dtype == torch.float32
    if own is not None and X.dtype != own.dtype and not mixed_precision:
        raise TypeError(f"{name}'s parameters and buffers are {own.dtype} but the input is {X.dtype}; "
                        f"make them the same, e.g. X.to({own.dtype}) or layer.to({X.dtype}) "
                        f"(only float16/bfloat16 inputs may enter a float32 layer, as in mixed "
                        f"precision; nn.BatchNorm* refuses the rest too)")
    if layer.training and layer.track_running_stats and layer.running_mean is not None and _is_vmapped(X):
        raise RuntimeError(f"{name} got a batched tensor (torch.func.vmap) in training mode: its running "
                           f"statistics, updated in place, are not batched. If you do not need them, "
                           f"set track_running_stats = False on each BN layer (torch.func."
                           f"replace_all_batch_norm_modules_ does this for nn.BatchNorm* only), or call "
                           f".eval() to use the running statistics without updating them")


def load_from_state_dict(module, state_dict, prefix, local_metadata, *args):
    """``nn.BatchNorm``'s state_dict migration: a state_dict without ``num_batches_tracked``
    (saved before PyTorch 0.4.1, or a hand-made dict without version information) loads
    with the count 0."""
    key = prefix + "num_batches_tracked"
    version = local_metadata.get("version")
    if (version is None or version < 2) and module.num_batches_tracked is not None and key not in state_dict:
        state_dict[key] = torch.zeros_like(module.num_batches_tracked)
    nn.Module._load_from_state_dict(module, state_dict, prefix, local_metadata, *args)
