"""``group_norm_stats`` and ``Norm`` (chapter 8) match PyTorch's BN, LN, IN and GN in float64.

Outputs, input gradients and the gradients of gamma and beta are compared;
for BN also the running statistics and the eval-mode output.
"""

import numpy as np
import pytest
import torch
from torch import nn

from d2lzh_pytorch import NORM_KINDS, Norm, group_norm_stats

F64 = torch.float64
TOL = dict(rtol=1e-10, atol=1e-12)


def _reference(kind, shape, num_groups):
    C = shape[1]
    if kind == "batch":
        return {3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}[len(shape)](C)
    if kind == "layer":
        return nn.GroupNorm(1, C)
    if kind == "instance":
        return {3: nn.InstanceNorm1d, 4: nn.InstanceNorm2d, 5: nn.InstanceNorm3d}[len(shape)](C, affine=True)
    return nn.GroupNorm(num_groups, C)


def _set_affine(layer, gamma, beta):
    """Copy per-channel gamma/beta into ``layer`` (broadcast over positions for nn.LayerNorm)."""
    with torch.no_grad():
        layer.weight.copy_(gamma.reshape(-1, *[1] * (layer.weight.dim() - 1)).expand_as(layer.weight))
        layer.bias.copy_(beta.reshape(-1, *[1] * (layer.bias.dim() - 1)).expand_as(layer.bias))


def _forward_backward(layer, X, upstream):
    X = X.clone().requires_grad_()
    Y = layer(X)
    (Y * upstream).sum().backward()
    C = X.shape[1]
    return Y.detach(), X.grad, layer.weight.grad.reshape(C, -1).sum(1), layer.bias.grad.reshape(C, -1).sum(1)


def _compare(ours, ref, shape, seed=0):
    torch.manual_seed(seed)
    X = 2 + 3 * torch.randn(shape, dtype=F64)
    upstream = torch.randn(shape, dtype=F64)
    gamma, beta = torch.randn(shape[1], dtype=F64), torch.randn(shape[1], dtype=F64)
    ours, ref = ours.double(), ref.double()
    _set_affine(ours, gamma, beta)
    _set_affine(ref, gamma, beta)
    for mine, theirs, what in zip(_forward_backward(ours, X, upstream), _forward_backward(ref, X, upstream),
                                  ["output", "input grad", "gamma grad", "beta grad"], strict=True):
        torch.testing.assert_close(mine, theirs, **TOL, msg=what)
    return X


CASES = [("batch", None), ("layer", None), ("instance", None), ("group", 1), ("group", 2), ("group", 3),
         ("group", 6)]
SHAPES = [(4, 6, 5, 5), (3, 6, 7), (2, 6, 2, 3, 4)]


@pytest.mark.parametrize("kind, groups", CASES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_norm_matches_pytorch(kind, groups, shape):
    _compare(Norm(kind, shape[1], groups), _reference(kind, shape, groups), shape)


def test_layer_norm_matches_nn_layernorm_with_per_channel_affine():
    # nn.LayerNorm's affine is per element: with gamma/beta constant within each channel it is our LN,
    # and its gradients summed over each channel are ours
    shape = (4, 6, 5, 5)
    _compare(Norm("layer", 6), nn.LayerNorm(shape[1:]), shape)


def test_layer_norm_per_element_affine_is_a_different_model():
    shape = (2, 3, 2, 2)
    ours, ref = Norm("layer", 3).double(), nn.LayerNorm(shape[1:]).double()
    assert sum(p.numel() for p in ours.parameters()) == 2 * 3
    assert sum(p.numel() for p in ref.parameters()) == 2 * 3 * 2 * 2
    with torch.no_grad():
        ref.weight[0, 0, 0] = 5.0  # a scale that varies within a channel: no per-channel LN can match it
    X = torch.randn(shape, dtype=F64)
    assert not torch.allclose(ours(X), ref(X))


def test_batch_norm_running_stats_and_eval_match_pytorch():
    shape = (4, 6, 5, 5)
    ours, ref = Norm("batch", 6, momentum=0.3), nn.BatchNorm2d(6, momentum=0.3)
    X = _compare(ours, ref, shape)
    ours.double()(X)  # a second training step
    ref.double()(X)
    torch.testing.assert_close(ours.running_mean, ref.running_mean, **TOL)
    torch.testing.assert_close(ours.running_var, ref.running_var, **TOL)
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(X), ref(X), **TOL)


def test_group_norm_stats_special_cases_are_layer_instance_and_batch_norm():
    torch.manual_seed(0)
    X = torch.randn(3, 4, 5, 5, dtype=F64)
    ln, _, _ = group_norm_stats(X, 1)
    torch.testing.assert_close(ln, nn.functional.layer_norm(X, X.shape[1:]), **TOL)
    inst, _, _ = group_norm_stats(X, 4)
    torch.testing.assert_close(inst, nn.functional.instance_norm(X), **TOL)
    bn, mean, var = group_norm_stats(X, 4, over_batch=True)
    torch.testing.assert_close(bn, nn.functional.batch_norm(X, None, None, training=True), **TOL)
    torch.testing.assert_close(mean.reshape(-1), X.mean(dim=(0, 2, 3)), **TOL)
    torch.testing.assert_close(var.reshape(-1), X.var(dim=(0, 2, 3), correction=0), **TOL)


@pytest.mark.parametrize("kind", NORM_KINDS)
def test_output_of_one_example_and_batch_mates(kind):
    torch.manual_seed(0)
    layer = Norm(kind, 4, 2 if kind == "group" else None).double()
    x0 = torch.randn(1, 4, 3, 3, dtype=F64)
    a = torch.cat([x0, torch.randn(5, 4, 3, 3, dtype=F64)])
    b = torch.cat([x0, 5 + torch.randn(5, 4, 3, 3, dtype=F64)])
    with torch.no_grad():
        same_train = torch.allclose(layer(a)[0], layer(b)[0])
        layer.eval()
        assert torch.allclose(layer(a)[0], layer(b)[0])  # eval mode: never depends on batch-mates
    assert same_train == (kind != "batch")
    assert [name for name, _ in layer.named_buffers()] == (
        ["running_mean", "running_var"] if kind == "batch" else [])


@pytest.mark.parametrize("kind", ["layer", "instance", "group"])
def test_only_batch_norm_differs_between_train_and_eval(kind):
    layer = Norm(kind, 4, 2 if kind == "group" else None)
    X = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(layer.train()(X), layer.eval()(X))


def test_batch_norm_of_one_example_in_training_is_instance_norm():
    X = torch.randn(1, 4, 3, 3, dtype=F64)
    torch.testing.assert_close(Norm("batch", 4).double()(X), Norm("instance", 4).double()(X), **TOL)


@pytest.mark.parametrize("make, message", [
    (lambda: Norm("group", 6, num_groups=4), "divides"),
    (lambda: Norm("group", 6), "num_groups is needed"),
    (lambda: Norm("layer", 6, num_groups=2), "only for it"),
    (lambda: Norm("batchnorm", 6), "kind must be one of"),
    (lambda: Norm("batch", 0), "num_channels"),
    (lambda: Norm("group", 6, num_groups=True), "divides"),
])
def test_bad_arguments_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_wrong_input_shape_is_rejected():
    with pytest.raises(ValueError, match=r"expects an input \(N, 6, \.\.\.\)"):
        Norm("layer", 6)(torch.randn(2, 5, 3, 3))
    with pytest.raises(ValueError, match=r"\(N, C, \.\.\.\)"):
        group_norm_stats(torch.randn(6), 1)
    with pytest.raises(ValueError, match="divides"):
        group_norm_stats(torch.randn(2, 6, 3), 4)


def test_a_statistic_of_one_value_is_rejected():
    with pytest.raises(ValueError, match="at least 2 values"):
        Norm("instance", 3)(torch.randn(2, 3, 1, 1))
    with pytest.raises(ValueError, match="at least 2 values"):
        Norm("batch", 3)(torch.randn(1, 3))
    Norm("batch", 3).eval()(torch.randn(1, 3))  # prediction with running statistics needs no batch


# ---------------------------------------------------------------- mistakes students make (issue 19)


@pytest.mark.parametrize("kwargs, message", [
    ({"momentum": 1.5}, r"momentum must be in \[0, 1\]"),
    ({"momentum": -0.1}, r"momentum must be in \[0, 1\]"),
    ({"momentum": "0.1"}, "momentum must be a number"),
    ({"momentum": True}, "momentum must be a number"),
    ({"eps": -1}, "eps must be positive and finite"),
    ({"eps": 0}, "eps must be positive and finite"),
    ({"eps": float("nan")}, "eps must be positive and finite"),
    ({"eps": "1e-5"}, "eps must be a number"),
    ({"momentum": None}, r"momentum=None .* not supported by this layer.*d2l\.BatchNorm"),
], ids=repr)
@pytest.mark.parametrize("kind", NORM_KINDS)
def test_eps_and_momentum_are_checked_like_batch_norm(kind, kwargs, message):
    groups = 2 if kind == "group" else None
    with pytest.raises(ValueError, match=message):
        Norm(kind, 4, groups, **kwargs)


@pytest.mark.parametrize("kind", NORM_KINDS)
@pytest.mark.parametrize("shape", [(0, 4, 3, 3), (0, 4, 5), (0, 4)])
def test_an_empty_batch_gives_an_empty_output_like_pytorch(kind, shape):
    if kind == "instance" and len(shape) == 2:
        pytest.skip("instance norm of an (N, C) input has one value per statistic, empty or not")
    layer = Norm(kind, 4, 2 if kind == "group" else None).double()
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    for mode in ("train", "eval"):
        X = torch.randn(shape, dtype=F64, requires_grad=True)
        Y = layer.train(mode == "train")(X)
        assert Y.shape == shape
        Y.sum().backward()
        assert X.grad.shape == shape
        if len(shape) > 2 and kind != "instance":  # PyTorch's layer gives the same empty output
            # (nn.InstanceNorm2d(affine=True) itself fails on an empty batch, an IndexError in torch 2.14)
            assert _reference(kind, shape, 2).double().train(mode == "train")(X.detach()).shape == shape
    for key, value in before.items():  # an empty batch leaves the running statistics alone
        assert torch.equal(layer.state_dict()[key], value), key


def test_numpy_integers_are_accepted_for_channels_and_groups_like_pytorch():
    layer = Norm("group", np.int64(6), num_groups=np.int64(3))
    assert (layer.num_channels, layer.num_groups) == (6, 3)
    assert type(layer.num_channels) is int and type(layer.num_groups) is int
    assert nn.GroupNorm(np.int64(3), np.int64(6)).num_groups == 3
    layer(torch.randn(2, 6, 2, 2))
