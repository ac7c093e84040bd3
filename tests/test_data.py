"""Data: checksums, class counts, batches, epochs and reseeding, devices, no hidden writes, clear errors."""

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import d2lzh_pytorch as d2l
from d2lzh_pytorch import data as data_mod

ROOT = Path(__file__).resolve().parent.parent

# Published class counts of the original splits.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _labels_of_one_pass(loader):
    return torch.cat([y for _, y in loader])


def _snapshot(folder):
    """Every file under ``folder`` with its size and modification time (ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(Path(folder).rglob("*"))}


def _copy_mnist(root, pattern):
    """Copy the MNIST ``.gz`` files matching ``pattern`` into ``root/MNIST/raw``."""
    dst = root / "MNIST" / "raw"
    dst.mkdir(parents=True)
    for f in (d2l.default_data_root() / "MNIST" / "raw").glob(pattern):
        shutil.copy(f, dst / f.name)
    d2l.clear_data_cache()
    return root


@pytest.fixture
def data_copy(tmp_path):
    """A private copy of MNIST's test split (its two ``.gz`` files, 1.6 MB) that a test may damage."""
    yield _copy_mnist(tmp_path, "t10k-*.gz")
    d2l.clear_data_cache()


@pytest.fixture
def full_data_copy(tmp_path):
    """A private copy of all four MNIST ``.gz`` files (11 MB), for tests that need the training split."""
    yield _copy_mnist(tmp_path, "*.gz")
    d2l.clear_data_cache()


# ---------------------------------------------------------------- content


@pytest.mark.parametrize("name, train, counts", [
    ("MNIST", True, MNIST_TRAIN_COUNTS),
    ("MNIST", False, MNIST_TEST_COUNTS),
    ("FashionMNIST", True, [6000] * 10),
    ("FashionMNIST", False, [1000] * 10),
])
def test_verified_arrays_and_class_counts(name, train, counts):
    images, labels = d2l.load_arrays(name, train)
    assert images.dtype == torch.uint8 and images.shape == (sum(counts), 1, 28, 28)
    assert labels.dtype == torch.int64
    assert torch.bincount(labels, minlength=10).tolist() == counts


def test_batches_have_the_promised_shape_dtype_and_range():
    train_iter, test_iter = d2l.load_data_fashion_mnist(256)
    assert len(train_iter) == 235 and len(test_iter) == 40
    assert train_iter.num_examples == 60000
    X, y = next(iter(train_iter))
    assert X.shape == (256, 1, 28, 28) and X.dtype == torch.float32
    assert y.shape == (256,) and y.dtype == torch.int64
    assert 0.0 <= X.min() and X.max() <= 1.0 and X.max() > 0.9
    sizes = [len(y) for _, y in test_iter]
    assert sum(sizes) == 10000 and sizes[-1] == 10000 - 39 * 256


def test_options_flatten_normalize_resize_and_subsets():
    train_iter, test_iter = d2l.load_data_mnist(64, flatten=True, normalize=True, num_train=1000,
                                                num_test=300, test_batch_size=128)
    X, _ = next(iter(train_iter))
    assert X.shape == (64, 784) and X.min() >= -1.0 and X.min() < -0.99 and X.max() <= 1.0
    assert train_iter.num_examples == 1000 and len(test_iter) == 3
    resized, _ = d2l.load_data_fashion_mnist(8, resize=32, num_train=16)
    assert next(iter(resized))[0].shape == (8, 1, 32, 32)
    rectangle, _ = d2l.load_data_fashion_mnist(8, resize=(20, 24), num_train=16)
    assert next(iter(rectangle))[0].shape == (8, 1, 20, 24)


def test_test_iterator_is_not_shuffled():
    _, test_iter = d2l.load_data_mnist(1000)
    _, labels = d2l.load_arrays("MNIST", train=False)
    assert torch.equal(_labels_of_one_pass(test_iter), labels)


def test_drop_last():
    images, labels = d2l.load_arrays("MNIST", train=False)
    it = d2l.TensorBatches(images[:250], labels[:250], 100, drop_last=True)
    assert len(it) == 2 and it.num_examples == 200 and [len(y) for _, y in it] == [100, 100]


# ---------------------------------------------------------------- epochs and seeds


def test_shuffle_is_seeded_reproducible_and_changes_every_epoch():
    first, _ = d2l.load_data_fashion_mnist(100, seed=7, num_train=500)
    second, _ = d2l.load_data_fashion_mnist(100, seed=7, num_train=500)
    other, _ = d2l.load_data_fashion_mnist(100, seed=8, num_train=500)
    epoch0 = _labels_of_one_pass(first)
    epoch1 = _labels_of_one_pass(first)  # re-iterable: a second pass works
    assert torch.equal(epoch0, _labels_of_one_pass(second))
    assert not torch.equal(epoch0, epoch1)
    assert not torch.equal(epoch0, _labels_of_one_pass(other))
    assert sorted(epoch0.tolist()) == sorted(epoch1.tolist())  # a permutation of the same data


def test_two_loaders_with_the_same_seed_give_identical_epochs():
    a, _ = d2l.load_data_mnist(64, seed=3, num_train=640)
    b, _ = d2l.load_data_mnist(64, seed=3, num_train=640)
    for _ in range(3):
        for (Xa, ya), (Xb, yb) in zip(a, b, strict=True):
            assert torch.equal(ya, yb) and torch.equal(Xa, Xb)
    assert a.epoch == b.epoch == 3


def test_epoch_advances_only_when_a_pass_is_exhausted():
    loader, _ = d2l.load_data_mnist(50, num_train=200)
    assert loader.epoch == 0
    next(iter(loader))  # a peek
    assert loader.epoch == 0
    for i, _ in enumerate(loader):  # a pass abandoned half-way
        if i == 1:
            break
    assert loader.epoch == 0
    list(loader)
    assert loader.epoch == 1


def test_peeking_does_not_change_later_batches():
    peeked, _ = d2l.load_data_mnist(50, seed=5, num_train=300)
    fresh, _ = d2l.load_data_mnist(50, seed=5, num_train=300)
    X_peek, y_peek = next(iter(peeked))
    first_pass = _labels_of_one_pass(peeked)
    assert torch.equal(first_pass, _labels_of_one_pass(fresh))
    assert torch.equal(first_pass[:50], y_peek)  # the peek saw epoch 0's first batch
    assert torch.equal(_labels_of_one_pass(peeked), _labels_of_one_pass(fresh))  # epoch 1 too


def test_epoch_order_depends_only_on_seed_and_epoch():
    walked, _ = d2l.load_data_mnist(100, seed=11, num_train=400)
    orders = [_labels_of_one_pass(walked) for _ in range(3)]
    jumped, _ = d2l.load_data_mnist(100, seed=0, num_train=400)
    assert jumped.reseed(11).set_epoch(2) is jumped
    assert torch.equal(_labels_of_one_pass(jumped), orders[2])
    assert jumped.epoch == 3
    jumped.set_epoch(0)
    assert torch.equal(_labels_of_one_pass(jumped), orders[0])


def test_reseed_sets_the_seed_and_goes_back_to_epoch_0():
    loader, _ = d2l.load_data_mnist(100, seed=1, num_train=400)
    one = _labels_of_one_pass(loader)
    _labels_of_one_pass(loader)
    assert loader.reseed(2) is loader and (loader.seed, loader.epoch) == (2, 0)
    two = _labels_of_one_pass(loader)
    assert not torch.equal(one, two)
    loader.reseed(1)
    assert torch.equal(_labels_of_one_pass(loader), one)


def test_set_epoch_during_a_pass_wins_over_the_pass_ending():
    loader, _ = d2l.load_data_mnist(100, num_train=400)
    running = iter(loader)
    loader.set_epoch(5)
    list(running)
    assert loader.epoch == 5


def test_old_style_attribute_assignment_still_works():
    old, _ = d2l.load_data_mnist(100, num_train=400)
    new, _ = d2l.load_data_mnist(100, num_train=400)
    list(old)
    old.seed, old.epoch = 4, 0
    new.reseed(4)
    assert torch.equal(_labels_of_one_pass(old), _labels_of_one_pass(new))


@pytest.mark.parametrize("call, message", [
    (lambda it: it.reseed(-1), "seed must be a non-negative integer"),
    (lambda it: it.reseed(True), "seed must be a non-negative integer"),
    (lambda it: it.set_epoch(1.5), "epoch must be a non-negative integer"),
    (lambda it: it.set_epoch(-2), "epoch must be a non-negative integer"),
])
def test_bad_seed_or_epoch(call, message):
    loader, _ = d2l.load_data_mnist(100, num_train=400)
    with pytest.raises(ValueError, match=message):
        call(loader)


# ---------------------------------------------------------------- devices


def test_batches_are_formed_on_the_chosen_device():
    train_iter, test_iter = d2l.load_data_mnist(32, num_train=64, num_test=64, device="meta")
    for loader in (train_iter, test_iter):
        assert loader.device.type == "meta" and loader.images.device.type == "meta"
        X, y = next(iter(loader))
        assert X.device.type == "meta" and y.device.type == "meta"
        assert X.shape == (32, 1, 28, 28) and X.dtype == torch.float32 and y.dtype == torch.int64


def test_to_moves_the_tensors_once():
    images, labels = d2l.load_arrays("MNIST", train=False)
    loader = d2l.TensorBatches(images[:100], labels[:100], 25, shuffle=True, seed=2)
    assert loader.images is not None and loader.to("cpu").images.data_ptr() == images.data_ptr()  # no copy
    assert loader.to("meta") is loader and loader.device.type == "meta"
    assert loader.images.device.type == "meta" and loader.labels.device.type == "meta"
    X, y = next(iter(loader))
    assert X.device.type == "meta" and y.device.type == "meta"


def test_cpu_batches_need_no_copy_in_the_training_loop():
    train_iter, _ = d2l.load_data_mnist(32, num_train=64, device="cpu")
    X, y = next(iter(train_iter))
    assert X.to(train_iter.device) is X and y.to("cpu") is y


def test_resize_and_normalize_run_on_the_device():
    train_iter, _ = d2l.load_data_mnist(8, num_train=16, resize=32, normalize=True, flatten=True,
                                        device="meta")
    X, _ = next(iter(train_iter))
    assert X.device.type == "meta" and X.shape == (8, 32 * 32)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_batches_equal_cpu_batches():
    on_gpu, _ = d2l.load_data_fashion_mnist(64, num_train=256, resize=32, seed=4, device="cuda")
    on_cpu, _ = d2l.load_data_fashion_mnist(64, num_train=256, resize=32, seed=4)
    for (Xg, yg), (Xc, yc) in zip(on_gpu, on_cpu, strict=True):
        assert Xg.is_cuda and yg.is_cuda and Xg.to("cuda") is Xg
        assert torch.equal(yg.cpu(), yc) and torch.allclose(Xg.cpu(), Xc, atol=1e-5)


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="is not a device torch knows"):
        d2l.load_data_mnist(32, num_train=64, device="gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="not available here.*try_gpu"):
        d2l.load_data_mnist(32, num_train=64, device="cuda")


# ---------------------------------------------------------------- no hidden writes, no shared tensors


def test_loading_leaves_the_repository_data_folder_unchanged():
    root = d2l.default_data_root()
    before = _snapshot(root)
    d2l.clear_data_cache()
    for name in ("MNIST", "FashionMNIST"):
        for train in (True, False):
            d2l.load_arrays(name, train)
        train_iter, _ = d2l.load_data(name, 1000, num_train=2000)
        list(train_iter)
    assert _snapshot(root) == before


def test_loading_from_gz_only_writes_nothing(full_data_copy):
    before = _snapshot(full_data_copy)
    images, _ = d2l.load_arrays("MNIST", train=False, root=full_data_copy)
    d2l.load_data_mnist(100, root=full_data_copy, num_train=500)
    assert len(images) == 10000
    assert _snapshot(full_data_copy) == before
    assert not (full_data_copy / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()


def test_callers_cannot_change_the_cached_tensors():
    images, labels = d2l.load_arrays("MNIST", train=False)
    expected_images, expected_labels = images.clone(), labels.clone()
    images.zero_()
    labels.fill_(3)
    again_images, again_labels = d2l.load_arrays("MNIST", train=False)
    assert torch.equal(again_images, expected_images) and torch.equal(again_labels, expected_labels)
    test_iter = d2l.load_data_mnist(100)[1]
    test_iter.images.zero_()  # the loader's own copy
    assert torch.equal(d2l.load_arrays("MNIST", train=False)[0], expected_images)


def test_cache_is_keyed_on_the_resolved_root(data_copy):
    d2l.load_arrays("MNIST", train=False, root=data_copy)
    d2l.load_arrays("MNIST", train=False, root=str(data_copy / "MNIST" / ".."))
    info = data_mod._load_arrays_cached.cache_info()
    assert (info.misses, info.hits) == (1, 1)


# ---------------------------------------------------------------- torchvision layout


def test_ensure_torchvision_layout_lets_torchvision_read_offline(full_data_copy):
    assert d2l.ensure_torchvision_layout(full_data_copy, names=["MNIST"]) == full_data_copy
    raw = full_data_copy / "MNIST" / "raw"
    for stem, sha256 in data_mod.RESOURCES["MNIST"].items():
        assert hashlib.sha256((raw / stem).read_bytes()).hexdigest() == sha256
    assert not list(raw.glob("*.tmp")) and not list(raw.glob(".*"))
    ds = torchvision.datasets.MNIST(root=str(full_data_copy), train=False)  # download=False: offline
    images, labels = d2l.load_arrays("MNIST", train=False, root=full_data_copy)
    img, label = ds[0]
    assert len(ds) == 10000 and label == labels[0].item()
    assert torch.equal(torch.from_numpy(np.array(img)), images[0, 0])
    assert torch.equal(ds.targets, labels)


def test_ensure_torchvision_layout_is_idempotent_and_repairs(full_data_copy):
    d2l.ensure_torchvision_layout(full_data_copy, names="MNIST")
    raw = full_data_copy / "MNIST" / "raw"
    before = _snapshot(full_data_copy)
    d2l.ensure_torchvision_layout(full_data_copy, names="MNIST")
    assert _snapshot(full_data_copy) == before  # verified copies are not rewritten
    damaged = raw / "t10k-labels-idx1-ubyte"
    damaged.write_bytes(damaged.read_bytes()[:-3])
    d2l.ensure_torchvision_layout(full_data_copy, names="MNIST")
    expected = data_mod.RESOURCES["MNIST"]["t10k-labels-idx1-ubyte"]
    assert hashlib.sha256(damaged.read_bytes()).hexdigest() == expected


def test_ensure_torchvision_layout_rejects_unknown_names(full_data_copy):
    with pytest.raises(ValueError, match="unknown data set 'CIFAR10'"):
        d2l.ensure_torchvision_layout(full_data_copy, names=["MNIST", "CIFAR10"])
    assert not (full_data_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").exists()


def test_ensure_torchvision_layout_unwritable_folder_is_a_clear_error(full_data_copy, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data_mod.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match="is not writable.*BN_BOOK_DATA"):
        d2l.ensure_torchvision_layout(full_data_copy, names=["MNIST"])


def test_failed_write_leaves_no_temporary_file(full_data_copy, monkeypatch):
    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(data_mod.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        d2l.ensure_torchvision_layout(full_data_copy, names=["MNIST"])
    raw = full_data_copy / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{s}.gz" for s in data_mod.RESOURCES["MNIST"])


_TRY_TO_WRITE = """
import sys
import d2lzh_pytorch as d2l
try:
    d2l.ensure_torchvision_layout(sys.argv[1], names=["MNIST"])
except PermissionError as err:
    print(f"PermissionError: {err}")
    sys.exit(3)
"""


# root may write anywhere through its capabilities (CAP_DAC_OVERRIDE, ...); without them, the
# permission bits hold for it too, as for any user
_AS_ROOT_WITHOUT_OVERRIDES = ["setpriv", "--inh-caps=-dac_override,-dac_read_search,-fowner",
                              "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file permissions")
@pytest.mark.skipif(os.name == "posix" and os.geteuid() == 0 and not shutil.which("setpriv"),
                    reason="as root, needs setpriv (util-linux) to drop the capability to ignore permissions")
def test_ensure_torchvision_layout_read_only_folder(full_data_copy):
    """A folder its user may not write to, for real (in a child process; as root, as in CI, one
    that has given up root's right to ignore permissions)."""
    raw = full_data_copy / "MNIST" / "raw"
    raw.chmod(0o555)
    try:
        prefix = _AS_ROOT_WITHOUT_OVERRIDES if os.geteuid() == 0 else []
        child = subprocess.run(prefix + [sys.executable, "-c", _TRY_TO_WRITE, str(full_data_copy)],
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                               text=True, timeout=120)
        assert child.returncode == 3, child.stdout + child.stderr
        assert re.search("PermissionError: .*is not writable", child.stdout), child.stdout
        assert sorted(p.name for p in raw.iterdir()) == sorted(f"{s}.gz" for s in data_mod.RESOURCES["MNIST"])
    finally:
        raw.chmod(0o755)


# ---------------------------------------------------------------- damaged or missing files


def test_truncated_gzip_names_the_file_and_the_fix(data_copy):
    path = data_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])
    expected = "t10k-labels-idx1-ubyte.gz.*(corrupted|truncated)"
    with pytest.raises(d2l.DataIntegrityError, match=expected) as err:
        d2l.load_arrays("MNIST", train=False, root=data_copy)
    assert "git checkout" in str(err.value)


def test_corrupted_content_is_rejected_not_reused(data_copy):
    path = data_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[100] = (content[100] + 1) % 10  # one wrong label
    path.write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(d2l.DataIntegrityError, match="SHA-256"):
        d2l.load_arrays("MNIST", train=False, root=data_copy)


def test_plain_file_alone_is_read_and_verified(data_copy):
    raw = data_copy / "MNIST" / "raw"
    gz = raw / "t10k-images-idx3-ubyte.gz"
    (raw / "t10k-images-idx3-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    assert len(d2l.load_arrays("MNIST", train=False, root=data_copy)[0]) == 10000
    d2l.clear_data_cache()
    (raw / "t10k-images-idx3-ubyte").write_bytes(gzip.decompress(
        (d2l.default_data_root() / "MNIST" / "raw" / gz.name).read_bytes())[:-5])
    with pytest.raises(d2l.DataIntegrityError, match="t10k-images-idx3-ubyte: the decompressed content"):
        d2l.load_arrays("MNIST", train=False, root=data_copy)


def test_missing_files_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="are missing from"):
        d2l.load_arrays("FashionMNIST", train=True, root=tmp_path, download=False)
    assert list(tmp_path.iterdir()) == []


def test_idx_parser_rejects_wrong_magic():
    with pytest.raises(d2l.DataIntegrityError, match="magic number"):
        data_mod.parse_idx(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", 3)


@pytest.mark.parametrize("content, message", [
    # cut inside the header: no negative byte count, the header's size is named
    (b"\x00\x00\x08\x03" + b"\x00" * 10, r"header is cut short: 14 bytes, a 3-D IDX header has 16"),
    # cut inside the payload: the bytes the header promises are named
    (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"\x05", r"payload holds 1 bytes, but the header's "
                                                              r"shape \(3,\) needs 3"),
])
def test_idx_parser_explains_a_truncated_file(content, message):
    with pytest.raises(d2l.DataIntegrityError, match=message):
        data_mod.parse_idx(content, 3 if len(content) == 14 else 1)
    full = b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"\x05\x06\x07"
    assert data_mod.parse_idx(full, 1).tolist() == [5, 6, 7]


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer"),
    ({"batch_size": True}, "batch_size must be a positive integer"),
    ({"batch_size": 10, "test_batch_size": 0}, "test_batch_size must be a positive integer"),
    ({"batch_size": 10, "num_train": 0}, "num_train must be an integer between 1 and 60000"),
    ({"batch_size": 10, "num_train": True}, "num_train must be an integer between 1 and 60000"),
    ({"batch_size": 10, "num_test": 10**6}, "num_test must be an integer between 1 and 10000"),
    ({"batch_size": 10, "resize": 0}, r"resize must be None, a positive integer .* got 0"),
    ({"batch_size": 10, "resize": -28}, "resize must be None, a positive integer"),
    ({"batch_size": 10, "resize": 2.5}, "resize must be None, a positive integer"),
    ({"batch_size": 10, "resize": "32"}, "resize must be None, a positive integer"),
    ({"batch_size": 10, "resize": True}, "resize must be None, a positive integer"),
    ({"batch_size": 10, "resize": (32, 0)}, r"\(height, width\) pair of positive integers"),
    ({"batch_size": 10, "resize": (32, 32, 1)}, r"\(height, width\) pair"),
    ({"batch_size": 10, "flatten": "yes"}, "flatten must be True or False"),
    ({"batch_size": 10, "seed": -1}, "seed must be a non-negative integer"),
])
def test_bad_loader_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        d2l.load_data_mnist(**kwargs)


def test_bad_tensor_batches_arguments():
    images, labels = d2l.load_arrays("MNIST", train=False)
    with pytest.raises(ValueError, match="images must be a uint8 tensor"):
        d2l.TensorBatches(images.float(), labels, 10)
    with pytest.raises(ValueError, match="labels must be a one-dimensional integer tensor"):
        d2l.TensorBatches(images, labels.float(), 10)
    with pytest.raises(ValueError, match="10000 images but 9999 labels"):
        d2l.TensorBatches(images, labels[:-1], 10)
    with pytest.raises(ValueError, match="shuffle must be True or False"):
        d2l.TensorBatches(images, labels, 10, shuffle=None)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="unknown data set 'CIFAR10'"):
        d2l.load_arrays("CIFAR10")


def test_data_root_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("BN_BOOK_DATA", str(tmp_path))
    assert d2l.default_data_root() == tmp_path


def test_fashion_labels():
    assert d2l.get_fashion_mnist_labels(torch.tensor([0, 9])) == ["t-shirt", "ankle boot"]


# ---------------------------------------------------------------- mistakes students make (issue 19)


@pytest.mark.parametrize("call", [
    lambda: d2l.load_data_mnist(100, num_train=400, seed=2**62),
    lambda: d2l.load_data_mnist(100, num_train=400, seed=2**32),
    lambda: d2l.load_data_mnist(100, num_train=400)[0].reseed(2**40),
    lambda: d2l.TensorBatches(*d2l.load_arrays("MNIST", train=False), 10, shuffle=True, seed=2**33),
], ids=["load_data 2**62", "load_data 2**32", "reseed", "TensorBatches"])
def test_a_seed_too_large_for_the_generators_is_refused_up_front(call):
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer up to 2\*\*32 - 1"):
        call()


def test_the_largest_seed_and_a_large_epoch_work():
    loader, _ = d2l.load_data_mnist(100, num_train=200, seed=2**32 - 1)
    next(iter(loader.set_epoch(10**6)))
    with pytest.raises(ValueError, match=r"epoch must be a non-negative integer up to 2\*\*32 - 1"):
        loader.set_epoch(2**40)


def test_load_data_can_drop_the_last_training_batch():
    train_iter, test_iter = d2l.load_data_mnist(100, num_train=250, num_test=250, drop_last=True)
    assert [len(y) for _, y in train_iter] == [100, 100] and train_iter.num_examples == 200
    assert [len(y) for _, y in test_iter] == [100, 100, 50]  # the test set is evaluated whole
    with pytest.raises(ValueError, match="drop_last must be True or False"):
        d2l.load_data_mnist(100, num_train=250, drop_last="yes")


@pytest.mark.parametrize("labels", [[10], [-1], [1.7], torch.tensor([1.0]), [[1, 2]], ["3"]], ids=repr)
def test_fashion_labels_refuse_what_is_not_a_class_index(labels):
    with pytest.raises(ValueError, match=r"class indices from 0 to 9"):
        d2l.get_fashion_mnist_labels(labels)


def test_fashion_labels_accept_lists_arrays_and_empty():
    assert d2l.get_fashion_mnist_labels([1, np.int64(7)]) == ["trouser", "sneaker"]
    assert d2l.get_fashion_mnist_labels(np.array([8])) == ["bag"]
    assert d2l.get_fashion_mnist_labels([]) == []


def test_a_root_with_a_tilde_is_the_home_folder(data_copy, monkeypatch):
    monkeypatch.setenv("HOME", str(data_copy))
    images, _ = d2l.load_arrays("MNIST", train=False, root="~", download=False)
    assert images.shape == (10000, 1, 28, 28)
    monkeypatch.setenv("BN_BOOK_DATA", "~")
    assert d2l.default_data_root() == data_copy


def test_the_test_split_needs_only_the_test_files(data_copy):
    for f in (data_copy / "MNIST" / "raw").glob("train-*"):
        f.unlink()
    images, labels = d2l.load_arrays("MNIST", train=False, root=data_copy, download=False)
    assert len(images) == len(labels) == 10000
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.*are missing"):
        d2l.load_arrays("MNIST", train=True, root=data_copy, download=False)
