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
    # 6 batches per epoch: the sums are read at the end of the epoch only
    message = "loss became nan in epoch 1, between batches 1 and 6"
    with pytest.raises(d2l.TrainingDiverged, match=message) as err:
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
    assert "interrupted after 1 finished epoch(s)" in capsys.readouterr().out


def test_progress_bar_on_a_terminal_like_stream(small_data, capsys):
    train_iter, test_iter = small_data
    net = _mlp()
    d2l.train_ch5(net, train_iter, test_iter, 100, torch.optim.SGD(net.parameters(), 0.1), "cpu", 1,
                  verbose=False, progress=True, live_plot=False)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "6/6" in err


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


# --- the loop on tiny synthetic batches: reads from the device, divergence, callbacks ---

HOST_READS = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__", "cpu", "numpy")


def _toy_batches(num_batches, batch=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, 3, generator=gen), torch.randint(0, 2, (batch,), generator=gen))
            for _ in range(num_batches)]


def _toy_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))


def _ctrl_c(hook, epoch=None):
    """A callback whose ``hook`` presses Ctrl-C (in ``epoch``, or at its first call)."""
    def press(self, state):
        if epoch is None or state.epoch == epoch:
            raise KeyboardInterrupt

    return type("CtrlC", (d2l.Callback,), {hook: press})()


def _quiet(**kwargs):
    return dict(verbose=False, progress=False, live_plot=False, **kwargs)


@pytest.fixture
def host_reads(monkeypatch):
    """Count every way a tensor's value can reach Python (each one waits for a GPU)."""
    count = {"n": 0}
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            count["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    float(torch.ones(()))  # the counter works
    assert count["n"] == 1
    count["n"] = 0
    return count


@pytest.mark.parametrize("num_batches, interval", [(1, 10), (6, 10), (120, 24), (235, 47), (5000, 50)])
def test_check_interval(num_batches, interval):
    assert d2l.check_interval(num_batches) == interval
    assert d2l.check_interval(num_batches) <= d2l.CHECK_EVERY == 50


def test_training_reads_the_device_only_every_few_batches(host_reads):
    """120 batches (read every 24): 4 reads within the epoch, 1 at its end, 1 for the test accuracy."""
    batches = _toy_batches(120)
    net = _toy_net()
    history = d2l.train_ch5(net, batches, batches[:3], None, torch.optim.SGD(net.parameters(), 0.1),
                            "cpu", 2, **_quiet())
    assert len(history) == 2
    assert host_reads["n"] == 2 * (4 + 1 + 1)  # the seeds' loop read 2 values every batch: 480


def test_evaluate_accuracy_reads_the_device_once(host_reads):
    batches = _toy_batches(30)
    acc = d2l.evaluate_accuracy(batches, _toy_net())
    assert host_reads["n"] == 1 and 0 <= acc <= 1


class _NanFrom:
    """Cross-entropy that becomes NaN from its k-th call on; counts its calls."""

    def __init__(self, k):
        self.k, self.calls = k, 0

    def __call__(self, y_hat, y):
        self.calls += 1
        loss = nn.functional.cross_entropy(y_hat, y)
        return loss * float("nan") if self.calls >= self.k else loss


@pytest.mark.parametrize("k, epoch, first, last", [
    (1, 1, 1, 50), (50, 1, 1, 50), (51, 1, 51, 100), (73, 1, 51, 100),
    (390, 1, 351, 400),  # noticed at the end of the epoch
    (430, 2, 1, 50),  # in the second epoch: the first one is kept
])
def test_nan_loss_is_noticed_within_50_steps(k, epoch, first, last):
    batches = _toy_batches(400, batch=2)
    net = _toy_net()
    loss = _NanFrom(k)
    with pytest.raises(d2l.TrainingDiverged) as err:
        d2l.train_ch5(net, batches, batches[:2], None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 3,
                      loss=loss, **_quiet())
    noticed_at = loss.calls  # the step after which the loop stopped
    assert k <= noticed_at <= k + 50
    assert noticed_at == (epoch - 1) * 400 + last
    assert f"loss became nan in epoch {epoch}, between batches {first} and {last}" in str(err.value)
    assert "Lower the learning rate" in str(err.value)
    assert len(err.value.history) == epoch - 1


def test_infinite_loss_is_reported_as_inf():
    batches = _toy_batches(3)
    net = _toy_net()

    def inf_loss(y_hat, y):
        return nn.functional.cross_entropy(y_hat, y) + float("inf")

    with pytest.raises(d2l.TrainingDiverged, match="became inf in epoch 1, between batches 1 and 3"):
        d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 1,
                      loss=inf_loss, **_quiet())


def test_batches_already_on_the_device_are_not_copied():
    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear, self.seen = nn.Linear(3, 2), []

        def forward(self, X):
            self.seen.append(X)
            return self.linear(X)

    batches = _toy_batches(3)
    net = Spy()
    d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 1, **_quiet())
    assert len(net.seen) == 6  # 3 training and 3 test batches
    assert all(seen is X for seen, (X, _) in zip(net.seen, batches + batches, strict=True))


def test_per_example_losses_are_averaged_too():
    """A loss with reduction='none' (d2l's chapter 3 style) gives the same history as the mean."""
    batches = _toy_batches(5)
    results = []
    for reduction in ("mean", "none"):
        net = _toy_net()
        history = d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 2,
                                loss=nn.CrossEntropyLoss(reduction=reduction), **_quiet())
        results.append(history.loss)
    assert results[0] == pytest.approx(results[1], rel=1e-6)


class _Recorder(d2l.Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, state):
        self.events.append(("train_begin", state.num_epochs, state.num_batches, str(state.device)))

    def on_epoch_begin(self, state):
        self.events.append(("epoch_begin", state.epoch))

    def on_batch_end(self, state):
        self.events.append(("batch", state.epoch, state.batch, state.synced, state.examples))
        if state.synced:
            assert 0 < state.loss and 0 <= state.train_acc <= 1

    def on_epoch_end(self, state):
        stats = state.history[-1]
        assert (stats.loss, stats.train_acc) == (state.loss, state.train_acc)
        assert state.train_seconds > 0 and state.examples == 4 * state.num_batches
        self.events.append(("epoch_end", state.epoch, len(state.history)))

    def on_train_end(self, state):
        self.events.append(("train_end", len(state.history), state.history.interrupted))


def test_callbacks_are_called_in_order_with_the_state():
    batches = _toy_batches(25)  # read every 10 batches
    net = _toy_net()
    recorder, epochs_seen = _Recorder(), []

    class OnlyEpochEnd:  # any object with some of the hooks will do
        def on_epoch_end(self, state):
            epochs_seen.append(state.epoch)

    d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 2,
                  callbacks=[recorder, OnlyEpochEnd()], **_quiet())
    expected = [("train_begin", 2, 25, "cpu")]
    for epoch in (1, 2):
        expected.append(("epoch_begin", epoch))
        expected += [("batch", epoch, i, i in (10, 20), 4 * i) for i in range(1, 26)]
        expected.append(("epoch_end", epoch, epoch))
    expected.append(("train_end", 2, False))
    assert recorder.events == expected
    assert epochs_seen == [1, 2]


def test_train_end_is_called_after_divergence_and_ctrl_c():
    batches = _toy_batches(3)
    recorder = _Recorder()
    net = _toy_net()
    with pytest.raises(d2l.TrainingDiverged):
        d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 2,
                      loss=_NanFrom(1), callbacks=[recorder], **_quiet())
    assert recorder.events[-1] == ("train_end", 0, False)

    recorder, net = _Recorder(), _toy_net()
    history = d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 3,
                            callbacks=[recorder, _ctrl_c("on_epoch_end")], **_quiet())
    assert history.interrupted and len(history) == 1
    assert recorder.events[-1] == ("train_end", 1, True)


def test_ctrl_c_message_respects_verbose(capsys):
    batches = _toy_batches(3)
    net = _toy_net()
    history = d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 3,
                            callbacks=[_ctrl_c("on_batch_end", epoch=2)], **_quiet())
    assert history.interrupted and len(history) == 1
    assert capsys.readouterr().out == ""


def test_ctrl_c_can_propagate_with_the_history():
    """What a sweep over seeds needs to stop as a whole: catch_interrupt=False."""
    batches = _toy_batches(3)
    net = _toy_net()
    with pytest.raises(KeyboardInterrupt) as err:
        d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 5,
                      callbacks=[_ctrl_c("on_epoch_begin", epoch=3)], catch_interrupt=False, **_quiet())
    assert err.value.history.interrupted and len(err.value.history) == 2


@pytest.mark.parametrize("optimizer", [None, object(), "sgd"])
def test_optimizer_must_be_an_optimizer(optimizer):
    batches = _toy_batches(2)
    with pytest.raises(TypeError, match="optimizer must be a torch.optim optimizer"):
        d2l.train_ch5(_toy_net(), batches, batches, None, optimizer, "cpu", 1, **_quiet())


def test_train_iter_needs_a_length_and_batches():
    net = _toy_net()
    opt = torch.optim.SGD(net.parameters(), 0.1)
    with pytest.raises(TypeError, match="train_iter must have a length"):
        d2l.train_ch5(net, iter(_toy_batches(2)), _toy_batches(2), None, opt, "cpu", 1, **_quiet())
    with pytest.raises(ValueError, match="no batches"):
        d2l.train_ch5(net, [], _toy_batches(2), None, opt, "cpu", 1, **_quiet())
    with pytest.raises(ValueError, match="num_epochs must be a positive integer"):
        d2l.train_ch5(net, _toy_batches(2), _toy_batches(2), None, opt, "cpu", True, **_quiet())


class _FakeHandle:
    def __init__(self, shown):
        self.shown = shown

    def update(self, obj):
        self.shown.append(("update", obj))


@pytest.fixture
def fake_display(monkeypatch):
    """Replace IPython's display by a recorder (what a notebook would receive)."""
    import IPython.display

    shown = []

    def display(obj, display_id=None, **kwargs):
        shown.append(("display", obj, display_id))
        return _FakeHandle(shown)

    monkeypatch.setattr(IPython.display, "display", display)
    return shown


def test_displays_are_on_by_default_when_a_person_watches(monkeypatch, capsys, fake_display):
    from d2lzh_pytorch import progress

    monkeypatch.delenv("BN_BOOK_BUILD", raising=False)
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    batches = _toy_batches(3)
    net = _toy_net()
    d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 2)
    out = capsys.readouterr()
    assert "epoch 1/2" in out.err and "epoch 2/2" in out.err  # the progress bars
    assert out.out.count("\nepoch ") == 2  # the printed lines
    # the live plot: displayed once with a display id, then updated in place
    assert [event[0] for event in fake_display] == ["display", "update"]
    assert fake_display[0][2] is True


def test_displays_are_off_while_the_book_is_built(monkeypatch, capsys, fake_display):
    from d2lzh_pytorch import progress

    monkeypatch.setenv("BN_BOOK_BUILD", "1")
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    batches = _toy_batches(3)
    net = _toy_net()
    d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 2)
    out = capsys.readouterr()
    assert out.err == "" and fake_display == []
    assert out.out.startswith("training on cpu\nepoch 1, loss ")


def test_explicit_switches_beat_the_default(monkeypatch, capsys, fake_display):
    monkeypatch.setenv("BN_BOOK_BUILD", "1")
    batches = _toy_batches(3)
    net = _toy_net()
    d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 1,
                  progress=True, live_plot=False, verbose=False)
    out = capsys.readouterr()
    assert "epoch 1/1" in out.err and out.out == "" and fake_display == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_waits_for_the_gpu_only_at_the_reads():
    """With CUDA's sync debug mode: a synchronising call only at the planned reads."""
    import warnings

    device = torch.device("cuda")
    batches = [(X.to(device), y.to(device)) for X, y in _toy_batches(120)]
    net = _toy_net().to(device)
    optimizer = torch.optim.SGD(net.parameters(), 0.1)
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            torch.ones((), device=device).item()  # the control: one synchronising call
            control = len(caught)
            history = d2l.train_ch5(net, batches, batches[:3], None, optimizer, device, 2, **_quiet())
        finally:
            torch.cuda.set_sync_debug_mode(0)
    if control == 0:
        pytest.skip("this PyTorch build does not report synchronising calls")
    syncs = len(caught) - control
    assert len(history) == 2
    # per epoch: 4 reads within, 1 at the end, 1 for the test accuracy, 1 for the clock
    assert syncs <= 2 * 7


# ---------------------------------------------------------------- mistakes students make (issue 19)


def test_an_optimizer_built_on_another_net_is_refused():
    net, other = _toy_net(), _toy_net()
    batches = _toy_batches(2)
    with pytest.raises(ValueError, match=r"none of net's parameters.*another model.*net\.parameters\(\)"):
        d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(other.parameters(), 0.1), "cpu", 1,
                      **_quiet())
    frozen_head = torch.optim.SGD(net[2].parameters(), 0.1)  # part of the net: fine (fine-tuning)
    d2l.train_ch5(net, batches, batches, None, frozen_head, "cpu", 1, **_quiet())


def test_the_optimizer_class_instead_of_an_optimizer_is_explained():
    net, batches = _toy_net(), _toy_batches(2)
    with pytest.raises(TypeError, match=r"torch\.optim\.SGD, the class.*SGD\(net\.parameters\(\), lr="):
        d2l.train_ch5(net, batches, batches, None, torch.optim.SGD, "cpu", 1, **_quiet())


def test_evaluate_accuracy_with_swapped_arguments_points_to_d2ls_order(small_data):
    _, test_iter = small_data
    with pytest.raises(TypeError, match=r"evaluate_accuracy\(data_iter, net\).*evaluate_accuracy_gpu\(net, "):
        d2l.evaluate_accuracy(_mlp(), test_iter)


@pytest.mark.parametrize("num_classes", [3, 4])  # 4 = batch size: the comparison would broadcast silently
def test_one_hot_labels_are_refused_not_miscounted(num_classes):
    X = torch.zeros(4, 3)
    y = nn.functional.one_hot(torch.tensor([0, 1, 2, 0]), num_classes)
    net = nn.Sequential(nn.Linear(3, num_classes))
    with pytest.raises(ValueError, match=rf"class indices.*shape \(4, {num_classes}\).*argmax\(dim=1\)"):
        d2l.evaluate_accuracy([(X, y)], net)
    with pytest.raises(ValueError, match=r"class indices.*argmax\(dim=1\)"):
        d2l.train_ch5(net, [(X, y.float())], [(X, y.argmax(1))], None, torch.optim.SGD(net.parameters(), 0.1),
                      "cpu", 1, **_quiet())


def test_an_empty_test_iter_is_refused_before_training():
    net, batches = _toy_net(), _toy_batches(2)
    calls = []
    with pytest.raises(ValueError, match="test_iter yields no batches"):
        d2l.train_ch5(net, batches, [], None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 1,
                      callbacks=[type("Spy", (), {"on_batch_end": lambda self, s: calls.append(1)})()],
                      **_quiet())
    assert calls == []  # refused before the first training step


@pytest.mark.parametrize("device, message", [
    ("gpu", r"device 'gpu' is not a device torch knows.*d2l\.try_gpu\(\)"),
    pytest.param("cuda", r"CUDA is not available here.*d2l\.try_gpu\(\)",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_a_device_that_does_not_exist_is_explained(device, message):
    net, batches = _toy_net(), _toy_batches(2)
    with pytest.raises(ValueError, match=message):
        d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), device, 1,
                      **_quiet())
    with pytest.raises(ValueError, match=message):
        d2l.train_ch6(net, batches, batches, 1, 0.1, device, **_quiet())


def test_a_last_batch_of_one_example_is_refused_before_training_with_drop_last_named():
    train_iter, test_iter = d2l.load_data_fashion_mnist(64, num_train=129, num_test=64)
    calls = []
    spy = type("Spy", (), {"on_batch_end": lambda self, s: calls.append(1)})()
    net = _mlp()  # d2l.BatchNorm(32, 2) after a dense layer: (N, C) inputs
    with pytest.raises(ValueError, match=r"last training batch holds 1 example \(129 examples, "
                                         r"batch_size 64\).*BatchNorm.*drop_last=True"):
        d2l.train_ch5(net, train_iter, test_iter, 64, torch.optim.SGD(net.parameters(), 0.1), "cpu", 1,
                      callbacks=[spy], **_quiet())
    assert calls == []
    with pytest.raises(ValueError, match="drop_last=True"):
        d2l.train_ch6(_mlp(), train_iter, test_iter, 1, 0.1, "cpu", **_quiet())
    no_bn = _mlp(bn=False)  # without BN a batch of one is fine
    d2l.train_ch5(no_bn, train_iter, test_iter, 64, torch.optim.SGD(no_bn.parameters(), 0.1), "cpu", 1,
                  **_quiet())
    kept, _ = d2l.load_data_fashion_mnist(64, num_train=129, num_test=64, drop_last=True)
    assert len(kept) == 2 and kept.num_examples == 128
    net = _mlp()
    d2l.train_ch5(net, kept, test_iter, 64, torch.optim.SGD(net.parameters(), 0.1), "cpu", 1, **_quiet())


def test_a_conv_bn_net_trains_on_a_last_batch_of_one():
    # BN after a convolution sees N*H*W values per channel: one example is enough, no refusal
    train_iter, test_iter = d2l.load_data_fashion_mnist(64, num_train=65, num_test=64)
    net = nn.Sequential(nn.Conv2d(1, 4, 5), d2l.BatchNorm(4, 4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10))
    net(torch.zeros(2, 1, 28, 28))
    d2l.train_ch5(net, train_iter, test_iter, 64, torch.optim.SGD(net.parameters(), 0.1), "cpu", 1,
                  **_quiet())


def test_a_frozen_bn_layer_is_not_a_reason_to_refuse():
    train_iter, test_iter = d2l.load_data_fashion_mnist(64, num_train=129, num_test=64)
    net = _mlp()
    d2l.freeze_bn(net)  # kept in eval mode: it normalises one example with its running statistics
    d2l.train_ch5(net, train_iter, test_iter, 64, torch.optim.SGD(net.parameters(), 0.1), "cpu", 1,
                  **_quiet())


def test_a_torch_batchnorm1d_that_fails_on_one_example_names_drop_last():
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randn(4, 3, generator=gen), torch.tensor([0, 1, 0, 1])),
               (torch.randn(1, 3, generator=gen), torch.tensor([1]))]
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"(?s)Expected more than 1 value per channel.*batch 2 of epoch 1 "
                                         r"holds 1 example.*drop_last=True"):
        d2l.train_ch5(net, batches, batches, None, torch.optim.SGD(net.parameters(), 0.1), "cpu", 1,
                      **_quiet())
