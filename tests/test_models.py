"""The shared models and loops: LeNet's options, train-mode accuracy, the step loop."""

import functools

import pytest
import torch
from torch import nn

import d2lzh_pytorch as d2l


def layer_types(net):
    return [type(m).__name__ for m in net]


def test_lenet_without_normalisation_is_the_classic_layout():
    net = d2l.lenet()
    assert layer_types(net) == ["Conv2d", "Sigmoid", "MaxPool2d", "Conv2d", "Sigmoid", "MaxPool2d",
                                "Flatten", "Linear", "Sigmoid", "Linear", "Sigmoid", "Linear"]
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("placement, first_block", [("before", ["Conv2d", "BatchNorm2d", "ReLU"]),
                                                     ("after", ["Conv2d", "ReLU", "BatchNorm2d"])])
def test_lenet_places_the_norm_layer_around_the_activation(placement, first_block):
    net = d2l.lenet(nn.BatchNorm2d, nn.BatchNorm1d, act=nn.ReLU, placement=placement)
    assert layer_types(net)[:3] == first_block
    norms = [m for m in net if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert [m.num_features for m in norms] == [6, 16, 120, 84]
    assert net(torch.randn(4, 1, 28, 28)).shape == (4, 10)


def test_lenet_with_the_from_scratch_layer():
    net = d2l.lenet(functools.partial(d2l.BatchNorm, num_dims=4),
                    functools.partial(d2l.BatchNorm, num_dims=2))
    assert sum(isinstance(m, d2l.BatchNorm) for m in net) == 4
    assert net(torch.randn(4, 1, 28, 28)).shape == (4, 10)


def test_lenet_rejects_an_unknown_placement():
    with pytest.raises(ValueError, match="placement must be 'before' or 'after'"):
        d2l.lenet(nn.BatchNorm2d, nn.BatchNorm1d, placement="inside")


def small_batches(batch_size, n=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (n,), generator=gen)
    return d2l.TensorBatches(images, labels, batch_size, drop_last=True)


def trained_bn_lenet():
    torch.manual_seed(0)
    net = d2l.lenet(nn.BatchNorm2d, nn.BatchNorm1d)
    for X, _ in small_batches(16):  # move the running statistics away from 0 / 1
        net(X * 3 + 1)
    return net.eval()


def test_accuracy_with_batch_stats_leaves_the_network_untouched():
    net = trained_bn_lenet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    acc = d2l.accuracy_with_batch_stats(small_batches(8), net)
    assert 0.0 <= acc <= 1.0
    assert not net.training
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_accuracy_with_batch_stats_uses_the_batch_statistics():
    net = trained_bn_lenet()
    batches = small_batches(8)
    X, _ = next(iter(batches))
    copy = net.train()
    with torch.no_grad():
        in_train = copy(X).argmax(1)
    net.eval()
    with torch.no_grad():
        in_eval = net(X).argmax(1)
    assert not torch.equal(in_train, in_eval)  # the two modes really differ on this net
    # the helper agrees with train mode, batch by batch
    acc = d2l.accuracy_with_batch_stats(batches, net)
    expected, total = 0, 0
    for Xb, yb in batches:
        model = trained_bn_lenet().train()
        with torch.no_grad():
            expected += (model(Xb).argmax(1) == yb).sum().item()
        total += len(yb)
    assert acc == pytest.approx(expected / total)


def test_accuracy_with_batch_stats_rejects_single_example_batches():
    one = d2l.TensorBatches(torch.zeros(3, 1, 28, 28, dtype=torch.uint8), torch.zeros(3, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="at least 2"):
        d2l.accuracy_with_batch_stats(one, trained_bn_lenet())


def test_train_by_steps_runs_exactly_the_steps_across_passes():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    batches = small_batches(16)  # 4 batches a pass
    seen = []
    losses = d2l.train_by_steps(net, batches, torch.optim.SGD(net.parameters(), lr=0.1), 10,
                                on_step=lambda step, loss: seen.append((step, loss.requires_grad)))
    assert len(losses) == 10 and all(isinstance(v, float) for v in losses)
    assert seen == [(k, False) for k in range(1, 11)]


def test_train_by_steps_updates_the_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    before = net[1].weight.detach().clone()
    d2l.train_by_steps(net, small_batches(16), torch.optim.SGD(net.parameters(), lr=0.1), 3)
    assert not torch.equal(before, net[1].weight)


def test_mlp_builds_the_layers_in_order_with_the_same_weights_as_by_hand():
    torch.manual_seed(0)
    net = d2l.mlp([100, 50], norm=nn.BatchNorm1d, act=nn.Sigmoid, first=[nn.Flatten()])
    torch.manual_seed(0)
    by_hand = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.BatchNorm1d(100), nn.Sigmoid(),
                            nn.Linear(100, 50), nn.BatchNorm1d(50), nn.Sigmoid(), nn.Linear(50, 10))
    assert layer_types(net) == layer_types(by_hand)
    for (name, a), (_, b) in zip(net.state_dict().items(), by_hand.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert net(torch.zeros(4, 1, 28, 28)).shape == (4, 10)


def test_mlp_options():
    net = d2l.mlp([8], num_inputs=4, num_outputs=2, bias=False)
    assert layer_types(net) == ["Linear", "ReLU", "Linear"]
    assert net[0].bias is None and net[2].bias is not None  # the output layer keeps its bias
    assert layer_types(d2l.mlp([], num_inputs=4)) == ["Linear"]
    with pytest.raises(ValueError, match="every width in hidden must be a positive integer"):
        d2l.mlp([100, 0])
    with pytest.raises(ValueError, match="num_inputs"):
        d2l.mlp([10], num_inputs=2.5)
