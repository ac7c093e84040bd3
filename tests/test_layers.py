"""The from-scratch BatchNorm matches nn.BatchNorm1d/2d/3d wherever PyTorch defines them.

The comparisons run in float64, so that any difference beyond rounding is a real one.
"""

import inspect
import math

import numpy as np
import pytest
import torch
from torch import nn

from d2lzh_pytorch import BatchNorm, FlattenLayer, batch_norm  # FlattenLayer: compat

F64 = torch.float64
C = 3
SHAPES = {2: (8, C), 3: (4, C, 5), 4: (3, C, 2, 4), 5: (2, C, 2, 2, 3)}
REFERENCE = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}
NUM_DIMS = list(SHAPES)
KWARGS = [
    {},
    {"momentum": 0.3},
    {"momentum": None},
    {"momentum": 1.0},
    {"momentum": 0.0},
    {"eps": 1e-2},
    {"affine": False},
    {"bias": False},
    {"bias": False, "momentum": None},
    {"affine": False, "bias": False},
    {"track_running_stats": False},
    {"affine": False, "track_running_stats": False, "momentum": None},
]


def _pair(num_dims, dtype=F64, **kwargs):
    """Our layer and PyTorch's, built with the same keywords and the same random gamma/beta."""
    ours = BatchNorm(C, num_dims, dtype=dtype, **kwargs)
    ref = REFERENCE[num_dims](C, dtype=dtype, **kwargs)
    with torch.no_grad():  # non-trivial gamma/beta so that they matter
        for name in ("weight", "bias"):
            if getattr(ref, name) is not None:
                value = torch.randn(C, dtype=dtype)
                getattr(ours, name).copy_(value)
                getattr(ref, name).copy_(value)
    return ours, ref


def _assert_same_state(ours, ref):
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in ref.named_buffers()]
    mine, theirs = ours.state_dict(), ref.state_dict()
    assert list(mine) == list(theirs)
    for key, value in theirs.items():
        assert mine[key].dtype == value.dtype and mine[key].device == value.device, key
        torch.testing.assert_close(mine[key], value, rtol=1e-12, atol=1e-12, msg=key)


def _check_same(ours, ref, X):
    """Same output, input gradient, parameter gradients and state after one forward/backward."""
    Xa = X.clone().requires_grad_()
    Xb = X.clone().requires_grad_()
    ya, yb = ours(Xa), ref(Xb)
    torch.testing.assert_close(ya, yb, rtol=1e-10, atol=1e-10)
    upstream = torch.randn_like(ya)
    ya.backward(upstream)
    yb.backward(upstream)
    torch.testing.assert_close(Xa.grad, Xb.grad, rtol=1e-10, atol=1e-10)
    for name, p in ref.named_parameters():
        torch.testing.assert_close(getattr(ours, name).grad, p.grad, rtol=1e-10, atol=1e-10,
                                   msg=f"grad of {name}")
    ours.zero_grad(set_to_none=True)
    ref.zero_grad(set_to_none=True)
    _assert_same_state(ours, ref)


@pytest.mark.parametrize("num_dims", NUM_DIMS)
@pytest.mark.parametrize("kwargs", KWARGS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_matches_pytorch_in_train_and_eval(num_dims, kwargs):
    torch.manual_seed(0)
    ours, ref = _pair(num_dims, **kwargs)
    _assert_same_state(ours, ref)
    for _ in range(4):  # several batches: running statistics accumulate
        _check_same(ours, ref, torch.randn(SHAPES[num_dims], dtype=F64) * 3 + 2)
    ours.eval()
    ref.eval()
    for _ in range(2):
        _check_same(ours, ref, torch.randn(SHAPES[num_dims], dtype=F64) * 3 + 2)


def test_float32_default_matches_pytorch():
    torch.manual_seed(0)
    ours, ref = BatchNorm(C, 4), nn.BatchNorm2d(C)
    for _ in range(3):
        X = torch.randn(6, C, 4, 4) * 3 + 2
        torch.testing.assert_close(ours(X), ref(X))
    torch.testing.assert_close(ours.running_var, ref.running_var)


EMPTY_SHAPES = [(2, (0, C)), (3, (0, C, 5)), (3, (4, C, 0)), (4, (0, C, 2, 2)),
                (4, (2, C, 0, 3)), (5, (0, C, 1, 2, 2))]


@pytest.mark.parametrize("num_dims, shape", EMPTY_SHAPES, ids=[str(s) for _, s in EMPTY_SHAPES])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"bias": False},
                                    {"track_running_stats": False}])
def test_empty_batch_matches_pytorch(num_dims, shape, kwargs):
    # PyTorch: an empty output of the same shape; the running statistics stay as they
    # were, but num_batches_tracked still counts the batch (so with momentum=None the
    # next batch gets weight 1/2, not 1); gamma and beta get zero gradients (not None).
    torch.manual_seed(0)
    ours, ref = _pair(num_dims, **kwargs)
    X_normal = torch.randn(SHAPES[num_dims], dtype=F64) * 3 + 2
    _check_same(ours, ref, X_normal)  # running statistics away from their initial values
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    X_empty = torch.randn(shape, dtype=F64)
    Xa = X_empty.clone().requires_grad_()
    Y = ours(Xa)
    assert Y.shape == shape
    Y.sum().backward()
    assert Xa.grad.shape == shape
    assert torch.equal(ours.gamma.grad, torch.zeros(C, dtype=F64))
    if ours.beta is not None:
        assert torch.equal(ours.beta.grad, torch.zeros(C, dtype=F64))
    ours.zero_grad(set_to_none=True)
    if ours.track_running_stats:
        assert torch.equal(ours.running_mean, before["running_mean"])
        assert torch.equal(ours.running_var, before["running_var"])
        assert ours.num_batches_tracked.item() == before["num_batches_tracked"].item() + 1
    ours.load_state_dict(before)  # and now the same step side by side with PyTorch
    _check_same(ours, ref, X_empty)
    _check_same(ours, ref, X_normal + 1)  # the batch after an empty one
    ours.eval()
    ref.eval()
    _check_same(ours, ref, X_empty)
    _check_same(ours, ref, X_normal)


ONE_VALUE = {2: (1, C), 3: (1, C, 1), 4: (1, C, 1, 1), 5: (1, C, 1, 1, 1)}


@pytest.mark.parametrize("num_dims", NUM_DIMS)
def test_one_value_per_channel_raises_like_pytorch(num_dims):
    ours, ref = _pair(num_dims)
    X = torch.randn(ONE_VALUE[num_dims], dtype=F64)
    for layer in (ours, ref):
        with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
            layer(X)
    with pytest.raises(ValueError, match=r"at least 2 examples .*; to predict one example, call \.eval\(\)"):
        ours(X)
    # PyTorch counts the batch before it raises; ours checks first and leaves its state alone
    assert ours.num_batches_tracked.item() == 0 and ref.num_batches_tracked.item() == 1
    ref.num_batches_tracked.zero_()
    ours.eval()
    ref.eval()
    _check_same(ours, ref, X)  # prediction uses the running statistics: one value is fine


@pytest.mark.parametrize("num_dims", NUM_DIMS)
def test_one_value_without_running_stats_raises_in_eval_too(num_dims):
    ours, ref = _pair(num_dims, track_running_stats=False)
    X = torch.randn(ONE_VALUE[num_dims], dtype=F64)
    for layer in (ours.eval(), ref.eval()):
        with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
            layer(X)


def test_two_values_per_channel_from_one_example_are_enough():
    ours, ref = _pair(3)
    _check_same(ours, ref, torch.randn(1, C, 2, dtype=F64))  # N = 1 but L = 2


def test_every_pytorch_keyword_is_accepted():
    ours = inspect.signature(BatchNorm).parameters
    for cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
        for name, p in inspect.signature(cls).parameters.items():
            assert name in ours, name
            assert ours[name].kind == p.kind, name
            assert ours[name].default == p.default or p.default is inspect.Parameter.empty, name


def test_pytorch_has_a_bias_keyword_and_we_match_it():
    ours, ref = BatchNorm(C, 4, bias=False), nn.BatchNorm2d(C, bias=False)
    assert ours.bias is None and ours.beta is None and ref.bias is None
    assert list(ours.state_dict()) == list(ref.state_dict()) == [
        "weight", "running_mean", "running_var", "num_batches_tracked"]
    assert [n for n, _ in ours.named_parameters()] == ["weight"]
    assert "bias=False" in repr(ours) and "bias=False" in repr(ref)
    assert BatchNorm(C, 4, affine=False, bias=True).bias is None  # affine=False: no parameters


DEVICES = ["cpu", "meta"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [None, torch.float64, torch.float16])
def test_device_and_dtype_keywords(device, dtype):
    ours = BatchNorm(C, 5, device=device, dtype=dtype)
    ref = nn.BatchNorm3d(C, device=device, dtype=dtype)
    mine = ours.state_dict()
    for key, value in ref.state_dict().items():
        assert (mine[key].device, mine[key].dtype) == (value.device, value.dtype), key


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("num_dims", NUM_DIMS)
def test_matches_pytorch_on_the_gpu(num_dims):
    torch.manual_seed(0)
    ours, ref = _pair(num_dims, momentum=None)
    ours, ref = ours.cuda(), ref.cuda()
    for _ in range(3):
        _check_same(ours, ref, torch.randn(SHAPES[num_dims], dtype=F64, device="cuda"))
    ours.eval()
    ref.eval()
    _check_same(ours, ref, torch.randn(SHAPES[num_dims], dtype=F64, device="cuda"))


def test_defaults_match_pytorch():
    ours, ref = BatchNorm(7, 4), nn.BatchNorm2d(7)
    assert (ours.eps, ours.momentum, ours.affine, ours.track_running_stats) == (
        ref.eps, ref.momentum, ref.affine, ref.track_running_stats)
    _assert_same_state(ours, ref)  # running_var starts at 1, not 0


def test_gamma_and_beta_are_the_weight_and_bias():
    bn = BatchNorm(C, 2)
    assert bn.gamma is bn.weight and bn.beta is bn.bias
    with torch.no_grad():
        bn.gamma.fill_(2.0)  # in-place changes through the alias reach the parameter
    assert torch.equal(bn.weight, torch.full((C,), 2.0))
    plain = BatchNorm(C, 2, affine=False)
    assert plain.gamma is None and plain.beta is None
    assert list(plain.parameters()) == []


def test_running_var_is_unbiased_and_normalising_var_is_biased():
    X = torch.arange(15.0).reshape(5, 3)
    bn = BatchNorm(3, 2, momentum=1.0, affine=False)  # running stats = last batch
    Y = bn(X)
    torch.testing.assert_close(bn.running_var, X.var(dim=0, unbiased=True))
    torch.testing.assert_close(Y.var(dim=0, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(Y[0], torch.full((3,), -1.4142), atol=1e-4, rtol=0)


def test_cumulative_average_with_momentum_none():
    torch.manual_seed(1)
    bn = BatchNorm(4, 2, momentum=None)
    batches = [torch.randn(10, 4) + i for i in range(5)]
    for X in batches:
        bn(X)
    torch.testing.assert_close(bn.running_mean, torch.stack([X.mean(0) for X in batches]).mean(0))


def test_eval_mode_uses_running_statistics_and_is_batch_independent():
    torch.manual_seed(2)
    bn = BatchNorm(3, 4)
    for _ in range(10):
        bn(torch.randn(8, 3, 5, 5) * 2 + 1)
    bn.eval()
    X = torch.randn(4, 3, 5, 5)
    torch.testing.assert_close(bn(X)[:1], bn(X[:1]))  # one example alone: same answer
    before = bn.running_mean.clone()
    bn(X)
    assert torch.equal(before, bn.running_mean)  # eval mode never updates statistics


@pytest.mark.parametrize("num_dims", NUM_DIMS)
@pytest.mark.parametrize("with_beta", [True, False])
def test_gradcheck_float64(num_dims, with_beta):
    torch.manual_seed(3)
    shape = (3, 2) + (2,) * (num_dims - 2)
    X = torch.randn(shape, dtype=F64, requires_grad=True)
    gamma = torch.randn(2, dtype=F64, requires_grad=True)
    beta = torch.randn(2, dtype=F64, requires_grad=True)

    def f(X, gamma, beta):
        return batch_norm(X, gamma, beta if with_beta else None, None, None, None, True, 0.1, 1e-5)

    assert torch.autograd.gradcheck(f, (X, gamma, beta))
    assert torch.autograd.gradgradcheck(f, (X, gamma, beta))


def test_buffers_follow_state_dict_and_dtype():
    bn = BatchNorm(3, 2)
    bn(torch.randn(6, 3))
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert {n for n, _ in bn.named_buffers()} == {"running_mean", "running_var", "num_batches_tracked"}
    clone = BatchNorm(3, 2)
    clone.load_state_dict(bn.state_dict())
    assert torch.equal(clone.running_var, bn.running_var)
    bn64 = bn.double()
    assert bn64.running_mean.dtype == F64 and bn64.gamma.dtype == F64
    bn64(torch.randn(4, 3, dtype=F64))  # no dtype clash after .double()


def _train_a_little(layer, shape, steps=3):
    """A few gradient steps so that parameters and statistics are all off their initial values."""
    for _ in range(steps):
        loss = (layer(torch.randn(shape, dtype=F64) * 2 + 1) ** 3).mean()
        params = list(layer.parameters())
        if params:
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads, strict=True):
                    p -= 0.1 * g


@pytest.mark.parametrize("num_dims", NUM_DIMS)
@pytest.mark.parametrize("kwargs", [{}, {"bias": False}, {"affine": False},
                                    {"track_running_stats": False}, {"momentum": None}],
                         ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "defaults")
@pytest.mark.parametrize("direction", ["ours->torch", "torch->ours"])
def test_state_dict_loads_both_ways(num_dims, kwargs, direction):
    torch.manual_seed(4)
    ours, ref = BatchNorm(C, num_dims, dtype=F64, **kwargs), REFERENCE[num_dims](C, dtype=F64, **kwargs)
    source, target = (ours, ref) if direction == "ours->torch" else (ref, ours)
    _train_a_little(source, SHAPES[num_dims])
    target.load_state_dict(source.state_dict())  # strict=True: the same keys, nothing left over
    _assert_same_state(ours, ref)
    if ours.track_running_stats:
        assert target.num_batches_tracked.item() == 3
    for mode in ("eval", "train"):
        ours.train(mode == "train")
        ref.train(mode == "train")
        _check_same(ours, ref, torch.randn(SHAPES[num_dims], dtype=F64))


def test_state_dict_of_a_whole_network_loads_into_pytorch():
    torch.manual_seed(5)
    ours = nn.Sequential(nn.Conv2d(1, 4, 3), BatchNorm(4, 4), nn.Flatten(), nn.Linear(16, 6),
                         BatchNorm(6, 2), nn.Sigmoid()).double()
    ref = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 6),
                        nn.BatchNorm1d(6), nn.Sigmoid()).double()
    ours(torch.randn(8, 1, 4, 4, dtype=F64))
    ref.load_state_dict(ours.state_dict())
    ours.eval()
    ref.eval()
    X = torch.randn(5, 1, 4, 4, dtype=F64)
    torch.testing.assert_close(ours(X), ref(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("direction", ["ours->torch", "torch->ours"])
def test_state_dict_with_other_shapes_gives_a_clear_error(direction):
    ours, ref = BatchNorm(3, 4), nn.BatchNorm2d(4)
    source, target = (ours, ref) if direction == "ours->torch" else (ref, ours)
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: copying a param with shape "
                                           r"torch.Size\(\[\d\]\) from checkpoint"):
        target.load_state_dict(source.state_dict())


def test_state_dict_without_bias_needs_a_layer_without_bias():
    with pytest.raises(RuntimeError, match='Missing key.*"bias"'):
        BatchNorm(3, 4).load_state_dict(nn.BatchNorm2d(3, bias=False).state_dict())
    with pytest.raises(RuntimeError, match='Unexpected key.*"bias"'):
        nn.BatchNorm2d(3, bias=False).load_state_dict(BatchNorm(3, 4).state_dict())


def test_reset_running_stats_and_parameters():
    bn = BatchNorm(3, 2)
    with torch.no_grad():
        bn.gamma.fill_(5)
    bn(torch.randn(6, 3) + 4)
    bn.reset_running_stats()
    assert torch.equal(bn.running_mean, torch.zeros(3)) and bn.num_batches_tracked.item() == 0
    assert torch.equal(bn.gamma, torch.full((3,), 5.0))
    bn.reset_parameters()
    assert torch.equal(bn.gamma, torch.ones(3)) and torch.equal(bn.beta, torch.zeros(3))
    BatchNorm(3, 2, bias=False).reset_parameters()  # no beta to reset: no error
    BatchNorm(3, 2, affine=False, track_running_stats=False).reset_parameters()


def test_extra_repr_is_informative():
    text = repr(nn.Sequential(BatchNorm(6, 4, momentum=None)))
    assert "BatchNorm(6, num_dims=4" in text and "momentum=None" in text
    assert "bias=True" in text and "track_running_stats=True" in text


@pytest.mark.parametrize("num_dims, shape, message", [
    (4, (8, 6), r"BatchNorm\(num_dims=4\) expects a 4-D input \(N, C, H, W\), got shape \(8, 6\)"),
    (2, (8, 6, 3, 3), r"expects a 2-D input \(N, C\)"),
    (2, (8, 6, 3), r"expects a 2-D input \(N, C\)"),  # BatchNorm1d takes both; we say which
    (3, (8, 6), r"expects a 3-D input \(N, C, L\)"),
    (5, (8, 6, 3, 3), r"expects a 5-D input \(N, C, D, H, W\)"),
    (2, (6,), r"expects a 2-D input \(N, C\)"),
    (4, (8, 5, 3, 3), "got 5 channels"),
    (3, (8, 5, 3), "got 5 channels"),
])
def test_bad_input_gives_clear_error(num_dims, shape, message):
    bn = BatchNorm(6, num_dims)
    with pytest.raises(ValueError, match=message):
        bn(torch.randn(shape))


def test_single_example_is_fine_in_eval_mode():
    bn = BatchNorm(6, 2).eval()
    assert bn(torch.randn(1, 6)).shape == (1, 6)


@pytest.mark.parametrize("kwargs, message", [
    *[({"num_dims": d}, "num_dims must be 2 \\(N, C\\), 3 \\(N, C, L\\), 4") for d in
      (0, 1, 6, True, 4.0, "4", None, [4])],
    *[({"num_features": n}, "num_features must be a positive integer") for n in
      (0, -3, 2.0, True, False, "3", None)],
    *[({"eps": e}, "eps must be positive") for e in (0, 0.0, -1e-5, math.nan, math.inf, -math.inf)],
    *[({"momentum": m}, "momentum must be in \\[0, 1\\] or None") for m in
      (-0.1, 1.5, math.nan, math.inf)],
], ids=repr)
def test_bad_arguments_give_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchNorm(**{"num_features": 3, "num_dims": 2, **kwargs})


@pytest.mark.parametrize("kwargs", [{"eps": 1e-3}, {"momentum": 0}, {"momentum": 1},
                                    {"momentum": None}, {"num_features": 1}])
def test_boundary_arguments_are_accepted(kwargs):
    BatchNorm(**{"num_features": 3, "num_dims": 2, **kwargs})


def test_flatten_layer():
    assert FlattenLayer()(torch.zeros(4, 3, 2, 2)).shape == (4, 12)


# ---------------------------------------------------------------- mistakes students make (issue 19)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_statistics_are_computed_in_float32_like_pytorch(dtype):
    # |x - mean| > 256 overflows a float16 square (65504 at most): the statistics must be float32
    torch.manual_seed(0)
    X = (torch.randn(16, C, 3, 3) * 400 + 50).to(dtype)
    ours, ref = BatchNorm(C, 4), nn.BatchNorm2d(C)
    Y, Y_ref = ours(X), ref(X)
    assert Y.dtype == dtype and Y_ref.dtype == dtype  # output in the input's dtype, as nn
    assert ours.running_var.dtype == torch.float32  # the buffers stay float32, as nn's
    assert torch.isfinite(ours.running_var).all()
    torch.testing.assert_close(Y.float(), Y_ref.float(), rtol=0, atol=2e-2)
    torch.testing.assert_close(ours.running_var, ref.running_var, rtol=1e-3, atol=0)
    torch.testing.assert_close(ours.running_mean, ref.running_mean, rtol=1e-3, atol=1e-3)
    assert Y.float().std() > 0.5  # not the all-zero output of a float16 variance of inf
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(X).float(), ref(X).float(), rtol=0, atol=2e-2)


def test_half_precision_gradients_flow_in_the_input_dtype():
    X = (torch.randn(8, C) * 300).half().requires_grad_()
    bn = BatchNorm(C, 2)
    bn(X).float().pow(2).sum().backward()
    assert X.grad.dtype == torch.float16 and torch.isfinite(X.grad).all()
    assert bn.weight.grad.dtype == torch.float32 and torch.isfinite(bn.weight.grad).all()


def test_cpu_autocast_conv_then_batch_norm_matches_pytorch():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, C, 3)
    with torch.no_grad():
        conv.weight.mul_(200)  # conv outputs far from their mean, as after a large learning rate
    ours, ref = BatchNorm(C, 4), nn.BatchNorm2d(C)
    X = torch.randn(8, 1, 6, 6)
    with torch.autocast("cpu", dtype=torch.float16):
        H = conv(X)
        Y, Y_ref = ours(H), ref(H)
    assert H.dtype == Y.dtype == Y_ref.dtype == torch.float16
    assert torch.isfinite(ours.running_var).all() and Y.float().abs().max() > 0.5
    torch.testing.assert_close(Y.float(), Y_ref.float(), rtol=0, atol=2e-2)
    torch.testing.assert_close(ours.running_var, ref.running_var, rtol=1e-3, atol=0)


@pytest.mark.parametrize("make_input", [
    lambda: torch.ones(4, C, dtype=torch.long),
    lambda: torch.ones(4, C, dtype=torch.bool),
    lambda: torch.ones(4, C, dtype=torch.uint8),
    lambda: torch.randn(4, C, dtype=torch.complex64),
], ids=["int64", "bool", "uint8", "complex64"])
@pytest.mark.parametrize("mode", ["train", "eval", "no running stats"])
def test_non_float_input_is_rejected_like_pytorch(make_input, mode):
    ours = BatchNorm(C, 2, track_running_stats=mode != "no running stats").train(mode == "train")
    ref = nn.BatchNorm1d(C, track_running_stats=mode != "no running stats").train(mode == "train")
    with pytest.raises(RuntimeError):
        ref(make_input())
    with pytest.raises(TypeError, match=r"floating-point input, got dtype torch\.\w+.*X\.float\(\)"):
        ours(make_input())


def test_a_float64_input_into_a_float32_layer_is_rejected_like_pytorch():
    X = torch.randn(4, C, dtype=F64)
    with pytest.raises(RuntimeError):
        nn.BatchNorm1d(C)(X)
    with pytest.raises(TypeError, match=r"float32 but the input is torch.float64.*X\.to\(torch\.float32\)"):
        BatchNorm(C, 2)(X)
    with pytest.raises(TypeError, match=r"float16 but the input is torch.float32"):
        BatchNorm(C, 2).half()(torch.randn(4, C))
    BatchNorm(C, 2, affine=False, track_running_stats=False)(X)  # nothing to clash with: fine, as nn
    assert BatchNorm(C, 2)(X.half()).dtype == torch.float16  # mixed precision is allowed, as nn


def test_non_tensor_input_is_rejected_clearly():
    with pytest.raises(TypeError, match="expects a torch.Tensor, got ndarray"):
        BatchNorm(C, 2)(torch.randn(4, C).numpy())


@pytest.mark.parametrize("num_dims", [2, 4])
def test_track_running_stats_turned_off_later_behaves_like_pytorch(num_dims):
    # nn: in training the buffers stop moving; in eval mode they are still used
    torch.manual_seed(0)
    ours, ref = _pair(num_dims)
    _check_same(ours, ref, torch.randn(SHAPES[num_dims], dtype=F64) * 3 + 2)
    ours.track_running_stats = ref.track_running_stats = False
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    _check_same(ours, ref, torch.randn(SHAPES[num_dims], dtype=F64) * 3 + 2)
    for key, value in before.items():
        assert torch.equal(ours.state_dict()[key], value), key
    ours.eval()
    ref.eval()
    _check_same(ours, ref, torch.randn(SHAPES[num_dims], dtype=F64) * 3 + 2)


def test_vmap_in_training_explains_what_to_do():
    from torch.func import vmap

    X = torch.randn(5, 4, C)
    with pytest.raises(RuntimeError, match="track_running_stats"):
        vmap(nn.BatchNorm1d(C))(X)
    with pytest.raises(RuntimeError, match=r"vmap.*track_running_stats = False.*\.eval\(\)"):
        vmap(BatchNorm(C, 2))(X)
    ours, ref = BatchNorm(C, 2), nn.BatchNorm1d(C)
    ours.track_running_stats = False  # what the message advises: now vmap works, as nn's does
    torch.func.replace_all_batch_norm_modules_(ref)
    torch.testing.assert_close(vmap(ours)(X), vmap(ref)(X))
    torch.testing.assert_close(vmap(BatchNorm(C, 2).eval())(X), vmap(nn.BatchNorm1d(C).eval())(X))


def test_a_state_dict_without_num_batches_tracked_loads_like_pytorch():
    trained = BatchNorm(C, 2)
    trained(torch.randn(6, C) * 2 + 1)
    old = {k: v for k, v in trained.state_dict().items() if k != "num_batches_tracked"}  # no version
    for layer in (BatchNorm(C, 2), nn.BatchNorm1d(C)):
        layer.load_state_dict(old)
        assert layer.num_batches_tracked.item() == 0
        torch.testing.assert_close(layer.running_var, trained.running_var)
    net = nn.Sequential(nn.Linear(2, C), BatchNorm(C, 2))  # a prefix, as inside a network
    net.load_state_dict({"0.weight": torch.zeros(C, 2), "0.bias": torch.zeros(C),
                         **{f"1.{k}": v for k, v in old.items()}})
    versioned = nn.BatchNorm1d(C).state_dict()  # version 2 says the key must be there, as in nn
    del versioned["num_batches_tracked"]
    for layer in (BatchNorm(C, 2), nn.BatchNorm1d(C)):
        with pytest.raises(RuntimeError, match="Missing key.*num_batches_tracked"):
            layer.load_state_dict(versioned)


def test_one_example_in_training_mentions_drop_last():
    with pytest.raises(ValueError, match="drop_last=True"):
        BatchNorm(C, 2)(torch.randn(1, C))


@pytest.mark.parametrize("kwargs, message", [
    ({"eps": "1e-5"}, r"eps must be a number \(e\.g\. eps=1e-5\), got '1e-5' of type str"),
    ({"momentum": "0.1"}, r"momentum must be a number \(e\.g\. momentum=0\.1\), got '0\.1'"),
    ({"eps": True}, "eps must be a number"),
    ({"momentum": True}, "momentum must be a number"),
    ({"momentum": False}, "momentum must be a number"),
    ({"eps": [1e-5]}, "eps must be a number"),
    ({"num_features": np.float64(3)}, "num_features must be a positive integer"),
    ({"num_features": np.int64(0)}, "num_features must be a positive integer"),
], ids=repr)
def test_arguments_of_the_wrong_type_are_rejected_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchNorm(**{"num_features": 3, "num_dims": 2, **kwargs})


def test_numpy_integers_and_numbers_are_accepted_like_pytorch():
    bn = BatchNorm(np.int64(3), 2, eps=np.float32(1e-3), momentum=np.float64(0.2))
    assert bn.num_features == 3 and type(bn.num_features) is int and bn.weight.shape == (3,)
    assert nn.BatchNorm1d(np.int64(3)).weight.shape == (3,)
    assert bn.eps == pytest.approx(1e-3) and bn.momentum == pytest.approx(0.2)
    bn(torch.randn(4, 3))


def test_update_running_stats_and_scale_shift_are_batch_norm_s_tail():
    # the two steps SyncBatchNorm shares with batch_norm (chapter 9 passes global moments)
    from d2lzh_pytorch import scale_shift, update_running_stats
    X = torch.randn(6, 3, dtype=torch.float64) * 2 + 1
    mean, var = X.mean(0), X.var(0, correction=0)
    running_mean, running_var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    count = torch.tensor(0)
    update_running_stats(running_mean, running_var, count, mean, var, 6, momentum=None)
    assert count.item() == 1
    torch.testing.assert_close(running_mean, mean)
    torch.testing.assert_close(running_var, X.var(0, correction=1))
    update_running_stats(running_mean, running_var, count, mean, var, 0, momentum=0.5)  # empty batch
    assert count.item() == 2
    torch.testing.assert_close(running_mean, mean)
    gamma, beta = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    Y = scale_shift(X - mean, var, gamma, beta, eps=1e-5)
    torch.testing.assert_close(Y, torch.nn.functional.batch_norm(X, None, None, gamma, beta, True, 0.1, 1e-5))
    torch.testing.assert_close(scale_shift(X - mean, var, None, None, eps=0.0) * var.sqrt(), X - mean)
