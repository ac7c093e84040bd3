"""A live training plot for notebooks, redrawn as training goes on (d2l's ``Animator``).

``Animator`` keeps d2l's constructor and ``add(x, y)``; instead of d2l's
``display`` + ``clear_output`` (which also wipes the printed lines and the
progress bar of the cell) it updates one display in place through an IPython
display handle. ``LivePlot`` is the training-loop callback built on it.
"""

import io

import matplotlib.pyplot as plt

from . import progress
from .progress import Callback

__all__ = ["Animator", "LivePlot", "set_axes", "set_figsize", "use_svg_display"]

_SETTINGS = {"format": "png"}  # what Animator sends to the notebook; use_svg_display() switches to svg


def use_svg_display():
    """Show figures as SVG in Jupyter (d2l's helper); Animator follows too."""
    _SETTINGS["format"] = "svg"
    if progress.in_notebook():  # elsewhere this would start an IPython shell
        from matplotlib_inline import backend_inline

        backend_inline.set_matplotlib_formats("svg")


def set_figsize(figsize=(3.5, 2.5)):
    """Default figure size for later pyplot figures (d2l's helper)."""
    use_svg_display()
    plt.rcParams["figure.figsize"] = figsize


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend):
    """Label, scale, limit and grid one matplotlib ``Axes`` (d2l's helper)."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    axes.set_xlim(xlim)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


class Animator:
    """Plot lines that grow point by point: ``animator.add(x, (y1, y2, ...))``.

    ``None`` values are skipped, so lines may get points at different x. In a
    notebook (``show=None`` means: when running in a Jupyter kernel) the figure
    is displayed once and then updated in place; elsewhere only ``self.fig``
    is updated (``plt.show()`` shows it).
    """

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"),
                 nrows=1, ncols=1, figsize=(3.5, 2.5), *, show=None):
        legend = [] if legend is None else list(legend)
        self.show = progress.in_notebook() if show is None else bool(show)
        self.fig, self.axes = plt.subplots(nrows, ncols, figsize=figsize)
        if nrows * ncols == 1:
            self.axes = [self.axes]
        if self.show:
            # Displayed through our handle only: without this, the inline backend
            # would show the figure a second time when the cell ends.
            plt.close(self.fig)
        self.config_axes = lambda: set_axes(self.axes[0], xlabel, ylabel, xlim, ylim,
                                            xscale, yscale, legend)
        self.X, self.Y, self.fmts = None, None, fmts
        self.handle = None

    def add(self, x, y):
        """Append the points ``(x[i], y[i])`` (x may be one number) and redraw."""
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if not self.X:
            self.X = [[] for _ in range(n)]
        if not self.Y:
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y, strict=False)):
            if a is not None and b is not None:
                self.X[i].append(a)
                self.Y[i].append(b)
        self.axes[0].cla()
        for xs, ys, fmt in zip(self.X, self.Y, self.fmts, strict=False):
            self.axes[0].plot(xs, ys, fmt)
        self.config_axes()
        if self.show:
            self._display()

    def _display(self):
        from IPython.display import SVG, Image, display

        fmt = _SETTINGS["format"]
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format=fmt, bbox_inches="tight")
        image = SVG(buffer.getvalue()) if fmt == "svg" else Image(buffer.getvalue(), format="png")
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)

    def close(self):
        """Release the figure (the displayed image stays)."""
        plt.close(self.fig)


class LivePlot(Callback):
    """d2l's training figure, live: train loss and train acc within each epoch
    (where the loop read them), test acc after each epoch; x is the epoch."""

    def __init__(self, show=None, figsize=(3.5, 2.5)):
        self.show, self.figsize = show, figsize
        self.animator = None

    def on_train_begin(self, state):
        self.animator = Animator(xlabel="epoch", xlim=[1, state.num_epochs],
                                 legend=["train loss", "train acc", "test acc"],
                                 figsize=self.figsize, show=self.show)

    def on_batch_end(self, state):
        if state.synced and state.batch < state.num_batches:
            self.animator.add(state.epoch - 1 + state.batch / state.num_batches,
                              (state.loss, state.train_acc, None))

    def on_epoch_end(self, state):
        stats = state.history[-1]
        self.animator.add(stats.epoch, (stats.loss, stats.train_acc, stats.test_acc))

    def on_train_end(self, state):
        if self.animator is not None and self.animator.show:
            self.animator.close()
