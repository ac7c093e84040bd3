"""d2l (d2l-zh 2.x) compatibility: its helpers, ``train_ch6``, and its BN chapter run unchanged.

The chapter's PyTorch code is ``tests/fixtures/d2l_zh_batch_norm.py`` (see its
header). It trains for 10 epochs on all of Fashion-MNIST; the test shrinks that
from outside, without editing the code: ``d2l.load_data_fashion_mnist`` is
replaced by the same loader limited to ``num_train=512, num_test=256``, and
``d2l.train_ch6`` by the same function with ``num_epochs=1``.
"""

import functools
import re
import runpy
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import d2lzh_pytorch as d2l  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "d2l_zh_batch_norm.py"
HEADER_END = "# ---- end of header ----\n"
# d2l-zh's section itself, verbatim (see tests/fixtures/README.md), and its git blob id at COMMIT
ORIGINAL = Path(__file__).parent / "fixtures" / "d2l_zh_batch_norm.md"
ORIGINAL_BLOB = "94d23e962dc481750c967aeae1d80dc6185d191d"
COMMIT = "e6b18ccea71451a55fcd861d7b96fddf2587b09a"
CHAPTER = "chapter_convolutional-modern/batch-norm.md"
D2L_LINES = (r"training on cpu\nloss \d\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}\n"
             r"\d+\.\d examples/sec on cpu\n")


def _batches(num_batches, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 1, 6, 6, generator=gen), torch.randint(0, 3, (8,), generator=gen))
            for _ in range(num_batches)]


def _small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(32, 3))


# --- small helpers ---

def test_timer():
    timer = d2l.Timer()
    time.sleep(0.01)
    first = timer.stop()
    timer.start()
    second = timer.stop()
    assert first >= 0.01 and second >= 0
    assert timer.sum() == pytest.approx(first + second)
    assert timer.avg() == pytest.approx((first + second) / 2)
    assert timer.cumsum() == pytest.approx([first, first + second])


def test_accumulator():
    metric = d2l.Accumulator(3)
    metric.add(1, torch.tensor(2.5), 3)
    metric.add(1, 0.5, torch.tensor(1))
    assert (metric[0], metric[1], metric[2]) == (2.0, 3.0, 4.0)
    metric.reset()
    assert metric.data == [0.0, 0.0, 0.0]


def test_accuracy_counts_correct_predictions():
    y = torch.tensor([0, 2, 1, 1])
    y_hat = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.0, 1.0, 0.0]])
    assert d2l.accuracy(y_hat, y) == 3.0  # a count, as in d2l
    assert d2l.accuracy(torch.tensor([0, 2, 2, 1]), y) == 3.0


def test_evaluate_accuracy_gpu_uses_d2ls_argument_order():
    net, batches = _small_cnn(), _batches(3)
    assert d2l.evaluate_accuracy_gpu(net, batches) == d2l.evaluate_accuracy(batches, net)


def test_the_names_d2l_code_uses_exist():
    import matplotlib.pyplot as plt

    assert d2l.plt is plt
    for name in ("load_data_fashion_mnist", "train_ch6", "try_gpu", "try_all_gpus", "Animator", "Timer",
                 "Accumulator", "accuracy", "evaluate_accuracy_gpu", "use_svg_display", "set_figsize",
                 "set_axes", "get_fashion_mnist_labels", "show_images"):
        assert name in d2l.__all__, name


# --- train_ch6 ---

def test_train_ch6_prints_d2ls_lines_and_returns_the_history(capsys):
    net = _small_cnn()
    history = d2l.train_ch6(net, _batches(6), _batches(2, seed=1), 3, 0.1, torch.device("cpu"))
    assert re.fullmatch(D2L_LINES, capsys.readouterr().out)
    assert isinstance(history, d2l.History) and [s.epoch for s in history] == [1, 2, 3]


def test_train_ch6_reinitialises_linear_and_conv_weights_with_xavier(monkeypatch):
    calls = []
    original = nn.init.xavier_uniform_
    monkeypatch.setattr(nn.init, "xavier_uniform_",
                        lambda tensor, *a, **k: calls.append(tensor) or original(tensor, *a, **k))

    class MyLinear(nn.Linear):  # d2l tests the exact type: subclasses keep their weights
        pass

    net = nn.Sequential(_small_cnn(), MyLinear(3, 3))
    d2l.train_ch6(net, _batches(2), _batches(1), 1, 0.1, "cpu", verbose=False)
    expected = [net[0][0].weight, net[0][4].weight]  # Conv2d and Linear; not BatchNorm, not MyLinear
    assert len(calls) == 2 and all(a is b for a, b in zip(calls, expected, strict=True))


def test_train_ch6_uses_sgd_with_lr(capsys):
    class Snapshot(d2l.Callback):
        def on_train_begin(self, state):
            self.params = [p.detach().clone() for p in state.net.parameters()]

    snapshot = Snapshot()
    net = _small_cnn()
    d2l.train_ch6(net, _batches(3), _batches(1), 1, 0.0, "cpu", callbacks=[snapshot], verbose=False)
    assert all(torch.equal(a, b) for a, b in zip(snapshot.params, net.parameters(), strict=True))
    d2l.train_ch6(net, _batches(3), _batches(1), 1, 0.5, "cpu", callbacks=[snapshot], verbose=False)
    assert not all(torch.equal(a, b) for a, b in zip(snapshot.params, net.parameters(), strict=True))
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("lr", [-0.1, "0.1", float("nan"), None, True])
def test_train_ch6_checks_lr(lr):
    with pytest.raises(ValueError, match="lr must be a non-negative number"):
        d2l.train_ch6(_small_cnn(), _batches(2), _batches(1), 1, lr, "cpu")


def test_train_ch6_checks_num_epochs():
    with pytest.raises(ValueError, match="num_epochs must be a positive integer"):
        d2l.train_ch6(_small_cnn(), _batches(2), _batches(1), 0, 0.1, "cpu")


def test_train_ch6_after_ctrl_c_prints_what_it_has(capsys):
    class CtrlC(d2l.Callback):
        def on_epoch_begin(self, state):
            if state.epoch == 2:
                raise KeyboardInterrupt

    history = d2l.train_ch6(_small_cnn(), _batches(2), _batches(1), 5, 0.1, "cpu", callbacks=[CtrlC()])
    out = capsys.readouterr().out
    assert history.interrupted and len(history) == 1
    assert "interrupted after 1 finished epoch(s)" in out and "examples/sec on cpu" in out


# --- d2l-zh's batch-normalisation chapter, unchanged ---

def _chapter_blocks(markdown):
    """The chapter's code blocks whose #@tab line names pytorch or all, joined as in the fixture."""
    blocks = re.findall(r"^```\{\.python \.input\}\n(#@tab [^\n]*\n.*?)^```$", markdown, flags=re.M | re.S)
    keep = [b for b in blocks
            if {t.strip() for t in b.splitlines()[0][len("#@tab "):].split(",")} & {"pytorch", "all"}]
    return "\n".join(keep)


def _fixture_parts():
    header, _, body = FIXTURE.read_text(encoding="utf-8").partition(HEADER_END)
    return header, body


def test_fixture_header_names_source_commit_and_licence():
    header, body = _fixture_parts()
    assert body, "the header must end with the marker line"
    for needed in ("https://github.com/d2l-ai/d2l-zh", CHAPTER, COMMIT, "Apache License 2.0",
                   "from d2l import torch as d2l", "import d2lzh_pytorch as d2l"):
        assert needed in header, needed
    assert body.count("import d2lzh_pytorch as d2l\n") == 1 and "from d2l import" not in body


def test_the_shipped_original_is_d2l_zhs_file_at_that_commit():
    import hashlib

    content = ORIGINAL.read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()  # what `git hash-object` gives
    assert blob == ORIGINAL_BLOB


def test_fixture_is_the_chapters_code_with_only_the_import_replaced():
    markdown = ORIGINAL.read_text(encoding="utf-8")
    expected = _chapter_blocks(markdown).replace("from d2l import torch as d2l\n",
                                                 "import d2lzh_pytorch as d2l\n")
    assert _fixture_parts()[1] == expected.rstrip("\n") + "\n"


def test_d2l_zh_batch_norm_chapter_runs_unchanged(monkeypatch, capsys):
    """Runs the chapter's code as it is, on 512 training images and 1 epoch instead of 60000 and 10."""
    nets = []
    train_ch6 = d2l.train_ch6

    def one_epoch(net, train_iter, test_iter, num_epochs, lr, device):
        assert (num_epochs, lr) == (10, 1.0)  # the chapter's settings
        nets.append(net)
        return train_ch6(net, train_iter, test_iter, 1, lr, device)

    monkeypatch.setattr(d2l, "load_data_fashion_mnist",
                        functools.partial(d2l.load_data_fashion_mnist, num_train=512, num_test=256))
    monkeypatch.setattr(d2l, "train_ch6", one_epoch)
    namespace = runpy.run_path(str(FIXTURE), run_name="d2l_zh_batch_norm")
    out = capsys.readouterr().out
    device = str(d2l.try_gpu())
    assert re.fullmatch(D2L_LINES.replace("cpu", device) * 2, out), out
    scratch, concise = nets
    assert type(scratch[1]).__name__ == "BatchNorm" and scratch[1] is not d2l.BatchNorm
    assert not torch.equal(scratch[1].moving_mean, torch.zeros_like(scratch[1].moving_mean))  # trained
    assert isinstance(concise[1], nn.BatchNorm2d) and namespace["net"] is concise
    assert concise[1].num_batches_tracked.item() == 2  # 512 images in batches of 256
