"""Multi-seed runs: repeatable, divergence recorded, summaries and tables right."""

import math

import pytest
import torch
from torch import nn

import d2lzh_pytorch as d2l


@pytest.fixture(scope="module")
def tiny_data():
    return d2l.load_data_mnist(50, flatten=True, num_train=200, num_test=100)


def _net():
    return nn.Sequential(nn.Linear(784, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))


def test_runs_are_repeatable_per_seed(tiny_data):
    sgd = lambda params: torch.optim.SGD(params, lr=0.1)  # noqa: E731
    first = d2l.run_seeds(_net, sgd, *tiny_data, seeds=[0, 1], num_epochs=2)
    again = d2l.run_seeds(_net, sgd, *tiny_data, seeds=[0, 1], num_epochs=2)
    assert [r.seed for r in first] == [0, 1]
    assert [r.history.loss for r in first] == [r.history.loss for r in again]
    assert first[0].history.loss != first[1].history.loss


def test_divergence_is_recorded_not_raised(tiny_data):
    def nan_net():
        net = _net()
        with torch.no_grad():
            net[0].weight.fill_(float("inf"))
        return net

    runs = d2l.run_seeds(nan_net, lambda p: torch.optim.SGD(p, lr=0.1), *tiny_data, seeds=[0, 1, 2],
                         num_epochs=1)
    assert all(r.diverged for r in runs) and math.isnan(runs[0].final())
    mean, std, diverged = d2l.summarize(runs)
    assert math.isnan(mean) and diverged == 3


def test_summaries():
    assert d2l.mean_std([1.0, 3.0, float("nan")]) == (2.0, 1.0)
    assert d2l.fmt_mean_std(0.91234, 0.0123) == "0.912 ± 0.012"
    assert d2l.fmt_mean_std(float("nan"), float("nan")) == "—"


def test_table_renders_markdown_and_html():
    table = d2l.Table(["model", "acc"], [["BN <1>", 0.5], ["none", float("nan")]])
    assert table._repr_markdown_().splitlines()[2] == "| BN <1> | 0.5000 |"
    assert "—" in table._repr_markdown_()
    assert "<td>BN &lt;1&gt;</td>" in table._repr_html_()
    with pytest.raises(ValueError, match="one value per header"):
        d2l.Table(["a", "b"], [[1]])
