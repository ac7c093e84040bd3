"""Tests of d2lzh_pytorch.distributed: the moment formulas, SyncBatchNorm (alone and in 2 gloo
processes on 127.0.0.1, against nn.BatchNorm on the whole batch), GhostBatchNorm,
convert_sync_batchnorm, and the launcher's handling of failing and hanging workers.

The worker functions live at the top level of this module: spawned processes import them.
"""

import contextlib
import io
import multiprocessing
import time

import pytest
import torch
import torch.distributed as dist
from torch import nn

import d2lzh_pytorch as d2l

# ---------------------------------------------------------------- workers (run in spawned processes)

# (num_dims, per-rank batch sizes, keyword arguments): equal and unequal parts, an empty part
CASES = [
    (2, (4, 4), {}),
    (2, (5, 2), {"momentum": None}),
    (2, (3, 1), {"affine": False}),
    (2, (6, 0), {}),
    (4, (3, 2), {}),
    (4, (2, 2), {"track_running_stats": False}),
    (3, (2, 3), {"eps": 1e-3, "momentum": 0.3}),
]
CHANNELS, STEPS = 3, 2


def full_batch(num_dims, total, step):
    """The global batch of one step and the weights G of the loss sum(Y * G), in float64."""
    gen = torch.Generator().manual_seed(100 * num_dims + 10 * total + step)
    shape = (total, CHANNELS) + (4, 3, 5)[:num_dims - 2]
    X = 3.0 + 2.0 * torch.randn(shape, generator=gen, dtype=torch.float64)
    return X, torch.randn(shape, generator=gen, dtype=torch.float64)


def set_affine(layer):
    """The same non-trivial gamma/beta for the layer under test and its reference."""
    if layer.weight is not None:
        with torch.no_grad():
            layer.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
            layer.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))


def sync_bn_worker(ctx, cases):
    """Each rank trains SyncBatchNorm on its slice of every case's batches; returns what it saw."""
    ctx.report("cases", 0, len(cases))
    results = []
    for num_dims, sizes, kwargs in cases:
        start, stop = sum(sizes[:ctx.rank]), sum(sizes[:ctx.rank + 1])
        layer = d2l.SyncBatchNorm(CHANNELS, num_dims, dtype=torch.float64, **kwargs)
        set_affine(layer)
        steps = []
        for step in range(STEPS):
            X, G = full_batch(num_dims, sum(sizes), step)
            X = X[start:stop].clone().requires_grad_()
            layer.zero_grad()
            Y = layer(X)
            (Y * G[start:stop]).sum().backward()
            steps.append({"Y": Y, "dX": X.grad,
                          "grads": [p.grad for p in layer.parameters()]})
        X, _ = full_batch(num_dims, sum(sizes), STEPS)
        layer.eval()
        with torch.no_grad():
            Y_eval = layer(X[start:stop])
        results.append({"steps": steps, "eval": Y_eval, "buffers": dict(layer.named_buffers())})
    ctx.report("cases", len(cases), len(cases))
    return results


def raising_worker(ctx):
    if ctx.rank == 1:
        raise ValueError("boom from rank 1")
    dist.barrier()  # rank 0 waits for a rank that never comes


def hanging_worker(ctx):
    if ctx.rank == 0:
        time.sleep(600)


def half_precision_worker(ctx):
    """SyncBatchNorm (float32) on this rank's half of a float16 batch far from its mean."""
    X = (torch.randn(8, CHANNELS, generator=torch.Generator().manual_seed(0)) * 400 + 50).half()
    layer = d2l.SyncBatchNorm(CHANNELS, 2)
    Y = layer(X[4 * ctx.rank:4 * ctx.rank + 4])
    running_var = layer.running_var.clone()
    layer.track_running_stats = False  # as nn: from now on training leaves the buffers alone
    layer(X[4 * ctx.rank:4 * ctx.rank + 4].float())
    return {"Y": Y.float(), "dtype": str(Y.dtype), "running_var": running_var,
            "buffers_unchanged": torch.equal(layer.running_var, running_var)
            and layer.num_batches_tracked.item() == 1}


def unpicklable_result_worker(ctx):
    return lambda: ctx.rank  # a lambda cannot be sent back to the parent


# ---------------------------------------------------------------- references


def reference(num_dims, sizes, kwargs):
    """nn.BatchNorm1d/2d on the whole batch, the same steps as sync_bn_worker."""
    norm = nn.BatchNorm2d if num_dims == 4 else nn.BatchNorm1d
    layer = norm(CHANNELS, dtype=torch.float64, **kwargs)
    set_affine(layer)
    steps = []
    for step in range(STEPS):
        X, G = full_batch(num_dims, sum(sizes), step)
        X.requires_grad_()
        layer.zero_grad()
        Y = layer(X)
        (Y * G).sum().backward()
        steps.append({"Y": Y.detach(), "dX": X.grad, "grads": [p.grad for p in layer.parameters()]})
    X, _ = full_batch(num_dims, sum(sizes), STEPS)
    layer.eval()
    with torch.no_grad():
        Y_eval = layer(X)
    return {"steps": steps, "eval": Y_eval, "buffers": dict(layer.named_buffers())}


def close(array, tensor):
    return torch.allclose(torch.as_tensor(array), tensor, rtol=1e-10, atol=1e-10)


@pytest.fixture(scope="module")
def two_rank_results():
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        ranks = d2l.launch(sync_bn_worker, 2, args=(CASES,), timeout=180, progress="lines")
    return ranks, printed.getvalue()


@pytest.mark.parametrize("case", range(len(CASES)))
def test_sync_batchnorm_on_two_ranks_equals_batchnorm_on_whole_batch(two_rank_results, case):
    ranks, _ = two_rank_results
    num_dims, sizes, kwargs = CASES[case]
    ref = reference(num_dims, sizes, kwargs)
    got = [rank[case] for rank in ranks]
    for step, expected in enumerate(ref["steps"]):
        parts = [r["steps"][step] for r in got]
        for key in ("Y", "dX"):  # outputs and input gradients, rank 0's part first
            assert close(torch.cat([torch.as_tensor(p[key]) for p in parts]), expected[key]), f"{key}, {step}"
        for i, grad in enumerate(expected["grads"]):  # DDP would sum (average) these over the ranks
            assert close(sum(torch.as_tensor(p["grads"][i]) for p in parts), grad), f"param grad {i}"
    assert close(torch.cat([torch.as_tensor(r["eval"]) for r in got]), ref["eval"])
    for name, buffer in ref["buffers"].items():
        for r in got:  # every rank keeps the same running statistics
            assert close(r["buffers"][name], buffer), name
    assert set(got[0]["buffers"]) == set(ref["buffers"])


def test_launch_reports_progress_lines(two_rank_results):
    _, printed = two_rank_results
    for rank in (0, 1):
        assert f"[rank {rank}," in printed and "cases: started" in printed and "cases: finished" in printed


def test_a_failing_worker_ends_the_run_with_its_error():
    start = time.perf_counter()
    with pytest.raises(d2l.WorkerFailed, match=r"(?s)worker 1 of 2 failed.*boom from rank 1"):
        d2l.launch(raising_worker, 2, timeout=120)
    assert time.perf_counter() - start < 120
    assert multiprocessing.active_children() == []


def test_a_hanging_worker_is_stopped_after_the_timeout():
    with pytest.raises(TimeoutError, match="did not finish within 3 s"):
        d2l.launch(hanging_worker, 2, timeout=3)
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize("kwargs, message", [
    ({"world_size": 0}, "world_size must be a positive integer"),
    ({"timeout": 0}, "timeout must be a positive number"),
    ({"progress": "loud"}, "progress must be"),
    ({"backend": "mpi"}, "backend must be"),
])
def test_launch_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        d2l.launch(hanging_worker, **{"world_size": 2, **kwargs})


# ---------------------------------------------------------------- moments


def test_combine_moments_equals_moments_of_the_union():
    gen = torch.Generator().manual_seed(0)
    parts = [torch.randn(n, 4, generator=gen, dtype=torch.float64) * 3 + 1 for n in (5, 0, 2, 9)]
    counts = torch.tensor([len(p) for p in parts])
    means = torch.stack([p.mean(0) if len(p) else torch.zeros(4, dtype=torch.float64) for p in parts])
    variances = torch.stack([p.var(0, unbiased=False) if len(p) else torch.zeros(4, dtype=torch.float64)
                             for p in parts])
    n, mean, var = d2l.combine_moments(counts, means, variances)
    whole = torch.cat(parts)
    assert n.item() == len(whole)
    assert torch.allclose(mean, whole.mean(0)) and torch.allclose(var, whole.var(0, unbiased=False))


def test_naive_moments_cancel_in_float32_with_a_large_mean_but_chan_does_not():
    gen = torch.Generator().manual_seed(0)
    parts = [1e4 + torch.randn(n, 1, generator=gen, dtype=torch.float64) for n in (300, 200)]
    truth = torch.cat(parts).var(unbiased=False).item()
    p32 = [p.float() for p in parts]
    counts = torch.tensor([300, 200])
    _, _, naive = d2l.naive_moments(counts, torch.stack([p.sum(0) for p in p32]),
                                    torch.stack([(p * p).sum(0) for p in p32]))
    _, _, chan = d2l.combine_moments(counts, torch.stack([p.mean(0) for p in p32]),
                                     torch.stack([p.var(0, unbiased=False) for p in p32]))
    assert abs(chan.item() - truth) < 1e-3 * truth
    assert abs(naive.item() - truth) > 0.1 * truth
    _, _, naive64 = d2l.naive_moments(counts, torch.stack([p.sum(0) for p in parts]),
                                      torch.stack([(p * p).sum(0) for p in parts]))
    assert abs(naive64.item() - truth) < 1e-3 * truth  # in float64 the naive route still works here


# ---------------------------------------------------------------- layers in one process


def test_sync_batchnorm_without_process_group_is_plain_batchnorm():
    torch.manual_seed(0)
    sync, plain = d2l.SyncBatchNorm(3, 4), nn.BatchNorm2d(3)
    for _ in range(2):
        X = torch.randn(4, 3, 5, 5) * 2 + 1
        assert torch.allclose(sync(X), plain(X), atol=1e-5)
    assert torch.allclose(sync.running_var, plain.running_var) and sync.num_batches_tracked == 2
    sync.eval(), plain.eval()
    assert torch.allclose(sync(X), plain(X), atol=1e-5)
    assert "num_dims=4" in repr(sync)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_dims": 6}, "num_dims must be 2"),
    ({"num_features": 0}, "num_features must be a positive integer"),
    ({"eps": 0}, "eps must be positive"),
    ({"momentum": 2}, "momentum must be in"),
])
def test_sync_and_ghost_batchnorm_check_arguments_like_batchnorm(kwargs, message):
    args = {"num_features": 3, "num_dims": 2, **kwargs}
    for make in (d2l.SyncBatchNorm, lambda **a: d2l.GhostBatchNorm(ghost_size=2, **a)):
        with pytest.raises(ValueError, match=message):
            make(**args)


def test_sync_batchnorm_checks_its_input_like_batchnorm():
    with pytest.raises(ValueError, match="expects a 2-D input"):
        d2l.SyncBatchNorm(3, 2)(torch.randn(4, 3, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        d2l.SyncBatchNorm(3, 2)(torch.randn(1, 3))


def test_ghost_batchnorm_normalises_each_slice_on_its_own():
    torch.manual_seed(0)
    ghost, plain = d2l.GhostBatchNorm(3, 2, ghost_size=4), d2l.BatchNorm(3, 2)
    X = torch.randn(10, 3) + 5
    expected = torch.cat([plain(part) for part in X.split(4)])  # slices of 4, 4 and 2
    assert torch.allclose(ghost(X), expected)
    assert ghost.num_batches_tracked == 3 and torch.allclose(ghost.running_mean, plain.running_mean)
    ghost.eval()
    assert torch.allclose(ghost(X), nn.functional.batch_norm(
        X, ghost.running_mean, ghost.running_var, ghost.weight, ghost.bias, False, 0.1, ghost.eps))
    assert "ghost_size=4" in repr(ghost)
    with pytest.raises(ValueError, match="ghost_size must be an integer of at least 2"):
        d2l.GhostBatchNorm(3, 2, ghost_size=1)


def test_convert_sync_batchnorm_swaps_and_shares():
    net = d2l.lenet(nn.BatchNorm2d, lambda n: d2l.BatchNorm(n, 2, momentum=0.2, bias=False))
    net[1].eval()
    old = [m for m in net if isinstance(m, (nn.BatchNorm2d, d2l.BatchNorm))]
    converted = d2l.convert_sync_batchnorm(net)
    assert converted is net
    new = [m for m in net if isinstance(m, (nn.BatchNorm2d, d2l.BatchNorm))]
    assert len(new) == len(old) == 4 and all(type(m) is d2l.SyncBatchNorm for m in new)
    for a, b in zip(old, new, strict=True):
        assert b.weight is a.weight and b.running_var is a.running_var
        assert b.num_batches_tracked is a.num_batches_tracked and b.training == a.training
        assert b.momentum == a.momentum and b.eps == a.eps
    assert [m.num_dims for m in new] == [4, 4, 2, 2] and new[2].bias is None and not new[0].training
    assert isinstance(d2l.convert_sync_batchnorm(nn.BatchNorm1d(3), bn1d_dims=3), d2l.SyncBatchNorm)
    assert isinstance(d2l.convert_sync_batchnorm(nn.Linear(2, 2)), nn.Linear)
    with pytest.raises(ValueError, match="bn1d_dims must be 2"):
        d2l.convert_sync_batchnorm(net, bn1d_dims=4)



def test_the_gpu_comparison_compares_on_cpu_ranks_too():
    """The ≥2-GPU worker of chapter 9, run on 2 CPU ranks (gloo) with other reference layers: it
    reports no gap against an equal global-batch layer and a clear one against unsynced BN."""
    import functools

    sync = functools.partial(d2l.SyncBatchNorm, num_dims=4)
    for reference, expect_equal in ((sync, True), (nn.BatchNorm2d, False)):
        ranks = d2l.launch(d2l.distributed.compare_with_torch_sync_batchnorm, 2,
                           args=(6, (5, 3), 0, reference), timeout=120, progress=None)
        for gaps in ranks:
            assert set(gaps) == {"output", "input grad", "weight grad", "running var"}
            if expect_equal:
                assert max(gaps.values()) < 1e-6, gaps
            else:  # local statistics differ from the global batch's on every rank
                assert gaps["output"] > 1e-3 and gaps["running var"] > 1e-3, gaps


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="nn.SyncBatchNorm runs only on CUDA: needs 2 GPUs")
def test_sync_batchnorm_matches_torch_sync_batchnorm_on_two_gpus():
    ranks = d2l.launch(d2l.distributed.compare_with_torch_sync_batchnorm, 2, backend="nccl", timeout=300)
    for gaps in ranks:
        assert set(gaps) == {"output", "input grad", "weight grad", "running var"}
        assert max(gaps.values()) < 1e-4, gaps


# ---------------------------------------------------------------- mistakes students make (issue 19)


def test_sync_batchnorm_float16_input_and_track_running_stats_turned_off_on_two_ranks():
    ranks = d2l.launch(half_precision_worker, 2, timeout=120)
    X = (torch.randn(8, CHANNELS, generator=torch.Generator().manual_seed(0)) * 400 + 50).half()
    ref = nn.BatchNorm1d(CHANNELS)
    expected = ref(X).float()
    assert all(r["dtype"] == "torch.float16" for r in ranks)
    assert all(r["buffers_unchanged"] for r in ranks)
    got = torch.cat([torch.as_tensor(r["Y"]) for r in ranks])
    torch.testing.assert_close(got, expected.detach(), rtol=0, atol=2e-2)
    for r in ranks:
        torch.testing.assert_close(torch.as_tensor(r["running_var"]), ref.running_var, rtol=1e-3, atol=0)


def test_ghost_batchnorm_names_the_leftover_slice_of_one_example():
    ghost = d2l.GhostBatchNorm(3, 2, ghost_size=4)
    with pytest.raises(ValueError, match=r"ghost_size=4.*batch of 9.*last slice has 1 example.*of 4"):
        ghost(torch.randn(9, 3))
    ghost(torch.randn(10, 3))  # a last slice of 2 is fine
    d2l.GhostBatchNorm(3, 4, ghost_size=4)(torch.randn(9, 3, 2, 2))  # 4 values per channel: fine


def test_a_converted_batchnorm1d_names_bn1d_dims_when_fed_the_other_layout():
    net = d2l.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm1d(3)))
    with pytest.raises(ValueError, match=r"expects a 2-D input.*bn1d_dims=3"):
        net(torch.randn(4, 3, 5))
    net3 = d2l.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm1d(3)), bn1d_dims=3)
    with pytest.raises(ValueError, match=r"expects a 3-D input.*bn1d_dims=2"):
        net3(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"expects a 4-D input") as info:
        d2l.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(3)))(torch.randn(4, 3))
    assert "bn1d_dims" not in str(info.value)  # the hint is for converted nn.BatchNorm1d only


def _nested_worker_factory():
    def worker(ctx):
        return ctx.rank
    return worker


@pytest.mark.parametrize("fn, message", [
    ("hanging_worker", r"fn must be a function.*got str"),
    (lambda ctx: ctx.rank, r"cannot send fn <lambda>.*def at the top level of a \.py file"),
    (_nested_worker_factory(), r"cannot send fn .*<locals>\.worker.*%%writefile"),
])
def test_launch_refuses_a_function_the_workers_cannot_get_before_starting_them(fn, message):
    start = time.perf_counter()
    with pytest.raises(TypeError, match=message):
        d2l.launch(fn, 2, timeout=60)
    assert time.perf_counter() - start < 10 and multiprocessing.active_children() == []


def test_launch_refuses_a_function_from_a_notebook_before_starting_workers(monkeypatch):
    import sys
    import types

    def notebook_worker(ctx):
        return ctx.rank

    notebook_worker.__module__ = "__main__"
    notebook_worker.__qualname__ = "notebook_worker"
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # no __file__: a notebook
    with pytest.raises(TypeError, match=r"notebook_worker.*__main__.*%%writefile"):
        d2l.launch(notebook_worker, 2, timeout=60)
    assert multiprocessing.active_children() == []


def test_launch_refuses_arguments_that_do_not_pickle():
    with pytest.raises(TypeError, match=r"cannot send fn or args.*pickl"):
        d2l.launch(hanging_worker, 2, args=(lambda: 1,), timeout=60)
    assert multiprocessing.active_children() == []


def test_a_result_that_does_not_pickle_is_reported_with_the_reason():
    with pytest.raises(d2l.WorkerFailed, match=r"(?s)worker \d of 2 failed.*result.*pickl"):
        d2l.launch(unpicklable_result_worker, 2, timeout=120)
    assert multiprocessing.active_children() == []
