"""Figures have titles, labelled axes and legends."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import d2lzh_pytorch as d2l  # noqa: E402


def _history(values):
    h = d2l.History()
    for i, v in enumerate(values, 1):
        h.append(d2l.EpochStats(i, 1 - v, v, v - 0.01, 1.0, 100.0))
    return h


def test_plot_history_labels():
    axes = d2l.plot_history(_history([0.5, 0.7, 0.8]), title="LeNet")
    assert axes[0].get_xlabel() == "epoch" and axes[1].get_ylabel() == "accuracy"
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == ["train acc", "test acc"]
    plt.close("all")


def test_plot_runs_mean_and_band():
    runs = {"BN": [_history([0.5, 0.7]), _history([0.7, 0.9])], "no BN": [_history([0.4, 0.5])]}
    ax = d2l.plot_runs(runs)
    mean_line = ax.get_lines()[0]
    np.testing.assert_allclose(mean_line.get_ydata(), [0.59, 0.79])
    assert ax.get_legend().get_texts()[0].get_text() == "BN (n=2)"
    assert ax.get_title() and ax.get_xlabel() == "epoch"
    plt.close("all")


def test_plot_mean_std_checks_shape():
    with pytest.raises(ValueError, match="runs must have shape"):
        d2l.plot_mean_std([1, 2, 3], [[1, 2]], "x")


def test_show_images_titles():
    axes = d2l.show_images(torch.zeros(3, 1, 28, 28), 1, 4, titles=["a", "b", "c"])
    assert axes[0, 2].get_title() == "c" and not axes[0, 3].images
    plt.close("all")
