"""Chapter 10's diagnostics: precise BN, freezing BN, the training monitor and its plots."""

import functools
import math

import matplotlib
import pytest
import torch
from torch import nn

import d2lzh_pytorch as d2l

matplotlib.use("Agg")


def batches(num=4, size=16, features=5, seed=0, shift=0.0):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, features, generator=gen) * 2 + 3 + shift, torch.zeros(size, dtype=torch.long))
            for _ in range(num)]


def small_net(bn):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 4), bn(4), nn.ReLU(), nn.Linear(4, 2))


BNS = [nn.BatchNorm1d, functools.partial(d2l.BatchNorm, num_dims=2)]


@pytest.mark.parametrize("bn", BNS)
def test_precise_bn_gives_the_equal_weight_average_of_the_batch_statistics(bn):
    net = small_net(bn)
    data = batches()
    fixed = d2l.precise_bn(net, data)
    with torch.no_grad():
        hidden = [net[0](X) for X, _ in data]
    expected_mean = torch.stack([h.mean(0) for h in hidden]).mean(0)
    expected_var = torch.stack([h.var(0) for h in hidden]).mean(0)  # unbiased, as BN keeps it
    torch.testing.assert_close(fixed[1].running_mean, expected_mean)
    torch.testing.assert_close(fixed[1].running_var, expected_var)


@pytest.mark.parametrize("bn", BNS)
def test_precise_bn_leaves_the_network_and_the_parameters_alone(bn):
    net = small_net(bn).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fixed = d2l.precise_bn(net, batches())
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert fixed is not net and fixed.training and fixed[1].training
    assert fixed[1].momentum == 0.1  # restored
    for name, p in fixed.named_parameters():
        assert torch.equal(p, before[name]), name
    assert not d2l.precise_bn(net.eval(), batches()).training  # the copy keeps the mode


def test_precise_bn_agrees_with_torch_update_bn_on_nn_batchnorm():
    net = small_net(nn.BatchNorm1d)
    data = batches()
    ours = d2l.precise_bn(net, data)
    theirs = small_net(nn.BatchNorm1d)
    torch.optim.swa_utils.update_bn(data, theirs)
    torch.testing.assert_close(ours[1].running_mean, theirs[1].running_mean)
    torch.testing.assert_close(ours[1].running_var, theirs[1].running_var)


def test_precise_bn_keeps_dropout_off_and_can_stop_early():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))
    data = batches()
    first_two = d2l.precise_bn(net, data, num_batches=2)
    with torch.no_grad():
        hidden = [net[0](X) for X, _ in data[:2]]  # no dropout noise
    torch.testing.assert_close(first_two[2].running_mean, torch.stack([h.mean(0) for h in hidden]).mean(0))


def test_precise_bn_rejects_a_network_without_bn_and_empty_data():
    with pytest.raises(ValueError, match="no BN layer"):
        d2l.precise_bn(nn.Sequential(nn.Linear(5, 2)), batches())
    with pytest.raises(ValueError, match="no BN layer"):
        d2l.precise_bn(nn.Sequential(nn.BatchNorm1d(5, track_running_stats=False)), batches())
    with pytest.raises(ValueError, match="no batches"):
        d2l.precise_bn(small_net(nn.BatchNorm1d), [])


def test_bn_layers_finds_both_implementations_and_nothing_else():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), d2l.BatchNorm(2, 4), nn.LayerNorm(2),
                        nn.BatchNorm2d(2, track_running_stats=False))
    assert d2l.bn_layers(net) == [net[1], net[2]]


@pytest.mark.parametrize("bn", BNS)
def test_freeze_bn_stops_the_running_statistics_even_after_train(bn):
    net = small_net(bn)
    handles = d2l.freeze_bn(net)
    net.train()
    before = net[1].running_mean.clone()
    net(batches()[0][0])
    assert torch.equal(net[1].running_mean, before)
    assert not net[1].weight.requires_grad and net[0].weight.requires_grad
    handles.remove()
    net.train()
    net(batches()[0][0])
    assert not torch.equal(net[1].running_mean, before)


def test_requires_grad_false_alone_does_not_stop_the_running_statistics():
    net = small_net(nn.BatchNorm1d)
    for p in net.parameters():
        p.requires_grad_(False)
    before = net[1].running_mean.clone()
    net.train()(batches()[0][0])
    assert not torch.equal(net[1].running_mean, before)


def test_freeze_bn_rejects_a_network_without_bn():
    with pytest.raises(ValueError, match="no BN layer"):
        d2l.freeze_bn(nn.Sequential(nn.Linear(2, 2)))


def test_saturated_fraction():
    y = torch.tensor([[0.99, -0.98, 0.5, 0.0]])
    assert d2l.saturated_fraction(nn.Tanh(), y) == 0.5
    assert d2l.saturated_fraction(nn.Sigmoid(), torch.tensor([0.01, 0.5, 0.99, 0.2])) == 0.5
    relu_out = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])  # unit 0 is zero for every example
    assert d2l.saturated_fraction(nn.ReLU(), relu_out) == pytest.approx(1 / 3)
    assert math.isnan(d2l.saturated_fraction(nn.Identity(), y))


def train_monitored(steps=7, every=3, lr=0.1):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    monitor = d2l.TrainingMonitor(net, every=every)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    monitor.attach()
    expected_ratio = None
    for step in range(steps):
        X, _ = batches(1, seed=step)[0]
        y = torch.arange(len(X)) % 2
        before = net[0].weight.detach().clone()
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        optimizer.step()
        if step == 3:  # the second recorded step (steps 1, 4, 7 with every=3)
            expected_ratio = math.log10((net[0].weight.detach() - before).norm() / before.norm())
        monitor.after_step()
    monitor.detach()
    return net, monitor, expected_ratio


def test_monitor_records_every_k_steps_and_the_update_ratio():
    net, monitor, expected_ratio = train_monitored()
    acts, updates = monitor.activation_frame(), monitor.update_frame()
    assert sorted(set(acts.step)) == [1, 4, 7] and sorted(set(updates.step)) == [1, 4, 7]
    assert list(acts.layer.unique()) == ["2: Tanh", "4: ReLU"]
    assert set(updates.param) == {"0.weight", "2.weight", "4.weight"}  # weights only, no biases
    row = updates[(updates.step == 4) & (updates.param == "0.weight")].iloc[0]
    assert row.update_ratio == pytest.approx(expected_ratio, rel=1e-5)
    assert acts.notna().all().all() and (acts.grad_std > 0).all()
    assert set(monitor.samples[(4, "2: Tanh")]) == {"activation", "gradient"}


def test_monitor_activation_statistics_are_those_of_the_layer_output():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh())
    monitor = d2l.TrainingMonitor(net, every=1)
    monitor.attach()
    X = batches(1)[0][0]
    out = net(X)
    out.sum().backward()
    monitor.after_step()
    monitor.detach()
    row = monitor.activation_frame().iloc[0]
    assert row.act_mean == pytest.approx(out.mean().item()) and row.act_std == pytest.approx(out.std().item())
    assert row.grad_mean == pytest.approx(1.0) and row.grad_std == pytest.approx(0.0)


def test_monitor_removes_its_hooks_and_ignores_eval_mode():
    net, monitor, _ = train_monitored(steps=3, every=3)
    assert all(not m._forward_hooks for m in net.modules())
    monitor.attach()
    monitor.step = 0
    monitor._arm()
    with torch.no_grad():
        net.eval()(batches(1)[0][0])  # evaluation does not count as a recorded step
    assert not monitor._pending
    monitor.detach()


def test_monitor_works_as_a_train_ch5_callback():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.Sigmoid(), nn.Linear(8, 2))
    data = [(X, torch.arange(len(X)) % 2) for X, _ in batches(5)]
    monitor = d2l.TrainingMonitor(net, every=2)
    d2l.train_ch5(net, data, data[:1], None, torch.optim.SGD(net.parameters(), lr=0.1), num_epochs=2,
                  verbose=False, progress=False, live_plot=False, callbacks=[monitor])
    assert sorted(set(monitor.update_frame().step)) == [1, 3, 5, 7, 9]
    assert not net[1]._forward_hooks
    ax = d2l.plot_update_ratios(monitor)
    assert len(ax.get_lines()) == 3  # two weights and the rule-of-thumb line
    ax = d2l.plot_layer_histograms(monitor, kind="gradient")
    assert len(ax.get_lines()) == 1


def test_monitor_and_plots_reject_bad_input():
    with pytest.raises(ValueError, match="every"):
        d2l.TrainingMonitor(nn.Sequential(nn.Tanh()), every=0)
    with pytest.raises(ValueError, match="no module"):
        d2l.TrainingMonitor(nn.Sequential(nn.Linear(2, 2)))
    monitor = d2l.TrainingMonitor(nn.Sequential(nn.Linear(2, 2), nn.Tanh()))
    with pytest.raises(ValueError, match="recorded nothing"):
        d2l.plot_layer_histograms(monitor)
    with pytest.raises(ValueError, match="recorded no update"):
        d2l.plot_update_ratios(monitor)
    _, trained, _ = train_monitored()
    with pytest.raises(ValueError, match="not recorded"):
        d2l.plot_layer_histograms(trained, step=2)
    with pytest.raises(ValueError, match="kind"):
        d2l.plot_layer_histograms(trained, kind="weights")


# ---------------------------------------------------------------- mistakes students make (issue 19)


@pytest.mark.parametrize("bn", BNS)
def test_precise_bn_takes_bare_input_batches_too(bn):
    net, data = small_net(bn), batches()
    with_labels = d2l.precise_bn(net, data)
    bare = d2l.precise_bn(net, [X for X, _ in data])
    torch.testing.assert_close(bare[1].running_mean, with_labels[1].running_mean)
    torch.testing.assert_close(bare[1].running_var, with_labels[1].running_var)


@pytest.mark.parametrize("num_batches", [0, -1, 1.5, True, "2"])
def test_precise_bn_refuses_a_bad_num_batches(num_batches):
    with pytest.raises(ValueError, match=r"num_batches must be a positive integer \(or None"):
        d2l.precise_bn(small_net(nn.BatchNorm1d), batches(), num_batches=num_batches)


def test_precise_bn_and_freeze_bn_say_which_layers_count_as_bn():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), d2l.Norm("batch", 2))
    with pytest.raises(ValueError, match=r"no BN layer.*d2l\.BatchNorm or nn\.BatchNorm"):
        d2l.precise_bn(net, [torch.randn(4, 1, 5, 5)])
    with pytest.raises(ValueError, match=r"no BN layer.*d2l\.BatchNorm or nn\.BatchNorm.*Norm"):
        d2l.freeze_bn(net)


def test_a_monitor_built_on_another_net_refuses_to_record_nothing():
    net, other = small_net(nn.BatchNorm1d), small_net(nn.BatchNorm1d)
    monitor = d2l.TrainingMonitor(other)
    data = batches()
    with pytest.raises(ValueError, match=r"watches a different network.*TrainingMonitor\(net\)"):
        d2l.train_ch5(net, data, data[:1], None, torch.optim.SGD(net.parameters(), lr=0.1), num_epochs=1,
                      verbose=False, progress=False, live_plot=False, callbacks=[monitor])
    part = d2l.TrainingMonitor(net[2:])  # a part of the trained net is fine
    d2l.train_ch5(net, data, data[:1], None, torch.optim.SGD(net.parameters(), lr=0.1), num_epochs=1,
                  verbose=False, progress=False, live_plot=False, callbacks=[part])
    assert len(part.activation_frame()) > 0


@pytest.mark.parametrize("max_samples", [0, -1, 2.5])
def test_monitor_refuses_a_bad_max_samples(max_samples):
    with pytest.raises(ValueError, match="max_samples must be a positive integer"):
        d2l.TrainingMonitor(nn.Sequential(nn.Tanh()), max_samples=max_samples)
