"""train_ch5 and evaluate_accuracy on small subsets."""

import re

import pytest
import torch
from torch import nn

import d2lzh_pytorch as d2l


@pytest.fixture(scope="module")
def small_data():
    return d2l.load_data_fashion_mnist(100, num_train=600, num_test=300)


def _mlp(bn=True):
    layers = [nn.Flatten(), nn.Linear(784, 32)]
    if bn:
        layers.append(d2l.BatchNorm(32, 2))
    layers += [nn.ReLU(), nn.Linear(32, 10)]
    return nn.Sequential(*layers)


def test_train_ch5_learns_prints_and_returns_history(small_data, capsys):
    train_iter, test_iter = small_data
    d2l.set_seed(0)
    net = _mlp()
    history = d2l.train_ch5(net, train_iter, test_iter, 100, torch.optim.Adam(net.parameters(), 1e-2),
                            "cpu", 3, progress=False, live_plot=False)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "training on cpu"
    pattern = r"epoch \d+, loss \d+\.\d{4}, train acc \d\.\d{3}, test acc \d\.\d{3}, time \d+\.\d sec"
    assert len(lines) == 4 and all(re.fullmatch(pattern, line) for line in lines[1:])
    assert len(history) == 3 and [s.epoch for s in history] == [1, 2, 3]
    assert history.loss[-1] < history.loss[0]
    assert history.test_acc[-1] > 0.6
    assert all(s.examples_per_sec > 0 and s.seconds > 0 for s in history)
    assert not history.interrupted


def test_loss_is_averaged_per_example_once(small_data):
    """With lr=0 the reported loss is exactly the mean cross-entropy of the fixed model."""
    train_iter, test_iter = small_data
    d2l.set_seed(1)
    net = _mlp(bn=False)
    history = d2l.train_ch5(net, train_iter, test_iter, 100, torch.optim.SGD(net.parameters(), lr=0.0),
                            "cpu", 1, verbose=False, progress=False, live_plot=False)
    with torch.no_grad():
        batches = list(train_iter)
        X = torch.cat([X for X, _ in batches])
        y = torch.cat([y for _, y in batches])
        expected = nn.functional.cross_entropy(net(X), y).item()
    assert history.loss[0] == pytest.approx(expected, rel=1e-5)
    assert history.loss[0] > 1.0  # not divided by the batch size a second time


def test_non_finite_loss_stops_with_clear_error(small_data):
    train_iter, test_iter = small_data
    net = _mlp(bn=False)
    with torch.no_grad():
        net[1].weight.fill_(float("nan"))
    with pytest.raises(d2l.TrainingDiverged, match="loss became nan in epoch 1, batch 1") as err:
        d2l.train_ch5(net, train_iter, test_iter, 100, torch.optim.SGD(net.parameters(), 0.1), "cpu", 2,
                      verbose=False, progress=False, live_plot=False)
    assert len(err.value.history) == 0


def test_ctrl_c_returns_the_history_so_far(small_data, capsys):
    train_iter, test_iter = small_data

    class StopInEpochTwo(nn.Module):
        calls = 0

        def forward(self, X):
            if self.training:
                StopInEpochTwo.calls += 1
                if StopInEpochTwo.calls > len(train_iter):
                    raise KeyboardInterrupt
            return X

    net = nn.Sequential(_mlp(bn=False), StopInEpochTwo())
    history = d2l.train_ch5(net, train_iter, test_iter, 100, torch.optim.SGD(net.parameters(), 0.1),
                            "cpu", 5, progress=False, live_plot=False)
    assert history.interrupted and len(history) == 1
    assert "interrupted" in capsys.readouterr().out


def test_progress_bar_on_a_terminal_like_stream(small_data, capsys):
    train_iter, test_iter = small_data
    net = _mlp()
    d2l.train_ch5(net, train_iter, test_iter, 100, torch.optim.SGD(net.parameters(), 0.1), "cpu", 1,
                  verbose=False, progress=True, live_plot=False)
    err = capsys.readouterr().err
    assert "epoch 1 [" in err and "6/6" in err


@pytest.mark.parametrize("epochs", [0, -1, 1.5])
def test_bad_epoch_count(small_data, epochs):
    net = _mlp()
    with pytest.raises(ValueError, match="num_epochs must be a positive integer"):
        d2l.train_ch5(net, *small_data, 100, torch.optim.SGD(net.parameters(), 0.1), "cpu", epochs)


def test_evaluate_accuracy_restores_mode_and_needs_no_grad(small_data):
    _, test_iter = small_data
    net = _mlp()
    net.train()
    acc = d2l.evaluate_accuracy(test_iter, net)
    assert 0.0 <= acc <= 1.0 and net.training
    net.eval()
    d2l.evaluate_accuracy(test_iter, net)
    assert not net.training


def test_evaluate_accuracy_counts_correctly():
    X = torch.zeros(10, 3)
    y = torch.tensor([2] * 7 + [0] * 3)

    class AlwaysTwo(nn.Module):
        def forward(self, X):
            assert not torch.is_grad_enabled()
            return torch.tensor([0.0, 0.0, 1.0]).expand(len(X), 3)

    batches = [(X[:4], y[:4]), (X[4:], y[4:])]
    assert d2l.evaluate_accuracy(batches, AlwaysTwo()) == pytest.approx(0.7)


def test_evaluate_accuracy_rejects_empty_iterator():
    with pytest.raises(ValueError, match="empty"):
        d2l.evaluate_accuracy([], _mlp())
