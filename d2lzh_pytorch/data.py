"""MNIST and Fashion-MNIST from ``data/``: verify, parse, batch.

The files and their checksums are stated once, as data (``RESOURCES``).
``load_arrays`` verifies the decompressed bytes against them, parses the IDX
format directly and keeps the decoded images in memory; ``TensorBatches``
forms mini-batches by indexing that one tensor (no per-sample PIL/ToTensor,
no worker processes), on the CPU or on the device the tensors were put on.

Side effects, all explicit:

* Reading writes nothing. Only when files are *missing* and ``download`` is
  true (the default, for a notebook opened alone in Colab) are the ``.gz``
  files fetched from torchvision's mirrors (``torchvision.datasets.MNIST.mirrors``
  / ``FashionMNIST.mirrors``), verified, and written into ``root/<Name>/raw/``.
* ``ensure_torchvision_layout`` writes the decompressed IDX files where
  ``torchvision.datasets.MNIST/FashionMNIST`` look for them; call it before
  using torchvision's classes on the same folder.
* The decoded tensors are cached per (data set, split, resolved root); every
  caller gets its own copy, so an in-place change never reaches the cache.
"""

import functools
import gzip
import hashlib
import http.client
import math
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .utils import book_seed

__all__ = ["FASHION_MNIST_LABELS", "DataIntegrityError", "TensorBatches", "clear_data_cache",
           "default_data_root", "ensure_torchvision_layout", "get_fashion_mnist_labels", "load_arrays",
           "load_data", "load_data_fashion_mnist", "load_data_mnist"]

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

    ``$BN_BOOK_DATA`` if set (``~`` is the home folder); else the repository's
    ``data/`` next to the package (a clone or an editable install); else ``./data``.
    """
    env = os.environ.get("BN_BOOK_DATA")
    if env:
        return Path(env).expanduser()
    repo_data = Path(__file__).resolve().parent.parent / "data"
    if any((repo_data / name).is_dir() for name in RESOURCES):
        return repo_data
    return Path.cwd() / "data"


# ---------------------------------------------------------------- argument checks


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_positive_int(value, what, hint=""):
    if not _is_int(value) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}{hint}")
    return int(value)


def _check_bool(value, what):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{what} must be True or False, got {value!r}")
    return bool(value)


_MAX_SEED = 2**32 - 1  # the range NumPy's and set_seed's seeds have; the shuffling seed stays in it


def _check_seed(value, what="seed"):
    if not _is_int(value) or not 0 <= value <= _MAX_SEED:
        raise ValueError(f"{what} must be a non-negative integer up to 2**32 - 1, got {value!r}")
    return int(value)


def _check_resize(resize):
    hint = ("resize must be None, a positive integer (a square side, e.g. resize=32) or a "
            "(height, width) pair of positive integers, e.g. resize=(32, 32); got ")
    if resize is None:
        return None
    if _is_int(resize):
        if resize < 1:
            raise ValueError(hint + repr(resize))
        return int(resize), int(resize)
    if isinstance(resize, (tuple, list)) and len(resize) == 2 and all(_is_int(v) and v >= 1 for v in resize):
        return int(resize[0]), int(resize[1])
    raise ValueError(hint + repr(resize))


def _check_name(name):
    if name not in RESOURCES:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(RESOURCES)}")
    return name


def _as_device(device):
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device {device!r} is not a device torch knows ({err}); use 'cpu', 'cuda', 'cuda:0', "
            f"'mps' or d2l.try_gpu()") from None


def _to_device(tensor, device, copy=False):
    try:
        return tensor.to(device, copy=copy)
    except (RuntimeError, AssertionError) as err:
        raise ValueError(
            f"cannot put the data on {device}: {err}. If that device is not available here, "
            f"pick one that exists with d2l.try_gpu() (it falls back to the CPU).") from None


# ---------------------------------------------------------------- files


def _file_stem(train, kind):
    split = "train" if train else "t10k"
    ndim = 3 if kind == "images" else 1
    return f"{split}-{kind}-idx{ndim}-ubyte"


def _restore_hint(path):
    return (
        f"Restore it with `git checkout -- {path.parent}` in the book's repository, "
        f"or delete {path} so that it is downloaded again."
    )


def _gunzip(gz_bytes, source):
    try:
        return gzip.decompress(gz_bytes)
    except (OSError, EOFError, zlib.error) as err:
        raise DataIntegrityError(
            f"{source} is not a readable gzip file ({err}); it is corrupted "
            f"or truncated. {_restore_hint(Path(source)) if isinstance(source, Path) else ''}".rstrip()
        ) from None


def _read_verified(raw_dir, stem, expected_sha256):
    """Return the decompressed bytes of ``raw_dir/stem``(.gz), checked. Writes nothing."""
    gz_path = raw_dir / f"{stem}.gz"
    plain_path = raw_dir / stem
    source = gz_path if gz_path.exists() else plain_path
    content = _gunzip(gz_path.read_bytes(), gz_path) if source == gz_path else plain_path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected_sha256:
        raise DataIntegrityError(
            f"{source}: the decompressed content has SHA-256 {digest}, expected "
            f"{expected_sha256} ({len(content)} bytes read). The file is corrupted "
            f"or truncated. {_restore_hint(source)}"
        )
    return content


def _atomic_write(path, content):
    """Write ``content`` to ``path`` through a temporary file and a rename (never half a file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise PermissionError(
            f"cannot write {path}: {err}. The folder {path.parent} is not writable; copy the "
            f"data folder somewhere writable and point BN_BOOK_DATA (or root=) at it.") from err
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse_idx(content, ndim):
    """Parse IDX bytes (big-endian header, uint8 payload) into a uint8 array."""
    magic = int.from_bytes(content[:4], "big")
    if magic != _IDX_MAGIC[ndim]:
        raise DataIntegrityError(
            f"not an IDX file with {ndim} dimension(s): magic number {magic:#010x}, "
            f"expected {_IDX_MAGIC[ndim]:#010x}"
        )
    offset = 4 + 4 * ndim
    if len(content) < offset:
        raise DataIntegrityError(f"IDX header is cut short: {len(content)} bytes, a {ndim}-D IDX header "
                                 f"has {offset}; the file is truncated")
    shape = tuple(int.from_bytes(content[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(content) - offset != math.prod(shape):
        raise DataIntegrityError(f"IDX payload holds {len(content) - offset} bytes, but the header's shape "
                                 f"{shape} needs {math.prod(shape)}; the file is truncated or corrupted")
    return np.frombuffer(content, dtype=np.uint8, offset=offset).reshape(shape)


def _missing_files(raw_dir, name, stems=None):
    return [
        stem for stem in (RESOURCES[name] if stems is None else stems)
        if not (raw_dir / f"{stem}.gz").exists() and not (raw_dir / stem).exists()
    ]


def _mirrors(name):
    """torchvision's mirror list for ``name`` (``torchvision.datasets.<name>.mirrors``)."""
    import torchvision

    return list(getattr(torchvision.datasets, name).mirrors)


def _fetch(url, timeout):
    request = urllib.request.Request(url, headers={"User-Agent": "d2lzh_pytorch"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def _download(name, root, missing, timeout=60):
    """Fetch the ``missing`` files of ``name`` into ``root/name/raw`` from torchvision's mirrors.

    Each file is verified (decompressed SHA-256) before it is written, atomically.
    """
    raw_dir = Path(root) / name / "raw"
    mirrors = _mirrors(name)
    failures = {}
    for stem in missing:
        errors = []
        for mirror in mirrors:
            url = f"{mirror}{stem}.gz"
            try:
                gz_bytes = _fetch(url, timeout)
                digest = hashlib.sha256(_gunzip(gz_bytes, url)).hexdigest()
            except (OSError, ValueError, http.client.HTTPException, DataIntegrityError) as err:
                errors.append(f"{url}: {getattr(err, 'reason', err)}")
                continue
            if digest != RESOURCES[name][stem]:
                errors.append(f"{url}: decompressed SHA-256 {digest}, expected {RESOURCES[name][stem]}")
                continue
            _atomic_write(raw_dir / f"{stem}.gz", gz_bytes)
            break
        else:
            failures[stem] = errors
    if failures:
        files = ", ".join(f"{stem}.gz" for stem in failures)
        tried = "; ".join(error for errors in failures.values() for error in errors) or "no mirror is listed"
        raise FileNotFoundError(
            f"{name} is not in {raw_dir} and could not be downloaded (tried: {tried}). "
            f"Put the files {files} into {raw_dir} (they are in the book's "
            f"repository under data/{name}/raw/), or set BN_BOOK_DATA to a folder "
            f"that holds {name}/raw/, or run again with a working internet connection."
        )


def _ensure_files(name, root, download, stems=None):
    """Make sure the files ``stems`` (default: all) of ``name`` are in ``root``.

    If some are missing and ``download`` is true, every missing file of ``name`` is fetched.
    """
    raw_dir = root / name / "raw"
    missing = _missing_files(raw_dir, name, stems)
    if missing:
        if not download:
            raise FileNotFoundError(
                f"{name} files {missing} are missing from {raw_dir}; "
                f"copy them from the book's repository (data/{name}/raw/) or pass download=True"
            )
        _download(name, root, _missing_files(raw_dir, name))


def ensure_torchvision_layout(root=None, names=("MNIST", "FashionMNIST"), download=True):
    """Write the decompressed IDX files where ``torchvision.datasets.MNIST/FashionMNIST`` read them.

    torchvision reads ``root/<Name>/raw/<file>`` (not the ``.gz``); this
    decompresses each verified ``.gz`` next to itself, atomically, unless a
    verified copy is already there. Missing ``.gz`` files are downloaded first
    when ``download`` is true. Returns ``root`` as a ``Path``, so that::

        torchvision.datasets.FashionMNIST(d2l.ensure_torchvision_layout(names=["FashionMNIST"]))

    works offline. A read-only folder raises ``PermissionError`` saying so.
    """
    root = Path(root).expanduser() if root is not None else default_data_root()
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        _check_name(name)
    for name in names:
        _ensure_files(name, root, download)
        raw_dir = root / name / "raw"
        for stem, sha256 in RESOURCES[name].items():
            plain = raw_dir / stem
            if plain.exists() and hashlib.sha256(plain.read_bytes()).hexdigest() == sha256:
                continue
            content = _read_verified(raw_dir, stem, sha256)
            _atomic_write(plain, content)
    return root


# ---------------------------------------------------------------- arrays


@functools.lru_cache(maxsize=8)
def _load_arrays_cached(name, train, root):
    raw_dir = root / name / "raw"
    images = parse_idx(_read_verified(raw_dir, _file_stem(train, "images"),
                                      RESOURCES[name][_file_stem(train, "images")]), 3)
    labels = parse_idx(_read_verified(raw_dir, _file_stem(train, "labels"),
                                      RESOURCES[name][_file_stem(train, "labels")]), 1)
    if len(images) != len(labels):
        raise DataIntegrityError(f"{raw_dir}: {len(images)} images but {len(labels)} labels")
    images_t = torch.from_numpy(images.copy()).unsqueeze(1)  # N x 1 x 28 x 28, uint8
    labels_t = torch.from_numpy(labels.astype(np.int64))
    return images_t, labels_t


def _cached_arrays(name, train, root, download):
    """The cached (shared) tensors: internal only, callers get copies."""
    _check_name(name)
    root = Path(root).expanduser() if root is not None else default_data_root()
    _ensure_files(name, root, download, [_file_stem(train, "images"), _file_stem(train, "labels")])
    return _load_arrays_cached(name, bool(train), root.resolve())


def clear_data_cache():
    """Forget the decoded tensors, so that the next load reads and verifies the files again."""
    _load_arrays_cached.cache_clear()


def load_arrays(name, train=True, root=None, download=True):
    """Return ``(images, labels)``: uint8 ``N x 1 x 28 x 28`` and int64 ``N``, the caller's own copy.

    ``name`` is ``"MNIST"`` or ``"FashionMNIST"``. The content is verified
    against ``RESOURCES``; a damaged file raises ``DataIntegrityError``.
    Missing files are downloaded (into ``root``) when ``download`` is true.
    The decoded data is cached, but each call returns fresh tensors, so
    changing them in place does not affect later calls.
    """
    images, labels = _cached_arrays(name, train, root, download)
    return images.clone(), labels.clone()


# ---------------------------------------------------------------- batches


class TensorBatches:
    """Mini-batches formed by indexing one uint8 image tensor, on the CPU or on a device.

    Each pass (epoch) yields ``(X, y)`` with ``X`` float32 in [0, 1] (or
    ``(x - 0.5) / 0.5`` in [-1, 1] with ``normalize=True``), shape
    ``N x 1 x H x W`` (or ``N x H*W`` with ``flatten=True``), and ``y`` int64,
    both on ``device``.

    **Device.** ``device=None`` keeps the tensors where they are;
    ``device="cuda"`` (or ``.to(device)``) moves them there once, and every
    batch is then indexed, converted and resized on that device, so a
    training loop's ``X.to(device)`` costs nothing.

    **Order.** With ``shuffle=True`` the order of epoch ``k`` depends only on
    ``(seed, k)`` (the permutation is drawn on the CPU, so it is the same on
    every device): two loaders with the same seed give the same batches.
    ``epoch`` is the epoch the next pass uses. It advances by one only when
    a pass is run to its end; a pass that is abandoned (``next(iter(loader))``
    to peek at a batch, a ``break``) leaves it alone, so peeking never changes
    later batches. ``reseed(seed)`` sets the seed and goes back to epoch 0;
    ``set_epoch(k)`` picks epoch ``k`` (like ``DistributedSampler.set_epoch``).

    The loader keeps references to ``images``/``labels`` (or device copies)
    and never modifies them.
    """

    def __init__(self, images, labels, batch_size, shuffle=False, seed=0,
                 resize=None, flatten=False, normalize=False, drop_last=False, device=None):
        self.batch_size = _check_positive_int(batch_size, "batch_size", " (e.g. batch_size=256)")
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("images must be a uint8 tensor of shape N x C x H x W "
                             "(as d2l.load_arrays returns)")
        if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point():
            raise ValueError("labels must be a one-dimensional integer tensor with one label per image")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.shuffle = _check_bool(shuffle, "shuffle")
        self.flatten = _check_bool(flatten, "flatten")
        self.normalize = _check_bool(normalize, "normalize")
        self.drop_last = _check_bool(drop_last, "drop_last")
        self.resize = _check_resize(resize)
        self._seed = _check_seed(seed)
        self._epoch = 0
        self._version = 0  # bumped by reseed/set_epoch: a pass begun before does not advance the epoch
        self._images, self._labels = images, labels
        self.to(images.device if device is None else device)

    # ---- state, read-only unless through the methods
    images = property(lambda self: self._images, doc="The uint8 images (N x C x H x W) batches are cut from.")
    labels = property(lambda self: self._labels, doc="The int64 labels, one per image.")
    device = property(lambda self: self._images.device, doc="Where the tensors and the batches live.")

    @property
    def seed(self):
        """The shuffling seed (set it with ``reseed``)."""
        return self._seed

    @seed.setter
    def seed(self, value):  # old style `loader.seed = s`; prefer reseed(s)
        self._seed = _check_seed(value)
        self._version += 1

    @property
    def epoch(self):
        """The epoch the next pass uses (0-based); it advances when a pass is exhausted."""
        return self._epoch

    @epoch.setter
    def epoch(self, value):  # old style `loader.epoch = k`; prefer set_epoch(k)
        self.set_epoch(value)

    def reseed(self, seed):
        """Shuffle with ``seed`` from now on and go back to epoch 0; returns the loader."""
        self._seed = _check_seed(seed)
        self._epoch = 0
        self._version += 1
        return self

    def set_epoch(self, epoch):
        """Make the next pass epoch ``epoch`` (its order depends only on seed and epoch).

        Returns the loader.
        """
        self._epoch = _check_seed(epoch, "epoch")
        self._version += 1
        return self

    def to(self, device):
        """Move the tensors to ``device`` once (no copy if they are there already); returns the loader."""
        device = _as_device(device)
        self._images = _to_device(self._images, device)
        self._labels = _to_device(self._labels.to(torch.int64), device)
        return self

    # ---- sizes
    @property
    def num_examples(self):
        """Number of examples one pass visits."""
        if self.drop_last:
            return len(self) * self.batch_size
        return len(self._labels)

    def __len__(self):
        n = len(self._labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __repr__(self):
        return (f"TensorBatches({len(self._labels)} examples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self._seed}, epoch={self._epoch}, device={self.device})")

    # ---- batches
    def transform(self, images_u8):
        """Turn a uint8 batch into the float32 tensor the model sees (on the batch's device)."""
        X = images_u8.to(torch.float32).div_(255.0)
        if self.resize is not None:
            X = F.interpolate(X, size=self.resize, mode="bilinear", antialias=True,
                              align_corners=False)
        if self.normalize:
            X = X.sub_(0.5).div_(0.5)
        if self.flatten:
            X = X.reshape(len(X), -1)
        return X

    def _order(self, epoch):
        n = len(self._labels)
        if not self.shuffle:
            return torch.arange(n)
        gen = torch.Generator().manual_seed(book_seed(self._seed) * 1_000_003 + epoch)
        return torch.randperm(n, generator=gen)

    def __iter__(self):
        epoch, version = self._epoch, self._version
        images, labels = self._images, self._labels
        order = self._order(epoch).to(images.device)
        return self._pass(images, labels, order, epoch, version)

    def _pass(self, images, labels, order, epoch, version):
        stop = len(self) * self.batch_size if self.drop_last else len(labels)
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.transform(images.index_select(0, idx)), labels.index_select(0, idx)
        if self._version == version and self._epoch == epoch:
            self._epoch = epoch + 1  # only a pass run to its end counts as an epoch


def _subset(images, labels, limit, what, device):
    """The first ``limit`` examples, as the caller's own copy on ``device``."""
    if limit is not None and (not _is_int(limit) or not 1 <= limit <= len(labels)):
        raise ValueError(f"{what} must be an integer between 1 and {len(labels)} (or None for all), "
                         f"got {limit!r}")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return _to_device(images, device, copy=True), _to_device(labels, device, copy=True)


def load_data(name, batch_size, resize=None, root=None, *, flatten=False, normalize=False,
              seed=0, num_train=None, num_test=None, test_batch_size=None, download=True, device=None,
              drop_last=False):
    """Return ``(train_iter, test_iter)``, two ``TensorBatches`` for ``"MNIST"`` or ``"FashionMNIST"``.

    The training iterator is shuffled (``seed``; see ``TensorBatches`` for
    ``reseed``/``set_epoch``); the test iterator is not. ``num_train`` /
    ``num_test`` keep only the first examples of a split. ``device`` (e.g.
    ``d2l.try_gpu()``) puts both data sets on that device once, so batches
    are formed there. The iterators own their tensors (copies of the cache).
    ``drop_last=True`` leaves out the last, smaller training batch (say, one
    example, on which a BN layer cannot train); the test iterator keeps all.
    """
    _check_name(name)
    _check_positive_int(batch_size, "batch_size", " (e.g. batch_size=256)")
    if test_batch_size is not None:
        _check_positive_int(test_batch_size, "test_batch_size", " (or None: the same as batch_size)")
    device = _as_device(device) if device is not None else torch.device("cpu")
    train = _subset(*_cached_arrays(name, True, root, download), num_train, "num_train", device)
    test = _subset(*_cached_arrays(name, False, root, download), num_test, "num_test", device)
    options = dict(resize=resize, flatten=flatten, normalize=normalize)
    train_iter = TensorBatches(*train, batch_size, shuffle=True, seed=seed, drop_last=drop_last, **options)
    test_iter = TensorBatches(*test, test_batch_size or batch_size, shuffle=False, **options)
    return train_iter, test_iter


def load_data_fashion_mnist(batch_size, resize=None, root=None, **options):
    """Fashion-MNIST as ``(train_iter, test_iter)``; see ``load_data``."""
    return load_data("FashionMNIST", batch_size, resize, root, **options)


def load_data_mnist(batch_size, resize=None, root=None, **options):
    """MNIST as ``(train_iter, test_iter)``; see ``load_data``."""
    return load_data("MNIST", batch_size, resize, root, **options)


def get_fashion_mnist_labels(labels):
    """Text names of Fashion-MNIST class indices (0 to 9): a list, tensor or array of them."""
    try:
        values = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels))
    except (TypeError, ValueError, RuntimeError):
        values = None
    if values is not None and values.numel() == 0:
        return []
    if (values is None or values.dim() != 1 or values.dtype == torch.bool
            or values.is_floating_point() or values.is_complex()
            or values.min() < 0 or values.max() >= len(FASHION_MNIST_LABELS)):
        raise ValueError(f"labels must be Fashion-MNIST class indices from 0 to 9 (integers, one per "
                         f"image), got {labels!r}; for a network's scores, pass y_hat.argmax(dim=1)")
    return [FASHION_MNIST_LABELS[i] for i in values.tolist()]
