"""Figures the chapters share: training curves, mean ± std bands, images."""

import io
import math
import numbers
import operator
import re
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import HTMLWriter
from matplotlib.ticker import MaxNLocator

from .stats import mean_std_by_column

__all__ = ["SliderAnimation", "plot_history", "plot_mean_std", "plot_runs", "show_images", "slider_animation"]


def plot_history(history, axes=None, title=None):
    """Loss (left) and train/test accuracy (right) against the epoch."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(8, 3))
    epochs = [s.epoch for s in history]
    axes[0].plot(epochs, history.loss, "o-", label="train loss")
    axes[0].set(xlabel="epoch", ylabel="cross-entropy loss", title="Training loss")
    axes[1].plot(epochs, history.train_acc, "o-", label="train acc")
    axes[1].plot(epochs, history.test_acc, "s--", label="test acc")
    axes[1].set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        axes[0].figure.suptitle(title)
    return axes


def plot_mean_std(x, runs, label, ax=None, **line_kwargs):
    """Plot the mean of ``runs`` (one row per seed) with a band of ±1 sample standard deviation.

    NaN entries (diverged or unfinished runs) are skipped point by point; a
    point with a single value gets no band. The legend says how many seeds.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    runs = np.asarray(runs, dtype=float)
    if runs.ndim != 2 or runs.shape[1] != len(x):
        raise ValueError(f"runs must have shape (num_seeds, {len(x)}), got {runs.shape}")
    mean, std, _ = mean_std_by_column(runs)
    seeds = len(runs)
    (line,) = ax.plot(x, mean, label=f"{label} (n={seeds} seed{'s' if seeds != 1 else ''})", **line_kwargs)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    return ax


def plot_runs(runs, metric="test_acc", ax=None, title=None, ylabel=None):
    """Compare settings: ``runs`` maps a name to a list of ``Run``/``History`` (one per seed).

    Curves stop at the shortest history of a setting; runs without any
    finished epoch are left out.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for name, histories in runs.items():
        histories = [getattr(h, "history", h) for h in histories]  # Run or History
        histories = [h for h in histories if len(h)]
        if not histories:
            continue
        length = min(len(h) for h in histories)
        values = [h.column(metric)[:length] for h in histories]
        plot_mean_std(np.arange(1, length + 1), values, name, ax=ax, marker="o")
    ax.set(xlabel="epoch", ylabel=ylabel or metric.replace("_", " "),
           title=title or f"{metric.replace('_', ' ')}: mean ± sample std over seeds")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if ax.get_lines():
        ax.legend()
    return ax


def show_images(images, num_rows, num_cols, titles=None, scale=1.5):
    """Show a grid of grey images (tensors N x 1 x H x W or N x H x W)."""
    figsize = (num_cols * scale, num_rows * scale)
    _, axes = plt.subplots(num_rows, num_cols, figsize=figsize, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(np.asarray(images[i]).squeeze(), cmap="gray")
            if titles:
                ax.set_title(titles[i], fontsize=9)
    return axes


# matplotlib's player loads Font Awesome from a CDN for its button icons; the book must work
# offline, so the stylesheet is dropped and the icons become plain Unicode symbols
_ICON_STYLESHEET = re.compile(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">')
_ICONS = {"fa-minus": "\u2212", "fa-fast-backward": "|\u25c0\u25c0", "fa-step-backward": "|\u25c0",
          "fa-play fa-flip-horizontal": "\u25c0", "fa-pause": "\u275a\u275a", "fa-play": "\u25b6",
          "fa-step-forward": "\u25b6|", "fa-fast-forward": "\u25b6\u25b6|", "fa-plus": "+"}


def _offline_player(html):
    """matplotlib's HTML player without requests to other sites (the icons as Unicode symbols)."""
    html = _ICON_STYLESHEET.sub("", html)
    for name, symbol in _ICONS.items():
        html = html.replace(f'<i class="fa {name}"></i>', symbol)
    if "://" in html:
        raise RuntimeError("the animation's HTML still refers to another site: matplotlib changed its player")
    return html


class SliderAnimation:
    """An animation as HTML with its own slider and buttons (JavaScript, no kernel, no network).

    Notebooks and the HTML book show ``html``; where HTML cannot be shown (the
    PDF) the PNG ``still`` of one frame is shown instead.
    """

    def __init__(self, html, still, num_frames):
        self.html, self.still, self.num_frames = html, still, num_frames

    def _repr_html_(self):
        return self.html

    def _repr_png_(self):
        return self.still

    def __repr__(self):
        return f"<SliderAnimation: {self.num_frames} frames>"


def slider_animation(fig, draw, num_frames, *, interval=500, still=-1):
    """Animate ``fig``: ``draw(i)`` redraws it as frame ``i`` (0 ... ``num_frames`` - 1).

    Every frame is rendered once, as a PNG, into a ``SliderAnimation`` whose
    slider steps through them; ``still`` is the frame shown where HTML is not
    (default: the last). The figure is closed, so it is not shown a second time.
    """
    if not callable(draw):
        raise TypeError(f"draw must be a function draw(frame_index), got {type(draw).__name__}")
    try:
        num_frames = operator.index(num_frames)
    except TypeError:
        raise TypeError(f"num_frames must be an int, got {num_frames!r}") from None
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    if isinstance(still, bool) or not isinstance(still, numbers.Integral):
        raise TypeError(f"still must be a frame index (an int; -1 is the last frame), got {still!r}")
    if isinstance(interval, bool) or not isinstance(interval, numbers.Real) or not 0 < interval < math.inf:
        raise ValueError(f"interval must be a positive number of milliseconds between frames "
                         f"(e.g. 500), got {interval!r}")
    if not -num_frames <= still < num_frames:
        raise ValueError(f"still={still} is not a frame index for {num_frames} frames")
    # what FuncAnimation.to_jshtml does, without drawing every frame twice
    writer = HTMLWriter(fps=1000 / interval, embed_frames=True, default_mode="once")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "animation.html"
            with writer.saving(fig, path, dpi=fig.dpi):
                for i in range(num_frames):
                    draw(i)
                    writer.grab_frame()
            html = _offline_player(path.read_text())
        draw(still % num_frames)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    return SliderAnimation(html, buffer.getvalue(), num_frames)
