"""d2l's Animator, updated in place through a display handle, and the LivePlot callback."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import d2lzh_pytorch as d2l  # noqa: E402
from d2lzh_pytorch import animator as animator_mod  # noqa: E402


@pytest.fixture
def fake_display(monkeypatch):
    """Replace IPython's display by a recorder (what a notebook would receive)."""
    import IPython.display

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(("update", obj))

    def display(obj, display_id=None, **kwargs):
        shown.append(("display", obj, display_id))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    return shown


def test_add_skips_none_and_accepts_scalars():
    animator = d2l.Animator(xlabel="epoch", ylabel="value", xlim=[1, 3], ylim=[0, 1],
                            legend=["a", "b", "c"], show=False)
    animator.add(0.5, (0.9, 0.4, None))
    animator.add(1, (0.7, 0.6, 0.5))
    animator.add([2, 2, 2], [0.6, None, 0.55])
    assert animator.X == [[0.5, 1, 2], [0.5, 1], [1, 2]]
    assert animator.Y == [[0.9, 0.7, 0.6], [0.4, 0.6], [0.5, 0.55]]
    ax = animator.axes[0]
    assert len(ax.lines) == 3
    assert [line.get_linestyle() for line in ax.lines] == ["-", "--", "-."]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "value"
    assert ax.get_xlim() == (1, 3) and ax.get_ylim() == (0, 1)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    single = d2l.Animator(show=False)
    single.add(1, 0.3)
    assert single.X == [[1]] and single.Y == [[0.3]]
    animator.close()
    single.close()


def test_grid_of_axes_and_figsize():
    animator = d2l.Animator(nrows=2, ncols=2, figsize=(6, 4), show=False)
    assert animator.axes.shape == (2, 2)
    assert tuple(animator.fig.get_size_inches()) == (6, 4)
    animator.close()


def test_without_a_notebook_nothing_is_displayed(fake_display):
    animator = d2l.Animator()  # show=None: only in a Jupyter kernel
    animator.add(1, 1.0)
    assert not animator.show and fake_display == []
    assert plt.fignum_exists(animator.fig.number)  # left to plt.show()
    animator.close()


def test_in_a_notebook_one_display_is_updated_in_place(fake_display):
    from IPython.display import Image

    animator = d2l.Animator(legend=["loss"], show=True)
    assert not plt.fignum_exists(animator.fig.number)  # not shown a second time at the end of the cell
    for x in range(3):
        animator.add(x, 1.0 / (x + 1))
    assert [event[0] for event in fake_display] == ["display", "update", "update"]
    assert fake_display[0][2] is True  # a display id, so that it can be updated
    images = [fake_display[0][1]] + [event[1] for event in fake_display[1:]]
    assert all(isinstance(image, Image) and image.data.startswith(b"\x89PNG") for image in images)
    assert images[0].data != images[-1].data


def test_use_svg_display_switches_the_format(fake_display, monkeypatch):
    from IPython.display import SVG

    monkeypatch.setitem(animator_mod._SETTINGS, "format", "png")
    d2l.use_svg_display()
    animator = d2l.Animator(show=True)
    animator.add(1, 1.0)
    assert isinstance(fake_display[0][1], SVG)


def test_set_axes():
    _, ax = plt.subplots()
    d2l.set_axes(ax, "x", "y", [0, 2], [1, 5], "linear", "log", ["line"])
    assert ax.get_yscale() == "log" and ax.get_xlim() == (0, 2) and ax.get_xlabel() == "x"
    plt.close("all")


def _state(num_epochs=2, num_batches=10):
    return d2l.TrainState(net=None, device=torch.device("cpu"), num_epochs=num_epochs,
                          num_batches=num_batches, history=d2l.History())


def test_live_plot_adds_read_points_and_epoch_ends(fake_display):
    plot = d2l.LivePlot(show=True)
    state = _state()
    plot.on_train_begin(state)
    ax = plot.animator.axes[0]
    for epoch in (1, 2):
        state.epoch = epoch
        plot.on_epoch_begin(state)
        for i in range(1, 11):
            state.batch, state.synced = i, i == 5
            state.loss, state.train_acc = 1.0 / epoch, 0.5 * epoch
            plot.on_batch_end(state)
        state.history.append(d2l.EpochStats(epoch, 0.9 / epoch, 0.4 * epoch, 0.3 * epoch, 1.0, 100.0))
        plot.on_epoch_end(state)
    plot.on_train_end(state)
    assert plot.animator.X == [[0.5, 1, 1.5, 2], [0.5, 1, 1.5, 2], [1, 2]]
    assert plot.animator.Y[2] == [0.3, 0.6]
    assert ax.get_xlim() == (1, 2) and ax.get_xlabel() == "epoch"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train loss", "train acc", "test acc"]
    assert len(fake_display) == 4  # one display, three updates
