"""Multi-seed runs: repeatable, reseeded through the loader's API, divergence kept, Ctrl-C stops the sweep."""

import math

import pytest
import torch
from torch import nn

import d2lzh_pytorch as d2l
from d2lzh_pytorch import experiments


@pytest.fixture
def tiny_data():
    """A fresh pair of iterators per test (no state shared between tests)."""
    return d2l.load_data_mnist(50, flatten=True, num_train=200, num_test=100)


def _net():
    return nn.Sequential(nn.Linear(784, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))


def _sgd(params):
    return torch.optim.SGD(params, lr=0.1)


def _without_escape(call):
    """Run ``call()``; a KeyboardInterrupt escaping it fails the test instead of stopping pytest."""
    try:
        return call()
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped: the sweep should have caught it and returned")


class _CtrlC(nn.Module):
    """A network whose ``calls``-th training-mode forward raises KeyboardInterrupt, as Ctrl-C would."""

    def __init__(self, at):
        super().__init__()
        self.body, self.at, self.calls = _net(), at, 0

    def forward(self, X):
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                raise KeyboardInterrupt
        return self.body(X)


# ---------------------------------------------------------------- seeds


def test_runs_are_repeatable_per_seed(tiny_data):
    first = d2l.run_seeds(_net, _sgd, *tiny_data, seeds=[0, 1], num_epochs=2)
    again = d2l.run_seeds(_net, _sgd, *tiny_data, seeds=[0, 1], num_epochs=2)
    assert isinstance(first, d2l.Runs) and first.interrupted is False
    assert [r.seed for r in first] == [0, 1]
    assert [r.history.loss for r in first] == [r.history.loss for r in again]
    assert first[0].history.loss != first[1].history.loss


def test_a_peek_before_run_seeds_changes_nothing(tiny_data):
    train_iter, test_iter = tiny_data
    clean = d2l.run_seeds(_net, _sgd, train_iter, test_iter, seeds=[3], num_epochs=1)
    next(iter(train_iter))
    train_iter.set_epoch(7)
    again = d2l.run_seeds(_net, _sgd, train_iter, test_iter, seeds=[3], num_epochs=1)
    assert clean[0].history.loss == again[0].history.loss


class _RecordingBatches:
    """A stand-in iterator that records how run_seeds reseeds it."""

    def __init__(self, inner):
        self.inner, self.reseeded = inner, []

    def reseed(self, seed):
        self.reseeded.append(seed)
        self.inner.reseed(seed)
        return self

    def __iter__(self):
        return iter(self.inner)

    def __len__(self):
        return len(self.inner)


def test_run_seeds_reseeds_through_the_api(tiny_data):
    batches = _RecordingBatches(tiny_data[0])
    d2l.run_seeds(_net, _sgd, batches, tiny_data[1], seeds=[4, 2], num_epochs=1)
    assert batches.reseeded == [4, 2]


def test_run_seeds_accepts_a_make_train_iter_function(tiny_data):
    made = []

    def make_train_iter(seed):
        made.append(seed)
        return d2l.load_data_mnist(50, flatten=True, num_train=200, seed=seed)[0]

    via_function = d2l.run_seeds(_net, _sgd, make_train_iter, tiny_data[1], seeds=[5, 6], num_epochs=1)
    via_reseed = d2l.run_seeds(_net, _sgd, *tiny_data, seeds=[5, 6], num_epochs=1)
    assert made == [5, 6]
    assert [r.history.loss for r in via_function] == [r.history.loss for r in via_reseed]


def test_run_seeds_rejects_an_iterator_it_cannot_reseed(tiny_data):
    batches = list(tiny_data[0])
    with pytest.raises(TypeError, match="reseed\\(seed\\) method.*make_train_iter\\(seed\\)"):
        d2l.run_seeds(_net, _sgd, batches, tiny_data[1], seeds=[0], num_epochs=1)
    with pytest.raises(ValueError, match="seeds is empty"):
        d2l.run_seeds(_net, _sgd, *tiny_data, seeds=[], num_epochs=1)


def test_divergence_is_recorded_not_raised(tiny_data):
    def nan_net():
        net = _net()
        with torch.no_grad():
            net[0].weight.fill_(float("inf"))
        return net

    runs = d2l.run_seeds(nan_net, _sgd, *tiny_data, seeds=[0, 1, 2], num_epochs=1)
    assert all(r.diverged for r in runs) and math.isnan(runs[0].final()) and not runs.interrupted
    mean, std, diverged = d2l.summarize(runs)
    assert math.isnan(mean) and math.isnan(std) and diverged == 3


def test_summarize_uses_the_sample_std():
    history = d2l.History([d2l.EpochStats(1, 0.1, 0.9, 0.9, 1.0, 1.0)])
    other = d2l.History([d2l.EpochStats(1, 0.1, 0.8, 0.8, 1.0, 1.0)])
    runs = [d2l.Run(0, None, history), d2l.Run(1, None, other)]
    mean, std, diverged = d2l.summarize(runs)
    assert mean == pytest.approx(0.85) and std == pytest.approx(math.sqrt(0.005)) and diverged == 0


# ---------------------------------------------------------------- compare_bn


def _net_with_flag(bn):
    layers = [nn.Linear(784, 16)] + ([nn.BatchNorm1d(16)] if bn else []) + [nn.ReLU(), nn.Linear(16, 10)]
    return nn.Sequential(*layers)


def test_compare_bn_pairs_the_two_models_by_seed(tiny_data):
    runs = d2l.compare_bn(_net_with_flag, _sgd, *tiny_data, 2, seeds=[3, 4])
    assert isinstance(runs, d2l.Results) and not runs.interrupted
    assert list(runs) == ["no BN", "BN"]
    assert [r.seed for r in runs["BN"]] == [3, 4] == [r.seed for r in runs["no BN"]]
    assert any(isinstance(m, nn.BatchNorm1d) for m in runs["BN"][0].net)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in runs["no BN"][0].net)
    assert runs["BN"][0].after_epoch(2) == runs["BN"][0].final() and math.isnan(runs["BN"][0].after_epoch(3))
    table = d2l.results_table(runs, baseline="no BN")
    assert [row[0] for row in table.rows] == ["no BN", "BN"] and table.rows[1][-1] == 2


# ---------------------------------------------------------------- Ctrl-C


def test_ctrl_c_in_training_stops_the_remaining_seeds(tiny_data):
    made = []

    def make_net():
        made.append(len(made))
        # the second seed is interrupted in its second epoch (4 batches per epoch)
        return _CtrlC(at=6) if len(made) == 2 else _net()

    runs = _without_escape(lambda: d2l.run_seeds(make_net, _sgd, *tiny_data, seeds=[0, 1, 2], num_epochs=3))
    assert len(made) == 2  # seed 2 never started
    assert runs.interrupted and [r.seed for r in runs] == [0, 1]
    assert [r.interrupted for r in runs] == [False, True]
    assert len(runs[0].history) == 3 and len(runs[1].history) == 1
    assert math.isnan(runs[1].final()) and not math.isnan(runs[1].after_epoch(1))


def _fake_train(interrupt_seed_calls, record):
    """A stand-in for train_ch5 that lets KeyboardInterrupt propagate (catch_interrupt=False style)."""

    def train(net, train_iter, test_iter, batch_size, optimizer, device=None, num_epochs=5, *,
              loss=None, progress=None, live_plot=None, verbose=True):
        record.append(train_iter.seed)
        if len(record) in interrupt_seed_calls:
            raise KeyboardInterrupt
        return d2l.History([d2l.EpochStats(1, 0.5, 0.8, 0.8, 1.0, 100.0)])

    return train


def test_ctrl_c_propagating_from_the_training_loop_is_handled(tiny_data, monkeypatch):
    calls = []
    monkeypatch.setattr(experiments, "train_ch5", _fake_train({2}, calls))
    runs = _without_escape(lambda: d2l.run_seeds(_net, _sgd, *tiny_data, seeds=[0, 1, 2], num_epochs=1))
    assert calls == [0, 1] and runs.interrupted
    assert [(r.seed, r.interrupted, len(r.history)) for r in runs] == [(0, False, 1), (1, True, 0)]


def test_an_interrupt_carrying_the_history_keeps_the_finished_epochs(tiny_data, monkeypatch):
    def train(net, train_iter, test_iter, batch_size, optimizer, device=None, num_epochs=5, **options):
        err = KeyboardInterrupt()
        err.history = d2l.History([d2l.EpochStats(1, 0.5, 0.8, 0.8, 1.0, 100.0)])
        raise err

    monkeypatch.setattr(experiments, "train_ch5", train)
    runs = _without_escape(lambda: d2l.run_seeds(_net, _sgd, *tiny_data, seeds=[0, 1], num_epochs=2))
    assert runs.interrupted and len(runs) == 1 and runs[0].interrupted
    assert runs[0].after_epoch(1) == 0.8 and math.isnan(runs[0].final())


def test_catch_interrupt_is_passed_when_the_training_loop_accepts_it(tiny_data, monkeypatch):
    seen = {}

    def train(net, train_iter, test_iter, batch_size, optimizer, device=None, num_epochs=5, *,
              catch_interrupt=False, progress=None, live_plot=None, verbose=True):
        seen["catch_interrupt"] = catch_interrupt
        history = d2l.History()
        history.interrupted = True  # as if Ctrl-C was caught after no epoch
        return history

    monkeypatch.setattr(experiments, "train_ch5", train)
    runs = _without_escape(lambda: d2l.run_seeds(_net, _sgd, *tiny_data, seeds=[0, 1], num_epochs=1))
    assert seen == {"catch_interrupt": True}
    assert runs.interrupted and len(runs) == 1 and runs[0].interrupted


def test_ctrl_c_before_training_starts(tiny_data):
    def make_net():
        raise KeyboardInterrupt

    runs = _without_escape(lambda: d2l.run_seeds(make_net, _sgd, *tiny_data, seeds=[0, 1], num_epochs=1))
    assert runs.interrupted and len(runs) == 0


def test_ctrl_c_in_compare_bn_skips_the_second_model(tiny_data, monkeypatch):
    calls = []
    monkeypatch.setattr(experiments, "train_ch5", _fake_train({2}, calls))
    runs = _without_escape(lambda: d2l.compare_bn(_net_with_flag, _sgd, *tiny_data, 1, seeds=[0, 1, 2]))
    assert len(calls) == 2 and runs.interrupted
    assert runs["no BN"].interrupted and len(runs["no BN"]) == 2
    assert runs["BN"].interrupted and len(runs["BN"]) == 0
    assert [row[8] for row in d2l.results_table(runs).rows] == ["INTERRUPTED", "INTERRUPTED"]


def test_sweep_stops_the_outer_loop_at_the_first_interrupt(tiny_data, monkeypatch):
    calls = []
    monkeypatch.setattr(experiments, "train_ch5", _fake_train({5}, calls))  # 2 runs per lr
    started = []

    def one_lr(lr):
        started.append(lr)
        return d2l.compare_bn(_net_with_flag, lambda p: torch.optim.SGD(p, lr=lr), *tiny_data, 1, seeds=[0])

    results = _without_escape(lambda: d2l.sweep([0.1, 0.2, 0.3, 0.4], one_lr))
    assert started == [0.1, 0.2, 0.3] and list(results) == [0.1, 0.2, 0.3]
    assert results.interrupted and not results[0.1].interrupted and results[0.3].interrupted
    assert len(calls) == 5


def test_sweep_catches_ctrl_c_between_calls():
    def one(setting):
        if setting == "b":
            raise KeyboardInterrupt
        return d2l.Runs()

    results = _without_escape(lambda: d2l.sweep(["a", "b", "c"], one))
    assert list(results) == ["a"] and results.interrupted


def test_a_hand_written_loop_can_stop_on_the_flag(tiny_data, monkeypatch):
    calls = []
    monkeypatch.setattr(experiments, "train_ch5", _fake_train({3}, calls))
    lr_runs = {}
    for lr in (0.1, 0.2, 0.3):
        lr_runs[lr] = _without_escape(
            lambda: d2l.run_seeds(_net, _sgd, *tiny_data, seeds=[0, 1], num_epochs=1))
        if lr_runs[lr].interrupted:
            break
    assert list(lr_runs) == [0.1, 0.2] and len(calls) == 3


# ---------------------------------------------------------------- mistakes students make (issue 19)


def _never_called(*args):
    pytest.fail("nothing should run when the arguments are refused")


@pytest.mark.parametrize("seeds, error, message", [
    ([0, 0], ValueError, r"seeds \[0, 0\] repeat 0.*standard deviation.*distinct seeds"),
    ([1, 2, 1, 3, 2], ValueError, r"repeat 1, 2"),
    (3, TypeError, r"seeds must be a list of seeds, e.g\. \[0, 1, 2\] or range\(3\), got 3"),
    (None, TypeError, r"seeds must be a list of seeds"),
    ("012", TypeError, r"seeds must be a list of seeds.*got '012'"),
], ids=repr)
def test_run_seeds_refuses_bad_seeds_before_training(tiny_data, seeds, error, message):
    with pytest.raises(error, match=message):
        d2l.run_seeds(_never_called, _sgd, *tiny_data, seeds=seeds, num_epochs=1)


def test_compare_bn_refuses_duplicate_seeds_before_training(tiny_data):
    with pytest.raises(ValueError, match="repeat 5"):
        d2l.compare_bn(lambda bn: _never_called(), _sgd, *tiny_data, 1, seeds=[5, 6, 5])


def test_run_seeds_wants_a_function_that_builds_a_net_not_a_net(tiny_data):
    with pytest.raises(TypeError, match=r"make_net must be a function that builds a fresh net, got the "
                                        r"network itself \(Sequential\).*lambda: "):
        d2l.run_seeds(_net(), _sgd, *tiny_data, seeds=[0], num_epochs=1)
    with pytest.raises(TypeError, match=r"make_optimizer must be a function of the parameters.*got an "
                                        r"optimizer \(SGD\)"):
        d2l.run_seeds(_net, _sgd(_net().parameters()), *tiny_data, seeds=[0], num_epochs=1)


@pytest.mark.parametrize("settings, error, message", [
    (0.1, TypeError, r"settings must be a list of settings, e.g\. \[0\.01, 0\.1\], got 0\.1"),
    ("lr", TypeError, r"settings must be a list of settings"),
    ([0.1, 0.1, 0.2], ValueError, r"settings repeat 0\.1.*overwrite"),
    ([[0.1, 0.2], [0.3]], TypeError, r"hashable.*\[0\.1, 0\.2\].*tuple"),
    ([{"lr": 0.1}], TypeError, r"hashable.*tuple"),
], ids=repr)
def test_sweep_refuses_bad_settings_before_the_first_run(settings, error, message):
    with pytest.raises(error, match=message):
        d2l.sweep(settings, _never_called)


def test_sweep_accepts_tuples_and_ranges():
    assert list(d2l.sweep([("relu", "before"), ("relu", "after")], lambda s: s[1])) == [
        ("relu", "before"), ("relu", "after")]
    assert dict(d2l.sweep(range(3), lambda s: s * 2)) == {0: 0, 1: 2, 2: 4}
