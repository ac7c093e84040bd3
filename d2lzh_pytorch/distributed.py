"""Batch normalisation in data-parallel training (chapter 9): a from-scratch ``SyncBatchNorm``,
ghost batch normalisation, and a launcher that runs torch.distributed workers from a notebook.

* ``combine_moments`` merges the (count, mean, biased variance) of several parts of a batch with
  the parallel formula of Chan, Golub and LeVeque; ``naive_moments`` is the unstable
  E[x^2] - E[x]^2 route it replaces.
* ``SyncBatchNorm`` is ``BatchNorm`` whose training-mode statistics are those of the *global*
  batch: one differentiable all-reduce (``AllReduceSum``, in ``global_moments``) gives every
  rank the moments of every rank's part. Outside an initialised process group, or in
  eval mode, it is plain ``BatchNorm``. ``convert_sync_batchnorm`` swaps a model's BN layers.
* ``data_parallel_worker`` is chapter 9's experiment (DDP training of LeNet-BN), run by ``launch``.
* ``GhostBatchNorm`` normalises each slice of ``ghost_size`` examples with its own statistics
  (Hoffer et al. 2017): per-replica statistics on purpose, in one process.
* ``launch(fn, world_size)`` starts ``world_size`` processes (``torch.multiprocessing``, spawn),
  joins them in a process group (gloo; nccl on GPUs) through a TCP store on 127.0.0.1 (the OS
  picks a free port),
  relays their progress, and returns what each ``fn(ctx, *args)`` returned. A worker that raises
  ends the run with its traceback (``WorkerFailed``); a run longer than ``timeout`` seconds is
  stopped (``TimeoutError``). Either way no process is left behind. ``fn`` must be importable
  (defined in a module, not in a notebook), since spawned processes import it.
"""

import datetime
import faulthandler
import functools
import math
import os
import pickle
import queue as queue_module
import sys
import time
import traceback
from dataclasses import dataclass
from unittest import mock

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from .layers import BatchNorm

__all__ = ["AllReduceSum", "GhostBatchNorm", "SyncBatchNorm", "WorkerContext", "WorkerFailed",
           "combine_moments", "convert_sync_batchnorm", "data_parallel_worker", "global_moments", "launch",
           "naive_moments"]


def combine_moments(counts, means, variances):
    """Merge the moments of K parts into those of the whole (Chan, Golub and LeVeque).

    ``counts`` has shape (K,); ``means`` and ``variances`` (biased: divided by the part's
    count) have shape (K, C). Returns ``(n, mean, var)``: the total count and the mean and
    biased variance of the union, each of shape (C,). Parts with count 0 contribute nothing.
    Differentiable; no large sum of squares is ever formed.
    """
    counts = counts.to(means.dtype).reshape(-1, 1)
    n = counts.sum()
    mean = (counts * means).sum(dim=0) / n
    # within-part spread plus between-part spread: sum_k n_k var_k + n_k (mean_k - mean)^2
    deviation = means - mean
    m2 = (counts * variances).sum(dim=0) + (counts * deviation * deviation).sum(dim=0)
    return n, mean, m2 / n


def naive_moments(counts, sums, sums_of_squares):
    """The textbook route ``E[x^2] - E[x]^2`` from per-part sums; cancels badly when
    the mean is large compared with the spread. Returns ``(n, mean, var)``."""
    n = counts.to(sums.dtype).sum()
    mean = sums.sum(dim=0) / n
    return n, mean, sums_of_squares.sum(dim=0) / n - mean * mean


class AllReduceSum(torch.autograd.Function):
    """Sum of a tensor over the ranks, differentiable: the gradient of a sum over ranks is the
    sum over ranks of the gradients, so the backward pass is an all-reduce too (what the
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
    """Count, mean and biased variance per channel of the global batch, whose part on this rank
    is ``X``: each rank computes its part's moments, one all-reduce gathers all parts (every
    rank fills its own row of a zero table), and ``combine_moments`` merges them."""
    dims = [0] + list(range(2, X.dim()))  # every axis except the channel axis 1
    count = X.numel() // X.shape[1]
    if count > 0:
        mean = X.mean(dim=dims)
        X_centered = X - mean.reshape((1, -1) + (1,) * (X.dim() - 2))
        var = (X_centered * X_centered).mean(dim=dims)
    else:  # an empty part has no moments; its weight 0 removes it from the sums. Zeros that
        # depend on X keep this rank in the backward pass (its all-reduce pairs with the others')
        mean = var = X.sum(dim=dims)
    world, rank = dist.get_world_size(process_group), dist.get_rank(process_group)
    # all-gather through one differentiable all-reduce: each rank fills its own row
    row = torch.cat([mean.new_tensor([count]), mean, var])
    table = torch.zeros(world, row.numel(), dtype=row.dtype, device=row.device)
    table = AllReduceSum.apply(table.index_put((torch.tensor([rank], device=row.device),),
                                                row.unsqueeze(0)), process_group)
    C = X.shape[1]
    counts, means, variances = table[:, 0].detach(), table[:, 1:C + 1], table[:, C + 1:]
    return combine_moments(counts, means, variances)


class SyncBatchNorm(BatchNorm):
    """``BatchNorm`` that, in training under torch.distributed, normalises with the statistics
    of the global batch (the union of all ranks' mini-batches), like ``nn.SyncBatchNorm``.

    Arguments, parameters, buffers and errors are those of ``BatchNorm``; ``process_group``
    chooses the ranks that share statistics (None: all of them). Every rank of the group must
    call it the same number of times (it communicates). Per-rank batch sizes may differ, even be
    0. Running statistics are updated with the global mean and the global *unbiased* variance,
    so all ranks keep identical buffers. Outside an initialised process group of 2 or more
    ranks, or in eval mode, it is plain ``BatchNorm``.
    """

    def __init__(self, num_features, num_dims, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, num_dims, eps, momentum, affine, track_running_stats,
                         device, dtype, bias=bias)
        self.process_group = process_group

    def forward(self, X):
        use_batch_stats = self.training or self.running_mean is None
        if not (use_batch_stats and dist.is_available() and dist.is_initialized()
                and dist.get_world_size(self.process_group) > 1):
            return super().forward(X)  # plain BN: checks X itself
        self._check_input(X)
        dtype = X.dtype
        if dtype in (torch.float16, torch.bfloat16):  # as batch_norm: statistics in float32
            X = X.float()
        n, mean, var = global_moments(X, self.process_group)
        if n.item() == 1:
            raise ValueError(f"Expected more than 1 value per channel in the global batch, got "
                             f"{int(n.item())} (this rank's input shape {tuple(X.shape)}): a single "
                             f"value has no variance. Use a global batch of at least 2 examples")
        if self.training and self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)  # as in PyTorch, an empty batch counts too
                if n > 0:  # the global unbiased variance, as in BatchNorm
                    factor = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
                    self.running_mean.mul_(1 - factor).add_(factor * mean)
                    self.running_var.mul_(1 - factor).add_(factor * var * (n / (n - 1)))
        shape = (1, -1) + (1,) * (X.dim() - 2)
        scale = torch.rsqrt(var + self.eps)
        if self.weight is not None:
            scale = self.weight * scale
        Y = (X - mean.reshape(shape)) * scale.reshape(shape)
        if self.bias is not None:
            Y = Y + self.bias.reshape(shape)
        return Y.to(dtype)


class GhostBatchNorm(BatchNorm):
    """Ghost batch normalisation (Hoffer et al. 2017): in training, each consecutive slice of
    ``ghost_size`` examples is normalised with its own batch statistics, and the running
    statistics are updated once per slice. In eval mode it is plain ``BatchNorm``.

    The other arguments are those of ``BatchNorm``. A batch whose size is not a multiple of
    ``ghost_size`` ends with a smaller slice.
    """

    def __init__(self, num_features, num_dims, ghost_size, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, num_dims, eps, momentum, affine, track_running_stats,
                         device, dtype, bias=bias)
        if isinstance(ghost_size, bool) or not isinstance(ghost_size, int) or ghost_size < 2:
            raise ValueError(f"ghost_size must be an integer of at least 2 (examples per ghost batch), "
                             f"got {ghost_size!r}")
        self.ghost_size = ghost_size

    def forward(self, X):
        if not self.training or X.shape[0] <= self.ghost_size:
            return super().forward(X)
        self._check_input(X)
        if X.shape[0] % self.ghost_size == 1 and X[0, 0].numel() == 1:  # one value per channel
            raise ValueError(f"GhostBatchNorm(ghost_size={self.ghost_size}) cuts a batch of {X.shape[0]} "
                             f"examples into slices of {self.ghost_size}; the last slice has 1 example, "
                             f"a single value per channel, which has no variance. Use a batch size that "
                             f"is a multiple of {self.ghost_size} (and drop_last=True in d2l.load_data), "
                             f"or one that leaves at least 2 examples over")
        return torch.cat([BatchNorm.forward(self, part) for part in X.split(self.ghost_size)])

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


# ---------------------------------------------------------------- launching workers


class WorkerFailed(RuntimeError):
    """A worker process raised; the message holds its rank and traceback."""


@dataclass
class WorkerContext:
    """What a worker function receives: its ``rank``, the ``world_size``, and ``report``."""

    rank: int
    world_size: int
    _queue: object

    def report(self, desc, done, total):
        """Tell the parent this rank's progress: ``done`` of ``total`` units of task ``desc``."""
        self._queue.put(("progress", self.rank, desc, done, total))


def _plain(obj):
    """``obj`` with every tensor replaced by a NumPy array (safe to send after the process ends)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().numpy()
    if isinstance(obj, dict):
        return {key: _plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(value) for value in obj)
    return obj


def _worker_main(rank, world_size, host, port, timeout, backend, fn, args, queue):
    """Entry point of each spawned process: join the process group, run ``fn``, send its result."""
    try:
        faulthandler.enable()  # a crash in native code still prints where it happened
        torch.set_num_threads(1)
        wait = datetime.timedelta(seconds=timeout)
        store = dist.TCPStore(host, port, world_size, is_master=False, timeout=wait)
        dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=wait)
        try:
            result = fn(WorkerContext(rank, world_size, queue), *args)
        finally:
            dist.destroy_process_group()
        try:  # pickled here, so that a result that cannot be sent fails with its reason
            payload = pickle.dumps(_plain(result))
        except Exception as err:
            raise TypeError(f"fn returned a result that cannot be sent back to the parent process "
                            f"({err}); return plain data: numbers, strings, lists, dicts, NumPy "
                            f"arrays or tensors, not functions, lambdas, open files or locks") from err
        queue.put(("result", rank, payload))
    except BaseException:
        queue.put(("error", rank, traceback.format_exc()))
        raise


def _show_progress(mode, bars, message, start, shown):
    _, rank, desc, done, total = message
    if mode == "lines":
        state = {0: "started", total: "finished"}.get(done)
        if state is not None and (rank, desc, state) not in shown:
            shown.add((rank, desc, state))
            print(f"[rank {rank}, {time.perf_counter() - start:5.1f} s] {desc}: {state}", flush=True)
    elif mode == "bar":
        bar = bars[rank]
        bar.set_description(f"rank {rank}: {desc}", refresh=False)
        bar.total, bar.n = total, done
        bar.refresh()


_PEER_GONE = ("Connection closed by peer", "Connection reset by peer", "Broken pipe")


def _failure_report(world_size, errors, queue, grace=2.0):
    """The tracebacks of every worker that failed within ``grace`` seconds of the first, the
    root cause first (a rank whose peer died reports only "connection closed")."""
    deadline = time.perf_counter() + grace
    while time.perf_counter() < deadline and len(errors) < world_size:
        try:
            message = queue.get(timeout=0.1)
        except queue_module.Empty:
            continue
        if message[0] == "error":
            errors[message[1]] = message[2]
    ranks = sorted(errors, key=lambda r: (any(text in errors[r] for text in _PEER_GONE), r))
    return "\n\n".join(f"worker {r} of {world_size} failed:\n{errors[r]}" for r in ranks)


def _stop(processes):
    """Terminate, then kill, every process still alive; wait for each."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()


_WRITEFILE_HINT = ("define it with def at the top level of a .py file and import it from there; in a "
                   "notebook, a cell that starts with %%writefile my_worker.py writes such a file, then "
                   "`from my_worker import fn`")


def _check_sendable(fn):
    """Refuse, before any process starts, a ``fn`` that spawned workers could not import."""
    if not callable(fn):
        raise TypeError(f"fn must be a function fn(ctx, *args) (e.g. d2l.data_parallel_worker), "
                        f"got {type(fn).__name__} {fn!r}")
    name = getattr(fn, "__qualname__", repr(fn))
    if name.endswith("<lambda>") or "<locals>" in name:
        raise TypeError(f"cannot send fn {name} to the worker processes: a lambda or a function "
                        f"defined inside another function cannot be pickled; {_WRITEFILE_HINT}")
    main = sys.modules.get("__main__")
    importable_main = (getattr(getattr(main, "__spec__", None), "name", None) is not None
                       or getattr(main, "__file__", None) is not None)
    if getattr(fn, "__module__", None) == "__main__" and not importable_main:
        raise TypeError(f"cannot send fn {name} to the worker processes: it is defined in this notebook "
                        f"or interactive session (module __main__), which spawned processes cannot "
                        f"import; {_WRITEFILE_HINT}")


def launch(fn, world_size=2, args=(), timeout=600, progress=None, backend="gloo"):
    """Run ``fn(ctx, *args)`` in ``world_size`` new processes joined in one process group.

    ``fn`` must be defined in an importable module (spawned processes import it: not in a notebook
    cell, not a lambda; this is checked before any process starts); ``ctx`` is a
    ``WorkerContext`` (``rank``, ``world_size``, ``report``). Each process uses one thread.
    ``progress``: "bar" (a tqdm bar per rank, fed by ``ctx.report``), "lines" (a line when a
    task starts or finishes) or None; default: "bar" when a person watches (``is_interactive``).
    ``backend``: "gloo" (CPU, and CUDA tensors too) or "nccl" (one CUDA GPU per rank).
    Returns the list of the ranks' results, tensors turned into NumPy arrays.
    Raises ``WorkerFailed`` with the worker's traceback as soon as one raises or dies, and
    ``TimeoutError`` after ``timeout`` seconds; all processes are stopped in both cases.
    """
    from .progress import is_interactive

    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive integer (number of processes), got {world_size!r}")
    if not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if progress is None:
        progress = "bar" if is_interactive() else None
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl' (GPUs), got {backend!r}")
    if progress not in ("bar", "lines", None):
        raise ValueError(f"progress must be 'bar', 'lines' or None, got {progress!r}")
    _check_sendable(fn)
    host = "127.0.0.1"
    store = dist.TCPStore(host, 0, world_size, is_master=True, wait_for_workers=False,
                          timeout=datetime.timedelta(seconds=timeout))  # port 0: the OS picks a free one
    context = mp.get_context("spawn")
    queue = context.Queue()
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with mock.patch.dict(os.environ, env):  # inherited by the children before they import torch
        processes = [context.Process(target=_worker_main, daemon=True, args=(
            rank, world_size, host, store.port, timeout, backend, fn, tuple(args), queue))
            for rank in range(world_size)]
        try:
            for process in processes:
                process.start()  # pickles fn and args
        except (pickle.PicklingError, AttributeError, TypeError) as err:
            _stop([p for p in processes if p.pid is not None])
            queue.close()
            raise TypeError(f"cannot send fn or args to the worker processes: they must pickle ({err}). "
                            f"Pass plain data in args (numbers, strings, lists, dicts, tensors), not "
                            f"lambdas or local functions; for fn, {_WRITEFILE_HINT}") from err
    bars = {}
    if progress == "bar":
        from tqdm.auto import tqdm
        bars = {rank: tqdm(total=1, position=rank, leave=True) for rank in range(world_size)}
    results, shown, start = {}, set(), time.perf_counter()
    try:
        while len(results) < world_size:
            if time.perf_counter() - start > timeout:
                waiting = sorted(set(range(world_size)) - set(results))
                raise TimeoutError(f"the {world_size} workers did not finish within {timeout} s (ranks "
                                   f"{waiting} still running); all were stopped. A worker that waits in a "
                                   f"collective for a rank that never joins it hangs: check that every "
                                   f"rank makes the same collective calls, or raise timeout")
            try:
                message = queue.get(timeout=0.2)
            except queue_module.Empty:
                dead = [rank for rank, p in enumerate(processes)
                        if not p.is_alive() and rank not in results]
                if dead:  # died without a word (killed, out of memory, segfault)
                    time.sleep(0.5)  # its last message may still be in transit
                    if queue.empty():
                        raise WorkerFailed(
                            f"worker {dead[0]} exited with code {processes[dead[0]].exitcode} without "
                            f"reporting an error; what it printed went to the standard error of the "
                            f"process that started Python (for a notebook: the Jupyter server's log). "
                            f"A worker that cannot import fn or unpickle args dies like this") from None
                continue
            kind, rank = message[0], message[1]
            if kind == "progress":
                _show_progress(progress, bars, message, start, shown)
            elif kind == "error":
                raise WorkerFailed(_failure_report(world_size, {rank: message[2]}, queue))
            else:
                results[rank] = pickle.loads(message[2])
    finally:
        for bar in bars.values():
            bar.close()
        _stop(processes)
        queue.close()
        del store
    return [results[rank] for rank in range(world_size)]


# ---------------------------------------------------------------- chapter 9's training worker


def _fashion_tensors(num_train, num_test):
    from .data import load_arrays

    X, y = load_arrays("FashionMNIST", train=True)
    X_test, y_test = load_arrays("FashionMNIST", train=False)
    scale = functools.partial(torch.div, other=255.0)
    return scale(X[:num_train].float()), y[:num_train], scale(X_test[:num_test].float()), y_test[:num_test]


def _lenet_bn(config, per_replica):
    from .models import lenet

    if config == "ghost":
        norm2d = functools.partial(GhostBatchNorm, num_dims=4, ghost_size=per_replica)
        norm1d = functools.partial(GhostBatchNorm, num_dims=2, ghost_size=per_replica)
    else:
        norm2d = functools.partial(BatchNorm, num_dims=4)
        norm1d = functools.partial(BatchNorm, num_dims=2)
    net = lenet(norm2d, norm1d)
    return convert_sync_batchnorm(net) if config == "sync" else net


def _bn_buffers(net):
    """Running means and variances of every BN layer, concatenated (one flat vector each)."""
    layers = [m for m in net.modules() if isinstance(m, BatchNorm)]
    return (torch.cat([m.running_mean for m in layers]).clone(),
            torch.cat([m.running_var for m in layers]).clone())


def _accuracy(net, X, y, batch_size=500):
    net.eval()
    with torch.no_grad():
        correct = sum((net(X[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                      for i in range(0, len(y), batch_size))
    net.train()
    return correct / len(y)


DDP_CONFIGS = ("local", "local, no buffer sync", "sync")
ONE_PROCESS_CONFIGS = ("global", "ghost")


def _train_one(ctx, config, seed, data, settings):
    """Train one LeNet-BN; DDP configurations use every rank, the others only this one."""
    from torch.nn.parallel import DistributedDataParallel

    from .utils import generator, set_seed

    X, y, X_test, y_test = data
    b, steps = settings["per_replica"], settings["num_steps"]
    set_seed(seed)
    net = _lenet_bn(config, b)
    distributed = config in DDP_CONFIGS
    # forward_sync_buffers (formerly broadcast_buffers): copy rank 0's buffers to every rank
    # at the start of each training forward; True is DDP's default
    model = (DistributedDataParallel(net, forward_sync_buffers=config != "local, no buffer sync")
             if distributed else net)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    loss_fn = nn.CrossEntropyLoss()
    order = generator(seed)  # the same global batches in every configuration
    global_batch = b * ctx.world_size
    per_epoch = len(y) // global_batch
    losses, seconds, first_buffers = [], [], None
    desc = f"{config}, seed {seed}"
    ctx.report(desc, 0, steps)
    while len(losses) < steps:
        perm = torch.randperm(len(y), generator=order)
        for i in range(min(per_epoch, steps - len(losses))):
            idx = perm[i * global_batch:(i + 1) * global_batch]
            if distributed:
                idx = idx[ctx.rank * b:(ctx.rank + 1) * b]
            tic = time.perf_counter()
            loss = loss_fn(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seconds.append(time.perf_counter() - tic)
            losses.append(loss.item())
            if len(losses) == 1:
                first_buffers = _bn_buffers(net)
            if len(losses) % 50 == 0:
                ctx.report(desc, len(losses), steps)
    ctx.report(desc, steps, steps)
    running_mean, running_var = _bn_buffers(net)
    return {"config": config, "seed": seed, "rank": ctx.rank, "losses": np.array(losses),
            "median_step_s": float(np.median(seconds[5:])), "test_acc": _accuracy(net, X_test, y_test),
            "running_mean": running_mean, "running_var": running_var,
            "first_running_var": first_buffers[1]}


def _time_interleaved(ctx, seed, data, settings):
    """Seconds per DDP step of local BN and of SyncBN, measured on alternating steps (same
    batches), so that a change of machine load affects both alike."""
    from torch.nn.parallel import DistributedDataParallel

    from .utils import generator, set_seed

    X, y = data[0], data[1]
    b = settings["per_replica"]
    models = {}
    for config in ("local", "sync"):
        set_seed(seed)
        model = DistributedDataParallel(_lenet_bn(config, b))
        models[config] = (model, torch.optim.Adam(model.parameters(), lr=settings["lr"]))
    loss_fn = nn.CrossEntropyLoss()
    order = generator(seed)
    seconds = {config: [] for config in models}
    steps = settings["timing_steps"]
    desc = f"timing, seed {seed}"
    ctx.report(desc, 0, steps)
    for _ in range(steps):
        idx = torch.randint(len(y), (ctx.world_size, b), generator=order)[ctx.rank]  # this rank's part
        for config, (model, optimizer) in models.items():
            tic = time.perf_counter()
            loss = loss_fn(model(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seconds[config].append(time.perf_counter() - tic)
    ctx.report(desc, steps, steps)
    return {"config": "timing", "seed": seed, "rank": ctx.rank,
            "local_s": np.array(seconds["local"]), "sync_s": np.array(seconds["sync"])}


def data_parallel_worker(ctx, settings):
    """Chapter 9's experiment in one launch: for every seed, LeNet-BN on Fashion-MNIST trained with
    DDP under each of ``settings["ddp_configs"]`` (all ranks together) and a timing run of local
    BN against SyncBN on alternating steps; then the one-process configurations
    ``settings["one_process_configs"]`` (seeds shared out among the ranks).

    ``settings``: seeds, num_train, num_test, per_replica (batch size per rank), num_steps, lr,
    timing_steps. Returns a list of per-run dicts (losses, test accuracy, BN buffers, step times).
    """
    data = _fashion_tensors(settings["num_train"], settings["num_test"])
    runs = []
    for seed in settings["seeds"]:
        for config in settings["ddp_configs"]:
            runs.append(_train_one(ctx, config, seed, data, settings))
        runs.append(_time_interleaved(ctx, seed, data, settings))
    jobs = [(config, seed) for config in settings["one_process_configs"] for seed in settings["seeds"]]
    for config, seed in jobs[ctx.rank::ctx.world_size]:
        runs.append(_train_one(ctx, config, seed, data, settings))
    return runs


# ---------------------------------------------------------------- chapter 9 on two or more GPUs


def compare_with_torch_sync_batchnorm(ctx, num_features=6, per_rank=(5, 3), seed=0, reference=None):
    """Worker for ``launch(..., backend="nccl")``: this package's ``SyncBatchNorm`` against PyTorch's.

    Each rank takes GPU ``ctx.rank``, draws its own batch of shape (n, C, 4, 4) (``per_rank`` sizes,
    unequal on purpose), and runs one training step through both layers with the same weights and
    the same upstream gradient. Returns this rank's largest absolute differences of the output, the
    input gradient, the (local) weight gradient and the running variance. ``reference`` is the layer
    class compared with (default ``nn.SyncBatchNorm``, which runs only on CUDA); the CPU tests pass
    another to check the plumbing.
    """
    from .utils import generator

    if reference is None:
        device = torch.device("cuda", ctx.rank)
        torch.cuda.set_device(device)  # nccl: one GPU per rank, chosen before the first collective
        reference = nn.SyncBatchNorm
    else:
        device = torch.device("cpu")
    shared, own = generator(seed), generator(seed + 1 + ctx.rank)
    n = per_rank[ctx.rank % len(per_rank)]
    X = 3 + 2 * torch.randn(n, num_features, 4, 4, generator=own)
    upstream = torch.randn(X.shape, generator=own)
    weight = torch.rand(num_features, generator=shared) + 0.5
    bias = torch.randn(num_features, generator=shared)
    results = []
    for layer in (SyncBatchNorm(num_features, 4), reference(num_features)):
        layer = layer.to(device).train()
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)
        inputs = X.to(device).requires_grad_()
        out = layer(inputs)
        (out * upstream.to(device)).sum().backward()
        results.append((out.detach(), inputs.grad, layer.weight.grad, layer.running_var))
    names = ("output", "input grad", "weight grad", "running var")
    ours, theirs = results
    return {name: (a - b).abs().max().item() for name, a, b in zip(names, ours, theirs, strict=True)}
