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


def _net_with_flag(bn):
    layers = [nn.Linear(784, 16)] + ([nn.BatchNorm1d(16)] if bn else []) + [nn.ReLU(), nn.Linear(16, 10)]
    return nn.Sequential(*layers)


def test_compare_bn_pairs_the_two_models_by_seed(tiny_data):
    runs = d2l.compare_bn(_net_with_flag, lambda p: torch.optim.SGD(p, lr=0.1), *tiny_data, 2, seeds=[3, 4])
    assert list(runs) == ["no BN", "BN"]
    assert [r.seed for r in runs["BN"]] == [3, 4] == [r.seed for r in runs["no BN"]]
    assert any(isinstance(m, nn.BatchNorm1d) for m in runs["BN"][0].net)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in runs["no BN"][0].net)
    assert runs["BN"][0].after_epoch(2) == runs["BN"][0].final() and math.isnan(runs["BN"][0].after_epoch(3))
    table = d2l.results_table(runs)
    assert [row[0] for row in table.rows] == ["no BN", "BN"] and table.rows[0][-1] == "0/2"


def test_gap_sentence_reports_paired_differences():
    text = d2l.gap_sentence("最终", [0.80, 0.82], [0.90, 0.91])
    assert "平均 +9.5 个百分点" in text and "2/2 个种子为正" in text and "每个种子上都是「有 BN」更高" in text
    mixed = d2l.gap_sentence("最终", [0.80, 0.90], [0.81, 0.89])
    assert "方向不一致" in mixed and "实际意义很小" in mixed
    assert "全部发散" in d2l.gap_sentence("最终", [float("nan")], [0.5])
