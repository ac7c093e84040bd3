"""The from-scratch ``batch_norm`` and ``BatchNorm`` (chapter 3).

``batch_norm`` and ``BatchNorm`` are the code that chapter 3 teaches, cell
for cell (a test checks that the two copies are identical).
"""

import torch
from torch import nn

from . import _checks

__all__ = ["BatchNorm", "batch_norm"]


def batch_norm(X, gamma, beta, running_mean, running_var, num_batches_tracked,
               training, momentum, eps):
    """Batch-normalise ``X`` channel by channel, like ``F.batch_norm``.

    ``X`` is (N, C), (N, C, L), (N, C, H, W) or (N, C, D, H, W).
    Training (or no running statistics): normalise with this batch's mean and
    *biased* variance; in training, also update the running statistics in place
    with the *unbiased* variance: ``new = (1 - momentum) * old + momentum * batch``
    (``momentum=None``: the cumulative average over all batches so far).
    Prediction: normalise with the running statistics.
    ``gamma=None``: no scale (affine=False); ``beta=None``: no shift (bias=False).
    A float16/bfloat16 ``X`` is normalised in float32; ``Y`` has ``X``'s dtype.
    """
    dtype = X.dtype
    if dtype in (torch.float16, torch.bfloat16):  # mixed precision: statistics in float32
        X = X.float()
    shape = (1, -1) + (1,) * (X.dim() - 2)  # one value per channel, broadcast over the rest
    n = X.numel() // X.shape[1]  # values per channel: N, N*L, N*H*W or N*D*H*W
    if training or running_mean is None:
        if n == 1:
            when = "when training" if training else "without running statistics"
            raise ValueError(f"Expected more than 1 value per channel {when}, got input shape "
                             f"{tuple(X.shape)}: a single value has no variance. Use a batch of "
                             f"at least 2 examples (a last batch of one: drop_last=True in "
                             f"d2l.load_data or DataLoader); to predict one example, call "
                             f".eval() on a layer with running statistics")
        dims = [0] + list(range(2, X.dim()))  # every axis except the channel axis 1
        if n > 0:
            mean = X.mean(dim=dims, keepdim=True)
            X_centered = X - mean
            var = (X_centered * X_centered).mean(dim=dims, keepdim=True)  # biased: divide by n
        else:  # an empty batch has no statistics, and its (empty) output needs none
            X_centered, var = X, X.new_ones(X.shape[1]).reshape(shape)
        if training and running_mean is not None:
            with torch.no_grad():
                num_batches_tracked.add_(1)  # as in PyTorch, an empty batch counts too
                if n > 0:
                    factor = 1.0 / num_batches_tracked.item() if momentum is None else momentum
                    running_mean.mul_(1 - factor).add_(factor * mean.reshape(-1))
                    running_var.mul_(1 - factor).add_(factor * var.reshape(-1) * (n / (n - 1)))
    else:
        X_centered = X - running_mean.reshape(shape)
        var = running_var.reshape(shape)
    inv_std = torch.rsqrt(var + eps)  # 1 / sqrt(var + eps), one value per channel
    # gamma * X_hat + beta, multiplying the small per-channel factors first
    scale = inv_std if gamma is None else gamma.reshape(shape) * inv_std
    Y = X_centered * scale
    if beta is not None:
        Y = Y + beta.reshape(shape)
    return Y.to(dtype)  # the input's dtype (a no-op unless X was float16/bfloat16)


class BatchNorm(nn.Module):
    """Batch normalisation from scratch, with ``nn.BatchNorm1d/2d/3d``'s conventions.

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
        device, dtype: where and in which dtype to create parameters and buffers.
        bias: False learns the scale ``gamma`` only (no ``beta``), if ``affine``.

    Parameters and buffers have ``nn.BatchNorm*d``'s names, so the two load
    each other's ``state_dict``: ``weight`` is gamma, ``bias`` is beta, then
    ``running_mean``, ``running_var`` and ``num_batches_tracked``. ``gamma`` and
    ``beta`` are read-only aliases of ``weight`` and ``bias``.
    """

    LAYOUTS = {2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}
    # as nn.BatchNorm: a state_dict saved without num_batches_tracked loads with count 0
    _load_from_state_dict = _checks.load_from_state_dict

    def __init__(self, num_features, num_dims, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        # num_features > 0, eps > 0, 0 <= momentum <= 1 or None; clear errors otherwise
        num_features, eps, momentum = _checks.norm_arguments(num_features, eps, momentum)
        if not (isinstance(num_dims, int) and num_dims in self.LAYOUTS):
            raise ValueError(f"num_dims must be 2 (N, C), 3 (N, C, L), 4 (N, C, H, W) or "
                             f"5 (N, C, D, H, W), got {num_dims!r}")
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
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked",
                                 torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    @property
    def gamma(self):
        """The scale gamma, one per channel: PyTorch's ``weight`` (None if not affine)."""
        return self.weight

    @property
    def beta(self):
        """The shift beta, one per channel: PyTorch's ``bias`` (None if not affine or no bias)."""
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
        _checks.input_tensor(self, X)  # a floating-point tensor of the layer's dtype
        if X.dim() != self.num_dims:
            raise ValueError(f"BatchNorm(num_dims={self.num_dims}) expects a {self.num_dims}-D "
                             f"input {self.LAYOUTS[self.num_dims]}, got shape {tuple(X.shape)}")
        if X.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm(num_features={self.num_features}) got {X.shape[1]} "
                             f"channels (input shape {tuple(X.shape)}); set num_features to "
                             f"the number of outputs/channels of the preceding layer")

    def forward(self, X):
        self._check_input(X)
        # as nn.BatchNorm: once track_running_stats is set to False, training leaves the
        # buffers alone (eval mode still uses them)
        buffers = not self.training or self.track_running_stats
        return batch_norm(X, self.gamma, self.beta, self.running_mean if buffers else None,
                          self.running_var if buffers else None, self.num_batches_tracked,
                          self.training, self.momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, num_dims={self.num_dims}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")
