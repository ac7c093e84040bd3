"""Data: checksums, class counts, loader shapes, reproducibility, clear errors."""

import gzip
import shutil

import numpy as np
import pytest
import torch
import torchvision

import d2lzh_pytorch as d2l
from d2lzh_pytorch import data as data_mod

# Published class counts of the original splits.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


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


def test_shuffle_is_seeded_reproducible_and_changes_every_epoch():
    first, _ = d2l.load_data_fashion_mnist(100, seed=7, num_train=500)
    second, _ = d2l.load_data_fashion_mnist(100, seed=7, num_train=500)
    other, _ = d2l.load_data_fashion_mnist(100, seed=8, num_train=500)
    epoch1 = torch.cat([y for _, y in first])
    epoch2 = torch.cat([y for _, y in first])  # re-iterable: a second pass works
    assert torch.equal(epoch1, torch.cat([y for _, y in second]))
    assert not torch.equal(epoch1, epoch2)
    assert not torch.equal(epoch1, torch.cat([y for _, y in other]))
    assert sorted(epoch1.tolist()) == sorted(epoch2.tolist())  # a permutation of the same data


def test_test_iterator_is_not_shuffled():
    _, test_iter = d2l.load_data_mnist(1000)
    _, labels = d2l.load_arrays("MNIST", train=False)
    assert torch.equal(torch.cat([y for _, y in test_iter]), labels)


def test_drop_last():
    images, labels = d2l.load_arrays("MNIST", train=False)
    it = d2l.TensorBatches(images[:250], labels[:250], 100, drop_last=True)
    assert len(it) == 2 and it.num_examples == 200 and [len(y) for _, y in it] == [100, 100]


def test_torchvision_reads_the_same_folder_offline():
    d2l.load_arrays("FashionMNIST", train=True)
    ds = torchvision.datasets.FashionMNIST(root=str(d2l.default_data_root()), train=True)
    img, label = ds[0]
    images, labels = d2l.load_arrays("FashionMNIST", train=True)
    assert label == labels[0].item()
    assert torch.equal(torch.from_numpy(np.array(img)), images[0, 0])


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer"),
    ({"batch_size": 10, "num_train": 0}, "num_train must be an integer between 1 and 60000"),
    ({"batch_size": 10, "num_test": 10**6}, "num_test must be an integer between 1 and 10000"),
])
def test_bad_loader_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        d2l.load_data_mnist(**kwargs)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="unknown data set 'CIFAR10'"):
        d2l.load_arrays("CIFAR10")


@pytest.fixture
def data_copy(tmp_path):
    """A private copy of the MNIST files that a test may damage."""
    src = d2l.default_data_root() / "MNIST" / "raw"
    dst = tmp_path / "MNIST" / "raw"
    dst.mkdir(parents=True)
    for f in src.glob("*.gz"):
        shutil.copy(f, dst / f.name)
    data_mod._load_arrays_cached.cache_clear()
    yield tmp_path
    data_mod._load_arrays_cached.cache_clear()


def test_copy_loads_and_writes_torchvision_layout(data_copy):
    images, _ = d2l.load_arrays("MNIST", train=False, root=data_copy)
    assert len(images) == 10000
    assert (data_copy / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()


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


def test_corrupted_plain_file_is_rejected_when_no_gz(data_copy):
    raw = data_copy / "MNIST" / "raw"
    gz = raw / "t10k-images-idx3-ubyte.gz"
    (raw / "t10k-images-idx3-ubyte").write_bytes(gzip.decompress(gz.read_bytes())[:-5])
    gz.unlink()
    with pytest.raises(d2l.DataIntegrityError, match="t10k-images-idx3-ubyte: the decompressed content"):
        d2l.load_arrays("MNIST", train=False, root=data_copy)


def test_missing_files_offline_say_which_files_go_where(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "MNIST", no_network)
    with pytest.raises(FileNotFoundError) as err:
        d2l.load_arrays("MNIST", train=True, root=tmp_path)
    message = str(err.value)
    assert "could not be downloaded" in message and "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "MNIST" / "raw") in message


def test_missing_files_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="are missing from"):
        d2l.load_arrays("FashionMNIST", train=True, root=tmp_path, download=False)


def test_missing_files_are_downloaded_into_the_same_root(tmp_path, monkeypatch):
    calls = []

    def fake_download(root, train, download):
        calls.append((root, train, download))
        src = d2l.default_data_root() / "MNIST" / "raw"
        dst = tmp_path / "MNIST" / "raw"
        dst.mkdir(parents=True, exist_ok=True)
        for f in src.glob("*.gz"):
            shutil.copy(f, dst / f.name)

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_download)
    data_mod._load_arrays_cached.cache_clear()
    images, _ = d2l.load_arrays("MNIST", train=False, root=tmp_path)
    assert len(images) == 10000 and calls[0] == (str(tmp_path), True, True)


def test_idx_parser_rejects_wrong_magic():
    with pytest.raises(d2l.DataIntegrityError, match="magic number"):
        data_mod.parse_idx(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", 3)


def test_data_root_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("BN_BOOK_DATA", str(tmp_path))
    assert d2l.default_data_root() == tmp_path


def test_fashion_labels():
    assert d2l.get_fashion_mnist_labels(torch.tensor([0, 9])) == ["t-shirt", "ankle boot"]
