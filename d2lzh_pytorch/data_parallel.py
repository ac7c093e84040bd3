"""Chapter 9's experiment: LeNet-BN trained on Fashion-MNIST with DDP (local BN, local BN without
buffer sync, SyncBN) and in one process (global batch, ghost BN), run by ``launch`` as
``data_parallel_worker``; and ``compare_with_torch_sync_batchnorm``, this package's
``SyncBatchNorm`` against PyTorch's on GPUs. Workers are module-level functions, so that spawned
processes can import them. No side effects on import.
"""

import functools
import time

import numpy as np
import torch
from torch import nn

from .layers import BatchNorm
from .sync_bn import GhostBatchNorm, SyncBatchNorm, convert_sync_batchnorm

__all__ = ["compare_with_torch_sync_batchnorm", "data_parallel_worker", "train_one_config"]


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


def _device_ids(ctx):
    """DDP's ``device_ids``: this rank's GPU, or None on the CPU."""
    return [ctx.device.index] if ctx.device.type == "cuda" else None


def _sync_buffers(on):
    """DDP's keyword for broadcasting rank 0's buffers: ``forward_sync_buffers`` in recent
    PyTorch, ``broadcast_buffers`` (now deprecated) in the versions before it."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    names = inspect.signature(DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers" if "forward_sync_buffers" in names else "broadcast_buffers": on}


DDP_CONFIGS = ("local", "local, no buffer sync", "sync")
ONE_PROCESS_CONFIGS = ("global", "ghost")


def _batches(X, y, seed, global_batch, part=None):
    """Endless mini-batches: each epoch a new permutation drawn from ``seed``, cut into global
    batches of ``global_batch`` examples (the incomplete last one dropped), of which each batch
    yields the examples ``part`` (a slice: a rank's share under DDP; None: all of them)."""
    from .utils import generator

    order = generator(seed)
    while True:
        perm = torch.randperm(len(y), generator=order)
        for i in range(len(y) // global_batch):
            idx = perm[i * global_batch:(i + 1) * global_batch]
            if part is not None:
                idx = idx[part]
            yield X[idx], y[idx]


def train_one_config(ctx, config, seed, data, settings):
    """Train one LeNet-BN under ``config``: DDP configurations use every
    rank, the others only this one. Returns its losses, test accuracy and BN
    buffers (after step 1 and at the end)."""
    from torch.nn.parallel import DistributedDataParallel

    from .models import train_by_steps
    from .training import evaluate_accuracy
    from .utils import set_seed

    X, y, X_test, y_test = data  # on ctx.device, like the model
    b, steps = settings["per_replica"], settings["num_steps"]
    set_seed(seed)
    net = _lenet_bn(config, b).to(ctx.device)
    distributed = config in DDP_CONFIGS
    # forward_sync_buffers (formerly broadcast_buffers): copy rank 0's
    # buffers to every rank at the start of each training forward; True is
    # DDP's default
    if distributed:
        ids = _device_ids(ctx)  # this rank's GPU, or None on the CPU
        sync = _sync_buffers(config != "local, no buffer sync")
        model = DistributedDataParallel(net, device_ids=ids, **sync)
    else:
        model = net
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    # the same global batches in every configuration; under DDP each rank
    # takes its b examples
    mine = slice(ctx.rank * b, (ctx.rank + 1) * b) if distributed else None
    batches = _batches(X, y, seed, b * ctx.world_size, mine)
    desc, first = f"{config}, seed {seed}", {}

    def on_step(step, loss):
        if step == 1:
            first["running_var"] = _bn_buffers(net)[1]
        if step % 50 == 0:
            ctx.report(desc, step, steps)

    ctx.report(desc, 0, steps)
    losses = train_by_steps(model, batches, optimizer, steps, on_step)
    ctx.report(desc, steps, steps)
    running_mean, running_var = _bn_buffers(net)
    test_batches = zip(X_test.split(500), y_test.split(500), strict=True)
    return {"config": config, "seed": seed, "rank": ctx.rank,
            "losses": np.array(losses),
            "test_acc": evaluate_accuracy(test_batches, net),
            "running_mean": running_mean, "running_var": running_var,
            "first_running_var": first["running_var"]}


def _time_interleaved(ctx, seed, data, settings):
    """Seconds per DDP step of local BN and of SyncBN, measured on alternating steps (same
    batches), so that a change of machine load affects both alike."""
    from torch.nn.parallel import DistributedDataParallel

    from .models import train_by_steps
    from .utils import generator, set_seed

    X, y = data[0], data[1]
    b = settings["per_replica"]
    models = {}
    for config in ("local", "sync"):
        set_seed(seed)
        model = DistributedDataParallel(_lenet_bn(config, b).to(ctx.device), device_ids=_device_ids(ctx))
        models[config] = (model, torch.optim.Adam(model.parameters(), lr=settings["lr"]))
    order = generator(seed)
    seconds = {config: [] for config in models}
    steps = settings["timing_steps"]
    desc = f"timing, seed {seed}"
    ctx.report(desc, 0, steps)
    for _ in range(steps):
        idx = torch.randint(len(y), (ctx.world_size, b), generator=order)[ctx.rank]  # this rank's part
        for config, (model, optimizer) in models.items():
            tic = time.perf_counter()
            train_by_steps(model, [(X[idx], y[idx])], optimizer, 1)  # its loss.item() waits for the GPU
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
    data = [t.to(ctx.device) for t in _fashion_tensors(settings["num_train"], settings["num_test"])]
    runs = []
    for seed in settings["seeds"]:
        for config in settings["ddp_configs"]:
            runs.append(train_one_config(ctx, config, seed, data, settings))
        runs.append(_time_interleaved(ctx, seed, data, settings))
    jobs = [(config, seed) for config in settings["one_process_configs"] for seed in settings["seeds"]]
    for config, seed in jobs[ctx.rank::ctx.world_size]:
        runs.append(train_one_config(ctx, config, seed, data, settings))
    return runs


def compare_with_torch_sync_batchnorm(ctx, num_features=6, per_rank=(5, 3), seed=0, reference=None):
    """Worker for ``launch(..., backend="nccl")``: this package's ``SyncBatchNorm`` against PyTorch's.

    Each rank computes on ``ctx.device`` (GPU ``ctx.rank`` under nccl), draws its own batch of
    shape (n, C, 4, 4) (``per_rank`` sizes, unequal on purpose), and runs one training step
    through both layers with the same weights and the same upstream gradient. Returns this
    rank's largest absolute differences of the output, the input gradient, the (local) weight
    gradient and the running variance. ``reference`` is the layer class compared with (default
    ``nn.SyncBatchNorm``, which runs only on CUDA); the CPU tests pass another to check the
    plumbing.
    """
    from .utils import generator

    device = ctx.device  # under nccl, GPU ctx.rank (launch made it current)
    if reference is None:
        if device.type != "cuda":
            raise RuntimeError("nn.SyncBatchNorm runs only on CUDA: launch this with backend='nccl' "
                               "on a machine with a GPU per rank, or pass another reference layer")
        reference = nn.SyncBatchNorm
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
