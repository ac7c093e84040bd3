"""MNIST and Fashion-MNIST from ``data/``: verify, parse, batch.

The files and their checksums are stated once, as data (``RESOURCES``).
``load_arrays`` verifies the decompressed bytes against them, parses the IDX
format directly and keeps the decoded images in memory; ``TensorBatches``
forms mini-batches by indexing that one tensor (no per-sample PIL/ToTensor,
no worker processes). Only when the files are missing does anything get
downloaded, through torchvision, into the same root.
"""

import functools
import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["FASHION_MNIST_LABELS", "DataIntegrityError", "TensorBatches", "default_data_root", "get_fashion_mnist_labels", "load_arrays", "load_data", "load_data_fashion_mnist", "load_data_mnist"]

# SHA-256 of the *decompressed* IDX files (see data/README.md).
RESOURCES = {
    "MNIST": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "FashionMNIST": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

FASHION_MNIST_LABELS = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)

_IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}


class DataIntegrityError(RuntimeError):
    """A data file exists but its content is not the verified original."""


def default_data_root():
    """Where the data sets live.

    ``$BN_BOOK_DATA`` if set; else the repository's ``data/`` next to the
    package (a clone or an editable install); else ``./data``.
    """
    env = os.environ.get("BN_BOOK_DATA")
    if env:
        return Path(env)
    repo_data = Path(__file__).resolve().parent.parent / "data"
    if any((repo_data / name).is_dir() for name in RESOURCES):
        return repo_data
    return Path.cwd() / "data"


def _file_stem(train, kind):
    split = "train" if train else "t10k"
    ndim = 3 if kind == "images" else 1
    return f"{split}-{kind}-idx{ndim}-ubyte"


def _restore_hint(path):
    return (
        f"Restore it with `git checkout -- {path.parent}` in the book's repository, "
        f"or delete {path} so that it is downloaded again."
    )


def _read_verified(raw_dir, stem, expected_sha256):
    """Return the decompressed bytes of ``raw_dir/stem``(.gz), checked."""
    gz_path = raw_dir / f"{stem}.gz"
    plain_path = raw_dir / stem
    source = gz_path if gz_path.exists() else plain_path
    if source == gz_path:
        try:
            with gzip.open(gz_path, "rb") as fh:
                content = fh.read()
        except (OSError, EOFError, zlib.error) as err:
            raise DataIntegrityError(
                f"{gz_path} is not a readable gzip file ({err}); it is corrupted "
                f"or truncated. {_restore_hint(gz_path)}"
            ) from None
    else:
        content = plain_path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected_sha256:
        raise DataIntegrityError(
            f"{source}: the decompressed content has SHA-256 {digest}, expected "
            f"{expected_sha256} ({len(content)} bytes read). The file is corrupted "
            f"or truncated. {_restore_hint(source)}"
        )
    if source == gz_path:
        _write_plain_copy(plain_path, content)
    return content


def _write_plain_copy(plain_path, content):
    """Leave the decompressed file where torchvision.datasets looks for it."""
    if plain_path.exists() and plain_path.stat().st_size == len(content):
        return
    try:
        tmp = plain_path.with_suffix(".tmp")
        tmp.write_bytes(content)
        tmp.replace(plain_path)
    except OSError:
        pass  # read-only data folder: our loader does not need the copy


def parse_idx(content, ndim):
    """Parse IDX bytes (big-endian header, uint8 payload) into a uint8 array."""
    magic = int.from_bytes(content[:4], "big")
    if magic != _IDX_MAGIC[ndim]:
        raise DataIntegrityError(
            f"not an IDX file with {ndim} dimension(s): magic number {magic:#010x}, "
            f"expected {_IDX_MAGIC[ndim]:#010x}"
        )
    shape = tuple(int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(content) - offset != math.prod(shape):
        raise DataIntegrityError(f"IDX payload holds {len(content) - offset} bytes, header says {shape}")
    return np.frombuffer(content, dtype=np.uint8, offset=offset).reshape(shape)


def _missing_files(raw_dir, name):
    return [
        stem for stem in RESOURCES[name]
        if not (raw_dir / f"{stem}.gz").exists() and not (raw_dir / stem).exists()
    ]


def _download(name, root, missing):
    import torchvision

    raw_dir = Path(root) / name / "raw"
    try:
        getattr(torchvision.datasets, name)(str(root), train=True, download=True)
        getattr(torchvision.datasets, name)(str(root), train=False, download=True)
    except Exception as err:  # network errors come in many types
        files = ", ".join(f"{stem}.gz" for stem in missing)
        raise FileNotFoundError(
            f"{name} is not in {raw_dir} and could not be downloaded ({err}). "
            f"Put the files {files} into {raw_dir} (they are in the book's "
            f"repository under data/{name}/raw/), or set BN_BOOK_DATA to a folder "
            f"that holds {name}/raw/."
        ) from None


@functools.lru_cache(maxsize=8)
def _load_arrays_cached(name, train, root):
    raw_dir = Path(root) / name / "raw"
    images = parse_idx(_read_verified(raw_dir, _file_stem(train, "images"),
                                      RESOURCES[name][_file_stem(train, "images")]), 3)
    labels = parse_idx(_read_verified(raw_dir, _file_stem(train, "labels"),
                                      RESOURCES[name][_file_stem(train, "labels")]), 1)
    if len(images) != len(labels):
        raise DataIntegrityError(f"{raw_dir}: {len(images)} images but {len(labels)} labels")
    images_t = torch.from_numpy(images.copy()).unsqueeze(1)  # N x 1 x 28 x 28, uint8
    labels_t = torch.from_numpy(labels.astype(np.int64))
    return images_t, labels_t


def load_arrays(name, train=True, root=None, download=True):
    """Return ``(images, labels)``: uint8 ``N x 1 x 28 x 28`` and int64 ``N``.

    ``name`` is ``"MNIST"`` or ``"FashionMNIST"``. The content is verified
    against ``RESOURCES``; a damaged file raises ``DataIntegrityError``.
    Missing files are downloaded with torchvision when ``download`` is true.
    """
    if name not in RESOURCES:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(RESOURCES)}")
    root = Path(root) if root is not None else default_data_root()
    missing = _missing_files(root / name / "raw", name)
    if missing:
        if not download:
            raise FileNotFoundError(
                f"{name} files {missing} are missing from {root / name / 'raw'}; "
                f"copy them from the book's repository (data/{name}/raw/) or pass download=True"
            )
        _download(name, root, missing)
    return _load_arrays_cached(name, bool(train), str(root.resolve()))


class TensorBatches:
    """Mini-batches formed by indexing one in-memory uint8 image tensor.

    Each pass (epoch) yields ``(X, y)`` with ``X`` float32 in [0, 1] (or
    ``(x - 0.5) / 0.5`` in [-1, 1] with ``normalize=True``), shape
    ``N x 1 x H x W`` (or ``N x H*W`` with ``flatten=True``), and ``y`` int64.
    With ``shuffle=True`` the order of epoch ``k`` depends only on ``seed``
    and ``k``: two loaders with the same seed give the same batches.
    """

    def __init__(self, images, labels, batch_size, shuffle=False, seed=0,
                 resize=None, flatten=False, normalize=False, drop_last=False):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("images must be a uint8 tensor of shape N x C x H x W")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.resize = (resize, resize) if isinstance(resize, int) else resize
        self.flatten, self.normalize, self.drop_last = flatten, normalize, drop_last
        self.epoch = 0

    @property
    def num_examples(self):
        """Number of examples one pass visits."""
        if self.drop_last:
            return len(self) * self.batch_size
        return len(self.labels)

    def __len__(self):
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def transform(self, images_u8):
        """Turn a uint8 batch into the float32 tensor the model sees."""
        X = images_u8.to(torch.float32).div_(255.0)
        if self.resize is not None:
            X = F.interpolate(X, size=self.resize, mode="bilinear", antialias=True,
                              align_corners=False)
        if self.normalize:
            X = X.sub_(0.5).div_(0.5)
        if self.flatten:
            X = X.reshape(len(X), -1)
        return X

    def __iter__(self):
        n = len(self.labels)
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(n, generator=gen)
        else:
            order = torch.arange(n)
        self.epoch += 1
        stop = len(self) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.transform(self.images.index_select(0, idx)), self.labels.index_select(0, idx)


def _take(images, labels, limit, what):
    if limit is None:
        return images, labels
    if not isinstance(limit, int) or not 1 <= limit <= len(labels):
        raise ValueError(f"{what} must be an integer between 1 and {len(labels)}, got {limit!r}")
    return images[:limit], labels[:limit]


def load_data(name, batch_size, resize=None, root=None, *, flatten=False, normalize=False,
              seed=0, num_train=None, num_test=None, test_batch_size=None, download=True):
    """Return ``(train_iter, test_iter)`` for ``"MNIST"`` or ``"FashionMNIST"``.

    The training iterator is shuffled (seeded); the test iterator is not.
    ``num_train`` / ``num_test`` keep only the first examples of a split.
    """
    train = _take(*load_arrays(name, True, root, download), num_train, "num_train")
    test = _take(*load_arrays(name, False, root, download), num_test, "num_test")
    options = dict(resize=resize, flatten=flatten, normalize=normalize)
    train_iter = TensorBatches(*train, batch_size, shuffle=True, seed=seed, **options)
    test_iter = TensorBatches(*test, test_batch_size or batch_size, shuffle=False, **options)
    return train_iter, test_iter


def load_data_fashion_mnist(batch_size, resize=None, root=None, **options):
    """Fashion-MNIST as ``(train_iter, test_iter)``; see ``load_data``."""
    return load_data("FashionMNIST", batch_size, resize, root, **options)


def load_data_mnist(batch_size, resize=None, root=None, **options):
    """MNIST as ``(train_iter, test_iter)``; see ``load_data``."""
    return load_data("MNIST", batch_size, resize, root, **options)


def get_fashion_mnist_labels(labels):
    """Text names of Fashion-MNIST class indices."""
    return [FASHION_MNIST_LABELS[int(i)] for i in labels]
