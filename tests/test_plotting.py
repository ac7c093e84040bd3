"""Figures have titles, labelled axes and legends."""

import re

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


def _line_animation(num_frames, **kwargs):
    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=40)
    (line,) = ax.plot([], [])
    ax.set(xlim=(0, num_frames), ylim=(0, num_frames), xlabel="x", ylabel="y")
    drawn = []

    def draw(i):
        drawn.append(i)
        line.set_data(range(i + 1), range(i + 1))

    return fig, d2l.slider_animation(fig, draw, num_frames, **kwargs), drawn


def test_slider_animation_has_every_frame_a_slider_and_a_still():
    fig, anim, drawn = _line_animation(4)
    html = anim._repr_html_()
    assert set(re.findall(r"frames\[(\d+)\] = ", html)) == {"0", "1", "2", "3"}  # one image per frame
    assert 'type="range"' in html  # the slider
    assert anim._repr_png_().startswith(b"\x89PNG")
    assert set(drawn) == {0, 1, 2, 3} and drawn[-1] == 3  # the still is the last frame
    assert not plt.fignum_exists(fig.number)  # closed: not shown again below the animation
    assert repr(anim) == "<SliderAnimation: 4 frames>"


def test_slider_animation_still_can_be_any_frame():
    _, _, drawn = _line_animation(3, still=0)
    assert drawn[-1] == 0


@pytest.mark.parametrize("num_frames, still, error", [
    (0, -1, ValueError), (2.5, -1, TypeError), (3, 3, ValueError), (3, -4, ValueError)])
def test_slider_animation_rejects_bad_arguments(num_frames, still, error):
    fig, _ = plt.subplots()
    with pytest.raises(error):
        d2l.slider_animation(fig, lambda i: None, num_frames, still=still)
    plt.close(fig)


def test_slider_animation_needs_a_function():
    fig, _ = plt.subplots()
    with pytest.raises(TypeError, match="draw"):
        d2l.slider_animation(fig, "not a function", 3)
    plt.close(fig)


def test_slider_animation_needs_no_network():
    _, anim, _ = _line_animation(2)
    html = anim._repr_html_()
    assert "://" not in html and "font-awesome" not in html  # matplotlib's player loads a CDN stylesheet
    assert "\u25b6" in html and 'class="fa' not in html  # its icons are Unicode symbols instead


# ---------------------------------------------------------------- mistakes students make (issue 19)


@pytest.mark.parametrize("kwargs, message", [
    ({"still": "last"}, r"still must be a frame index \(an int; -1 is the last frame\), got 'last'"),
    ({"still": 1.0}, r"still must be a frame index"),
    ({"interval": 0}, r"interval must be a positive number of milliseconds"),
    ({"interval": -5}, r"interval must be a positive number of milliseconds"),
    ({"interval": "fast"}, r"interval must be a positive number of milliseconds"),
], ids=repr)
def test_slider_animation_explains_bad_still_and_interval(kwargs, message):
    fig, _ = plt.subplots()
    with pytest.raises((TypeError, ValueError), match=message):
        d2l.slider_animation(fig, lambda i: None, 3, **kwargs)
    plt.close(fig)
