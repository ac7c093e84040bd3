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


def _band_limits(ax, index=0):
    """(lowest, highest) y of the ``index``-th fill_between band."""
    ys = ax.collections[index].get_paths()[0].vertices[:, 1]
    return ys.min(), ys.max()


def test_plot_runs_mean_and_sample_std_band():
    runs = {"BN": [_history([0.5, 0.7]), _history([0.7, 0.9])], "no BN": [_history([0.4, 0.5])]}
    ax = d2l.plot_runs(runs)
    mean_line = ax.get_lines()[0]
    np.testing.assert_allclose(mean_line.get_ydata(), [0.59, 0.79])
    low, high = _band_limits(ax)
    spread = np.std([0.49, 0.69], ddof=1)  # the sample std (n - 1), 0.1414
    assert low == pytest.approx(0.59 - spread) and high == pytest.approx(0.79 + spread)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["BN (n=2 seeds)", "no BN (n=1 seed)"]
    assert ax.get_title() and ax.get_xlabel() == "epoch"
    plt.close("all")


def test_plot_runs_leaves_out_runs_without_epochs():
    ax = d2l.plot_runs({"BN": [_history([0.5, 0.7]), d2l.History()]})
    assert ax.get_legend().get_texts()[0].get_text() == "BN (n=1 seed)"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.49, 0.69])
    plt.close("all")


def test_plot_mean_std_skips_nan_per_point():
    ax = d2l.plot_mean_std([1, 2], [[1.0, float("nan")], [3.0, 5.0]], "x")
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [2.0, 5.0])
    assert ax.get_lines()[0].get_label() == "x (n=2 seeds)"
    low, high = _band_limits(ax)  # only the first point has two values, hence a band
    assert low == pytest.approx(2.0 - np.sqrt(2.0)) and high == pytest.approx(2.0 + np.sqrt(2.0))
    plt.close("all")


def test_plot_mean_std_checks_shape():
    with pytest.raises(ValueError, match="runs must have shape"):
        d2l.plot_mean_std([1, 2, 3], [[1, 2]], "x")


def test_show_images_titles():
    axes = d2l.show_images(torch.zeros(3, 1, 28, 28), 1, 4, titles=["a", "b", "c"])
    assert axes[0, 2].get_title() == "c" and not axes[0, 3].images
    plt.close("all")
