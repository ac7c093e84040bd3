"""The from-scratch BatchNorm matches nn.BatchNorm1d/2d in every respect we teach."""

import pytest
import torch
from torch import nn

from d2lzh_pytorch import BatchNorm, FlattenLayer, batch_norm

SHAPES = {2: (8, 5), 4: (6, 5, 4, 3)}
REFERENCE = {2: nn.BatchNorm1d, 4: nn.BatchNorm2d}


def _pair(num_dims, dtype=torch.float32, **kwargs):
    ours = BatchNorm(5, num_dims, **kwargs).to(dtype)
    ref = REFERENCE[num_dims](5, **kwargs).to(dtype)
    if kwargs.get("affine", True):
        with torch.no_grad():  # non-trivial gamma/beta so that they matter
            g, b = torch.randn(5, dtype=dtype), torch.randn(5, dtype=dtype)
            ours.gamma.copy_(g)
            ours.beta.copy_(b)
            ref.weight.copy_(g)
            ref.bias.copy_(b)
    return ours, ref


def _check_same(ours, ref, X, atol=1e-5):
    Xa = X.clone().requires_grad_()
    Xb = X.clone().requires_grad_()
    ya, yb = ours(Xa), ref(Xb)
    torch.testing.assert_close(ya, yb, atol=atol, rtol=1e-4)
    upstream = torch.randn_like(ya)
    ya.backward(upstream)
    yb.backward(upstream)
    torch.testing.assert_close(Xa.grad, Xb.grad, atol=atol, rtol=1e-4)
    if ours.affine:
        torch.testing.assert_close(ours.gamma.grad, ref.weight.grad, atol=atol, rtol=1e-4)
        torch.testing.assert_close(ours.beta.grad, ref.bias.grad, atol=atol, rtol=1e-4)
        ours.gamma.grad = ours.beta.grad = ref.weight.grad = ref.bias.grad = None
    if ours.track_running_stats:
        torch.testing.assert_close(ours.running_mean, ref.running_mean, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(ours.running_var, ref.running_var, atol=1e-6, rtol=1e-5)
        assert ours.num_batches_tracked.item() == ref.num_batches_tracked.item()


@pytest.mark.parametrize("num_dims", [2, 4])
@pytest.mark.parametrize("kwargs", [
    {},
    {"momentum": 0.3},
    {"momentum": None},
    {"momentum": 1.0},
    {"eps": 1e-2},
    {"affine": False},
    {"track_running_stats": False},
    {"affine": False, "track_running_stats": False, "momentum": None},
])
def test_matches_pytorch_in_train_and_eval(num_dims, kwargs):
    torch.manual_seed(0)
    ours, ref = _pair(num_dims, **kwargs)
    for _ in range(4):  # several batches: running statistics accumulate
        X = torch.randn(SHAPES[num_dims]) * 3 + 2
        _check_same(ours, ref, X)
    ours.eval()
    ref.eval()
    for _ in range(2):
        _check_same(ours, ref, torch.randn(SHAPES[num_dims]) * 3 + 2)


def test_defaults_match_pytorch():
    ours, ref = BatchNorm(7, 4), nn.BatchNorm2d(7)
    assert (ours.eps, ours.momentum, ours.affine, ours.track_running_stats) == (
        ref.eps, ref.momentum, ref.affine, ref.track_running_stats)
    assert torch.equal(ours.running_var, ref.running_var)  # starts at 1, not 0
    assert torch.equal(ours.running_mean, ref.running_mean)


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


@pytest.mark.parametrize("num_dims", [2, 4])
def test_gradcheck_float64(num_dims):
    torch.manual_seed(3)
    shape = (4, 3) if num_dims == 2 else (3, 3, 2, 2)
    X = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    gamma = torch.randn(3, dtype=torch.float64, requires_grad=True)
    beta = torch.randn(3, dtype=torch.float64, requires_grad=True)

    def f(X, gamma, beta):
        return batch_norm(X, gamma, beta, None, None, None, True, 0.1, 1e-5)

    assert torch.autograd.gradcheck(f, (X, gamma, beta))
    assert torch.autograd.gradgradcheck(f, (X, gamma, beta))


def test_buffers_follow_state_dict_and_dtype():
    bn = BatchNorm(3, 2)
    bn(torch.randn(6, 3))
    names = set(bn.state_dict())
    assert names == {"gamma", "beta", "running_mean", "running_var", "num_batches_tracked"}
    assert {n for n, _ in bn.named_buffers()} == {"running_mean", "running_var", "num_batches_tracked"}
    clone = BatchNorm(3, 2)
    clone.load_state_dict(bn.state_dict())
    assert torch.equal(clone.running_var, bn.running_var)
    bn64 = bn.double()
    assert bn64.running_mean.dtype == torch.float64 and bn64.gamma.dtype == torch.float64
    bn64(torch.randn(4, 3, dtype=torch.float64))  # no dtype clash after .double()


def test_state_dict_loads_into_pytorch_after_renaming():
    bn = BatchNorm(3, 4)
    bn(torch.randn(4, 3, 2, 2))
    renamed = {{"gamma": "weight", "beta": "bias"}.get(k, k): v for k, v in bn.state_dict().items()}
    ref = nn.BatchNorm2d(3)
    ref.load_state_dict(renamed)
    bn.eval()
    ref.eval()
    X = torch.randn(2, 3, 2, 2)
    torch.testing.assert_close(bn(X), ref(X))


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


def test_extra_repr_is_informative():
    text = repr(nn.Sequential(BatchNorm(6, 4, momentum=None)))
    assert "BatchNorm(6, num_dims=4" in text and "momentum=None" in text


@pytest.mark.parametrize("num_dims, shape, message", [
    (4, (8, 6), "expects a 4-D input"),
    (2, (8, 6, 3, 3), "expects a 2-D input"),
    (4, (8, 5, 3, 3), "got 5 channels"),
    (2, (1, 6), "more than one value per channel"),
    (4, (1, 6, 1, 1), "more than one value per channel"),
])
def test_bad_input_gives_clear_error(num_dims, shape, message):
    bn = BatchNorm(6, num_dims)
    with pytest.raises(ValueError, match=message):
        bn(torch.randn(shape))


def test_single_example_is_fine_in_eval_mode():
    bn = BatchNorm(6, 2).eval()
    assert bn(torch.randn(1, 6)).shape == (1, 6)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_features": 3, "num_dims": 3}, "num_dims must be 2"),
    ({"num_features": 0, "num_dims": 2}, "num_features must be a positive integer"),
    ({"num_features": 3, "num_dims": 2, "momentum": 1.5}, "momentum must be in"),
    ({"num_features": 3, "num_dims": 2, "eps": 0}, "eps must be positive"),
])
def test_bad_arguments_give_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchNorm(**kwargs)


def test_flatten_layer():
    assert FlattenLayer()(torch.zeros(4, 3, 2, 2)).shape == (4, 12)
