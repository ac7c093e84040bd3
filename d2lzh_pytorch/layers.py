"""The from-scratch ``batch_norm`` and ``BatchNorm`` (chapter 3).

``batch_norm`` and ``BatchNorm`` are the code that chapter 3 teaches, cell
for cell (a test checks that the two copies are identical).
"""

import torch
from torch import nn

from . import _checks

__all__ = ["BatchNorm", "batch_norm", "scale_shift", "update_running_stats"]


def update_running_stats(running_mean, running_var, num_batches_tracked,
                         mean, var, n, momentum):
    """Move the running statistics towards a batch's, in place and outside
    autograd: ``new = (1 - momentum) * old + momentum * batch``, with the
    batch's *unbiased* variance ``var * n / (n - 1)`` (``momentum=None``: the
    cumulative average over all batches so far). ``mean`` and ``var`` are the
    batch's per-channel mean and biased variance over ``n`` values each; an
    empty batch (``n == 0``) is counted but changes nothing, as in PyTorch.
    """
    with torch.no_grad():
        num_batches_tracked.add_(1)
        if n > 0:
            factor = (
                1.0 / num_batches_tracked.item() if momentum is None
                else momentum
            )
            running_mean.mul_(1 - factor).add_(factor * mean.reshape(-1))
            running_var.mul_(1 - factor).add_(
                factor * var.reshape(-1) * (n / (n - 1))
            )


def scale_shift(X_centered, var, gamma, beta, eps):
    """``gamma * X_centered / sqrt(var + eps) + beta``, channel by channel.

    ``var`` holds one variance per channel (any shape with C values);
    ``gamma=None``: no scale, ``beta=None``: no shift.
    """
    # one value per channel, broadcast over the rest
    shape = (1, -1) + (1,) * (X_centered.dim() - 2)
    # 1 / sqrt(var + eps), one value per channel
    inv_std = torch.rsqrt(var.reshape(shape) + eps)
    # gamma * X_hat + beta, multiplying the small per-channel factors first
    scale = inv_std if gamma is None else gamma.reshape(shape) * inv_std
    Y = X_centered * scale
    if beta is not None:
        Y = Y + beta.reshape(shape)
    return Y


def batch_norm(
    X,
    gamma,
    beta,
    running_mean,
    running_var,
    num_batches_tracked,
    training,
    momentum,
    eps,
):
    """Batch-normalise ``X`` channel by channel, like ``F.batch_norm``.

    ``X`` is (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W).
    Training (or no running statistics): normalise with this batch's mean and
    *biased* variance; in training, also update the running statistics in place
    with the *unbiased* variance: ``new = (1 - momentum) * old + momentum *
    batch``
    (``momentum=None``: the cumulative average over all batches so far).
    Prediction: normalise with the running statistics.
    ``gamma=None``: no scale (affine=False); ``beta=None``: no shift
    (bias=False).
    A float16/bfloat16 ``X`` is normalised in float32; ``Y`` has ``X``'s dtype.
    """
    dtype = X.dtype
    # mixed precision: statistics in float32
    if dtype in (torch.float16, torch.bfloat16):
        X = X.float()
    # one value per channel, broadcast over the rest
    shape = (1, -1) + (1,) * (X.dim() - 2)
    n = X.numel() // X.shape[1]  # values per channel: N, N*L, N*H*W or N*D*H*W
    if training or running_mean is None:
        if n == 1:
            when = "when training" if training else "without running statistics"
            raise ValueError(
                f"Expected more than 1 value per channel {when}, got input "
                f"shape {tuple(X.shape)}: a single value has no variance. "
                f"Use a batch of at least 2 examples (a last batch of one: "
                f"drop_last=True in d2l.load_data or DataLoader); to predict "
                f"one example, call .eval() on a layer with running "
                f"statistics"
            )
        # every axis except the channel axis 1
        dims = [0] + list(range(2, X.dim()))
        if n > 0:
            mean = X.mean(dim=dims, keepdim=True)
            X_centered = X - mean
            # biased: divide by n
            var = (X_centered * X_centered).mean(dim=dims, keepdim=True)
        # an empty batch has no statistics, and its (empty) output needs none
        else:
            mean, X_centered = None, X
            var = X.new_ones(X.shape[1]).reshape(shape)
        if training and running_mean is not None:
            update_running_stats(running_mean, running_var,
                                 num_batches_tracked, mean, var, n, momentum)
    else:
        X_centered = X - running_mean.reshape(shape)
        var = running_var.reshape(shape)
    # the input's dtype (a no-op unless X was float16/bfloat16)
    return scale_shift(X_centered, var, gamma, beta, eps).to(dtype)


class BatchNorm(nn.Module):
    """Batch normalisation from scratch, with ``nn.BatchNorm1d/2d/3d``'s
    conventions.

    Args:
        num_features: channels C (outputs of a dense layer, or conv channels).
        num_dims: rank of the input: 2 for (N, C) or 3 for (N, C, L) (as in
            ``nn.BatchNorm1d``), 4 for (N, C, H, W), 5 for (N, C, D, H, W).
        eps: added to the variance before the square root (positive, finite).
        momentum: weight of the *new* batch in the running statistics
            (PyTorch's convention; the old "0.9 on the old value" is 0.1 here).
            ``None`` means a cumulative (equal-weight) average.
        affine: learn a scale ``gamma`` and a shift ``beta`` per channel.
        track_running_stats: keep ``running_mean``/``running_var`` buffers for
            prediction; if False, batch statistics are used in eval mode too.
        device, dtype: where and in which dtype to create parameters and
        buffers.
        bias: False learns the scale ``gamma`` only (no ``beta``), if
        ``affine``.

    Parameters and buffers have ``nn.BatchNorm*d``'s names, so the two load
    each other's ``state_dict``: ``weight`` is gamma, ``bias`` is beta, then
    ``running_mean``, ``running_var`` and ``num_batches_tracked``. ``gamma`` and
    ``beta`` are read-only aliases of ``weight`` and ``bias``.
    """

    LAYOUTS = {
        2: "(N, C)",
        3: "(N, C, L)",
        4: "(N, C, H, W)",
        5: "(N, C, D, H, W)",
    }
    # as nn.BatchNorm: a state_dict saved without num_batches_tracked loads with
    # count 0
    _load_from_state_dict = _checks.load_from_state_dict

    def __init__(
        self,
        num_features,
        num_dims,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        super().__init__()
        # num_features > 0, eps > 0, 0 <= momentum <= 1 or None; clear errors
        # otherwise
        num_features, eps, momentum = _checks.norm_arguments(
            num_features, eps, momentum
        )
        if not (isinstance(num_dims, int) and num_dims in self.LAYOUTS):
            raise ValueError(
                f"num_dims must be 2 (N, C), 3 (N, C, L), 4 (N, C, H, W) or "
                f"5 (N, C, D, H, W), got {num_dims!r}"
            )
        self.num_features, self.num_dims = num_features, num_dims
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        factory = {"device": device, "dtype": dtype}
        if affine:  # gamma and beta under PyTorch's names weight and bias
            self.weight = nn.Parameter(torch.ones(num_features, **factory))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = nn.Parameter(torch.zeros(num_features, **factory))
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer(
                "running_mean", torch.zeros(num_features, **factory)
            )
            self.register_buffer(
                "running_var", torch.ones(num_features, **factory)
            )
            self.register_buffer(
                "num_batches_tracked",
                torch.tensor(0, dtype=torch.long, device=device),
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    @property
    def gamma(self):
        """The scale gamma, one per channel: PyTorch's ``weight`` (None if not
        affine)."""
        return self.weight

    @property
    def beta(self):
        """The shift beta, one per channel: PyTorch's ``bias`` (None if not
        affine or no bias)."""
        return self.bias

    def reset_running_stats(self):
        """Running mean 0, running variance 1, no batch seen."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        """Reset the statistics, and gamma to 1 and beta to 0."""
        self.reset_running_stats()
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _check_input(self, X):
        # a floating-point tensor of the layer's dtype
        _checks.input_tensor(self, X)
        if X.dim() != self.num_dims:
            raise ValueError(
                f"BatchNorm(num_dims={self.num_dims}) expects a "
                f"{self.num_dims}-D input {self.LAYOUTS[self.num_dims]}, got "
                f"shape {tuple(X.shape)}"
            )
        if X.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm(num_features={self.num_features}) got {X.shape[1]} "
                f"channels (input shape {tuple(X.shape)}); set num_features to "
                f"the number of outputs/channels of the preceding layer"
            )

    def forward(self, X):
        self._check_input(X)
        # as nn.BatchNorm: once track_running_stats is set to False, training
        # leaves the
        # buffers alone (eval mode still uses them)
        buffers = not self.training or self.track_running_stats
        return batch_norm(
            X,
            self.gamma,
            self.beta,
            self.running_mean if buffers else None,
            self.running_var if buffers else None,
            self.num_batches_tracked,
            self.training,
            self.momentum,
            self.eps,
        )

    def extra_repr(self):
        return (
            f"{self.num_features}, num_dims={self.num_dims}, eps={self.eps}, "
            f"momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats="
            f"{self.track_running_stats}"
        )
