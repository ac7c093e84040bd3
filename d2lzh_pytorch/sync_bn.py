"""Batch normalisation across processes (chapter 9): a from-scratch ``SyncBatchNorm`` and ghost
batch normalisation.

* ``combine_moments`` merges the (count, mean, biased variance) of several parts of a batch with
  the parallel formula of Chan, Golub and LeVeque; ``naive_moments`` is the unstable
  E[x^2] - E[x]^2 route it replaces.
* ``SyncBatchNorm`` is ``BatchNorm`` whose training-mode statistics are those of the *global*
  batch: one differentiable all-reduce (``AllReduceSum``, in ``global_moments``) gives every
  rank the moments of every rank's part. Outside an initialised process group, or in
  eval mode, it is plain ``BatchNorm``. ``convert_sync_batchnorm`` swaps a model's BN layers.
* ``GhostBatchNorm`` normalises each slice of ``ghost_size`` examples with its own statistics
  (Hoffer et al. 2017): per-replica statistics on purpose, in one process.

No side effects on import.
"""

import torch
import torch.distributed as dist
from torch import nn

from .layers import BatchNorm, scale_shift, update_running_stats

__all__ = ["AllReduceSum", "GhostBatchNorm", "SyncBatchNorm", "combine_moments", "convert_sync_batchnorm",
           "global_moments", "naive_moments"]


def combine_moments(counts, means, variances):
    """Merge the moments of K parts into those of the whole (Chan, Golub and
    LeVeque).

    ``counts`` has shape (K,); ``means`` and ``variances`` (biased: divided by
    the part's
    count) have shape (K, C). Returns ``(n, mean, var)``: the total count and
    the mean and
    biased variance of the union, each of shape (C,). Parts with count 0
    contribute nothing.
    Differentiable; no large sum of squares is ever formed.
    """
    counts = counts.to(means.dtype).reshape(-1, 1)
    n = counts.sum()
    mean = (counts * means).sum(dim=0) / n
    # within-part spread plus between-part spread: sum_k n_k var_k + n_k (mean_k
    # - mean)^2
    deviation = means - mean
    m2 = (counts * variances).sum(dim=0) + (counts * deviation * deviation).sum(
        dim=0
    )
    return n, mean, m2 / n


def naive_moments(counts, sums, sums_of_squares):
    """The textbook route ``E[x^2] - E[x]^2`` from per-part sums; cancels badly
    when
    the mean is large compared with the spread. Returns ``(n, mean, var)``."""
    n = counts.to(sums.dtype).sum()
    mean = sums.sum(dim=0) / n
    return n, mean, sums_of_squares.sum(dim=0) / n - mean * mean


class AllReduceSum(torch.autograd.Function):
    """Sum of a tensor over the ranks, differentiable: the gradient of a sum
    over ranks is the
    sum over ranks of the gradients, so the backward pass is an all-reduce too
    (what the
    deprecated ``torch.distributed.nn.functional.all_reduce`` does)."""

    @staticmethod
    def forward(ctx, tensor, group):
        ctx.group = group
        total = tensor.clone()
        dist.all_reduce(total, group=group)
        return total

    @staticmethod
    def backward(ctx, grad):
        total = grad.clone()
        dist.all_reduce(total, group=ctx.group)
        return total, None


def global_moments(X, process_group=None):
    """Count, mean and biased variance per channel of the global batch, whose
    part on this rank
    is ``X``: each rank computes its part's moments, one all-reduce gathers all
    parts (every
    rank fills its own row of a zero table), and ``combine_moments`` merges
    them."""
    dims = [0] + list(range(2, X.dim()))  # every axis except the channel axis 1
    count = X.numel() // X.shape[1]
    if count > 0:
        mean = X.mean(dim=dims)
        X_centered = X - mean.reshape((1, -1) + (1,) * (X.dim() - 2))
        var = (X_centered * X_centered).mean(dim=dims)
    # an empty part has no moments; its weight 0 removes it from the sums. Zeros
    # that
    else:
        # depend on X keep this rank in the backward pass (its all-reduce pairs
        # with the others')
        mean = var = X.sum(dim=dims)
    world, rank = (
        dist.get_world_size(process_group),
        dist.get_rank(process_group),
    )
    # all-gather through one differentiable all-reduce: each rank fills its own
    # row
    row = torch.cat([mean.new_tensor([count]), mean, var])
    table = torch.zeros(world, row.numel(), dtype=row.dtype, device=row.device)
    table = AllReduceSum.apply(
        table.index_put(
            (torch.tensor([rank], device=row.device),), row.unsqueeze(0)
        ),
        process_group,
    )
    C = X.shape[1]
    counts, means, variances = (
        table[:, 0].detach(),
        table[:, 1 : C + 1],
        table[:, C + 1 :],
    )
    return combine_moments(counts, means, variances)


class SyncBatchNorm(BatchNorm):
    """``BatchNorm`` that, in training under torch.distributed, normalises with
    the statistics
    of the global batch (the union of all ranks' mini-batches), like
    ``nn.SyncBatchNorm``.

    Arguments, parameters, buffers and errors are those of ``BatchNorm``;
    ``process_group``
    chooses the ranks that share statistics (None: all of them). Every rank of
    the group must
    call it the same number of times (it communicates). Per-rank batch sizes may
    differ, even be
    0. Running statistics are updated with the global mean and the global
    *unbiased* variance,
    so all ranks keep identical buffers. Outside an initialised process group of
    2 or more
    ranks, or in eval mode, it is plain ``BatchNorm``.
    """

    def __init__(
        self,
        num_features,
        num_dims,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        process_group=None,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        super().__init__(
            num_features,
            num_dims,
            eps,
            momentum,
            affine,
            track_running_stats,
            device,
            dtype,
            bias=bias,
        )
        self.process_group = process_group

    def forward(self, X):
        use_batch_stats = self.training or self.running_mean is None
        if not (
            use_batch_stats
            and dist.is_available()
            and dist.is_initialized()
            and dist.get_world_size(self.process_group) > 1
        ):
            return super().forward(X)  # plain BN: checks X itself
        self._check_input(X)
        dtype = X.dtype
        # as batch_norm: statistics in float32
        if dtype in (torch.float16, torch.bfloat16):
            X = X.float()
        n, mean, var = global_moments(X, self.process_group)
        if n.item() == 1:
            raise ValueError(
                f"Expected more than 1 value per channel in the global batch,"
                f" got {int(n.item())} (this rank's input shape "
                f"{tuple(X.shape)}): a single value has no variance. Use a "
                f"global batch of at least 2 examples"
            )
        if (
            self.training
            and self.track_running_stats
            and self.running_mean is not None
        ):
            # the global moments, through chapter 3's update
            update_running_stats(self.running_mean, self.running_var,
                                 self.num_batches_tracked, mean, var, n,
                                 self.momentum)
        shape = (1, -1) + (1,) * (X.dim() - 2)
        Y = scale_shift(X - mean.reshape(shape), var, self.weight, self.bias,
                        self.eps)
        return Y.to(dtype)


class GhostBatchNorm(BatchNorm):
    """Ghost batch normalisation (Hoffer et al. 2017): in training, each
    consecutive slice of
    ``ghost_size`` examples is normalised with its own batch statistics, and the
    running
    statistics are updated once per slice. In eval mode it is plain
    ``BatchNorm``.

    The other arguments are those of ``BatchNorm``. A batch whose size is not a
    multiple of
    ``ghost_size`` ends with a smaller slice.
    """

    def __init__(
        self,
        num_features,
        num_dims,
        ghost_size,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_running_stats=True,
        device=None,
        dtype=None,
        *,
        bias=True,
    ):
        super().__init__(
            num_features,
            num_dims,
            eps,
            momentum,
            affine,
            track_running_stats,
            device,
            dtype,
            bias=bias,
        )
        if (
            isinstance(ghost_size, bool)
            or not isinstance(ghost_size, int)
            or ghost_size < 2
        ):
            raise ValueError(
                f"ghost_size must be an integer of at least 2 (examples per "
                f"ghost batch), got {ghost_size!r}"
            )
        self.ghost_size = ghost_size

    def forward(self, X):
        if not self.training or X.shape[0] <= self.ghost_size:
            return super().forward(X)
        self._check_input(X)
        # one value per channel
        if X.shape[0] % self.ghost_size == 1 and X[0, 0].numel() == 1:
            raise ValueError(
                f"GhostBatchNorm(ghost_size={self.ghost_size}) cuts a batch "
                f"of {X.shape[0]} examples into slices of {self.ghost_size}; "
                f"the last slice has 1 example, a single value per channel, "
                f"which has no variance. Use a batch size that is a multiple "
                f"of {self.ghost_size} (and drop_last=True in d2l.load_data),"
                f" or one that leaves at least 2 examples over"
            )
        return torch.cat(
            [BatchNorm.forward(self, part) for part in X.split(self.ghost_size)]
        )

    def extra_repr(self):
        return f"{super().extra_repr()}, ghost_size={self.ghost_size}"


_NN_BATCHNORM_DIMS = {nn.BatchNorm2d: 4, nn.BatchNorm3d: 5}


def _bn1d_layout_hint(layer, inputs):
    """Before the forward pass of a SyncBatchNorm that replaced an ``nn.BatchNorm1d`` (which
    takes (N, C) and (N, C, L)): an input of the other layout names ``bn1d_dims``."""
    X = inputs[0] if inputs else None
    if isinstance(X, torch.Tensor) and X.dim() in (2, 3) and X.dim() != layer.num_dims:
        raise ValueError(f"SyncBatchNorm(num_dims={layer.num_dims}) expects a {layer.num_dims}-D input "
                         f"{BatchNorm.LAYOUTS[layer.num_dims]}, got shape {tuple(X.shape)}: it replaced "
                         f"an nn.BatchNorm1d, which takes both (N, C) and (N, C, L). Convert with "
                         f"convert_sync_batchnorm(..., bn1d_dims={X.dim()}) for this layout")


def _sync_version(layer, process_group, bn1d_dims):
    """A SyncBatchNorm that shares ``layer``'s parameters and buffers, or None if not a BN layer."""
    if isinstance(layer, SyncBatchNorm) or isinstance(layer, nn.SyncBatchNorm):
        return None
    if isinstance(layer, BatchNorm):
        num_dims, bias = layer.num_dims, layer.bias is not None
    elif type(layer) is nn.BatchNorm1d:
        num_dims, bias = bn1d_dims, True
    elif type(layer) in _NN_BATCHNORM_DIMS:
        num_dims, bias = _NN_BATCHNORM_DIMS[type(layer)], True
    else:
        return None
    new = SyncBatchNorm(layer.num_features, num_dims, layer.eps, layer.momentum, layer.affine,
                        layer.track_running_stats, process_group, bias=bias)
    if type(layer) is nn.BatchNorm1d:
        new.register_forward_pre_hook(_bn1d_layout_hint)
    # share, do not copy: an optimiser built on the old model still updates these tensors
    for name in ("weight", "bias"):
        setattr(new, name, getattr(layer, name))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        setattr(new, name, getattr(layer, name))
    return new.train(layer.training)


def convert_sync_batchnorm(module, process_group=None, bn1d_dims=2):
    """Replace every ``d2l.BatchNorm`` and ``nn.BatchNorm1d/2d/3d`` in ``module`` by a
    ``SyncBatchNorm`` that shares its parameters and buffers and keeps its train/eval mode.

    Returns the converted module (``module`` itself, changed in place, unless ``module`` is a
    BN layer). ``nn.BatchNorm1d`` accepts (N, C) and (N, C, L); ``SyncBatchNorm`` checks one
    layout, ``bn1d_dims`` (2 or 3). Like ``nn.SyncBatchNorm.convert_sync_batchnorm``.
    """
    if bn1d_dims not in (2, 3):
        raise ValueError(f"bn1d_dims must be 2 for (N, C) or 3 for (N, C, L) inputs of "
                         f"nn.BatchNorm1d, got {bn1d_dims!r}")
    new = _sync_version(module, process_group, bn1d_dims)
    if new is not None:
        return new
    for name, child in module.named_children():
        setattr(module, name, convert_sync_batchnorm(child, process_group, bn1d_dims))
    return module
