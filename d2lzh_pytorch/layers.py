"""Small layers: ``FlattenLayer`` and the from-scratch ``BatchNorm``.

``batch_norm`` and ``BatchNorm`` are the code that chapter 3 teaches, cell
for cell (a test checks that the two copies are identical).
"""

import torch
from torch import nn

__all__ = ["BatchNorm", "FlattenLayer", "batch_norm"]


class FlattenLayer(nn.Module):
    """Flatten every dimension but the first (batch) one."""

    def forward(self, X):
        return X.reshape(X.shape[0], -1)


def batch_norm(X, gamma, beta, running_mean, running_var, num_batches_tracked,
               training, momentum, eps):
    """Batch-normalise ``X`` (N x C or N x C x H x W) channel by channel.

    Training (or no running statistics): normalise with this batch's mean and
    *biased* variance, and update the running statistics in place with the
    *unbiased* variance: ``new = (1 - momentum) * old + momentum * batch``;
    ``momentum=None`` gives the cumulative average over all batches so far.
    Prediction: normalise with the running statistics.
    """
    shape = (1, -1) + (1,) * (X.dim() - 2)  # one value per channel, broadcast over the rest
    if training or running_mean is None:
        dims = [0] + list(range(2, X.dim()))  # every axis except the channel axis 1
        mean = X.mean(dim=dims, keepdim=True)
        X_centered = X - mean
        var = (X_centered * X_centered).mean(dim=dims, keepdim=True)  # biased: divide by n
        if training and running_mean is not None:
            with torch.no_grad():
                num_batches_tracked.add_(1)
                factor = 1.0 / num_batches_tracked.item() if momentum is None else momentum
                n = X.numel() / X.shape[1]  # values per channel: m, or m*p*q
                running_mean.mul_(1 - factor).add_(factor * mean.reshape(-1))
                running_var.mul_(1 - factor).add_(factor * var.reshape(-1) * (n / (n - 1)))
    else:
        X_centered = X - running_mean.reshape(shape)
        var = running_var.reshape(shape)
    inv_std = torch.rsqrt(var + eps)  # 1 / sqrt(var + eps), one value per channel
    if gamma is None:
        return X_centered * inv_std
    # gamma * X_hat + beta, multiplying the small per-channel factors first
    return X_centered * (gamma.reshape(shape) * inv_std) + beta.reshape(shape)


class BatchNorm(nn.Module):
    """Batch normalisation from scratch, with ``nn.BatchNorm1d/2d``'s conventions.

    Args:
        num_features: channels C (outputs of a dense layer, or conv channels).
        num_dims: 2 for dense inputs (N, C), 4 for conv inputs (N, C, H, W).
        eps: added to the variance before the square root.
        momentum: weight of the *new* batch in the running statistics
            (PyTorch's convention; the old "0.9 on the old value" is 0.1 here).
            ``None`` means a cumulative (equal-weight) average.
        affine: learn a scale ``gamma`` and shift ``beta`` per channel.
        track_running_stats: keep ``running_mean``/``running_var`` buffers for
            prediction; if False, batch statistics are used in eval mode too.
    """

    def __init__(self, num_features, num_dims, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True):
        super().__init__()
        if num_dims not in (2, 4):
            raise ValueError(f"num_dims must be 2 (dense layer, N x C) or 4 (conv layer, "
                             f"N x C x H x W), got {num_dims!r}")
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum!r}")
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.num_features, self.num_dims = num_features, num_dims
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.gamma = nn.Parameter(torch.ones(num_features))
            self.beta = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("gamma", None)
            self.register_parameter("beta", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        """Running mean 0, running variance 1, no batch seen."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        """Reset the statistics, and gamma to 1 and beta to 0."""
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.gamma)
            nn.init.zeros_(self.beta)

    def _check_input(self, X):
        layout = "N x C" if self.num_dims == 2 else "N x C x H x W"
        if X.dim() != self.num_dims:
            raise ValueError(f"BatchNorm(num_dims={self.num_dims}) expects a {self.num_dims}-D "
                             f"input ({layout}), got shape {tuple(X.shape)}")
        if X.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm(num_features={self.num_features}) got {X.shape[1]} "
                             f"channels (input shape {tuple(X.shape)}); set num_features to "
                             f"the number of outputs/channels of the preceding layer")
        if self.training and X.numel() // X.shape[1] <= 1:
            raise ValueError(f"BatchNorm needs more than one value per channel in training, "
                             f"got input shape {tuple(X.shape)}; use a batch of at least 2 "
                             f"examples or call .eval() for prediction")

    def forward(self, X):
        self._check_input(X)
        return batch_norm(X, self.gamma, self.beta, self.running_mean, self.running_var,
                          self.num_batches_tracked, self.training, self.momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, num_dims={self.num_dims}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")
