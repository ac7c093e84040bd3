"""What seed 003 uses from gluonbook, on top of d2l 1.0.3 (its successor on PyPI).

``import gluonbook_shim as gb`` gives every name of ``from d2l import mxnet``
(``try_gpu``, ``Accumulator``, ...) plus the two that d2l 1.0.3 no longer has
in gluonbook's form: ``load_data_fashion_mnist`` reads the repository's copy of
Fashion-MNIST (the directory in ``BN_BOOK_FASHION_MNIST``) instead of
downloading it, and ``train_ch5`` is gluonbook's training loop, printing one
line per epoch. Runs in .venv-mxnet only.

The book's settings come from the environment: ``BN_BOOK_RUN_SEED`` seeds
MXNet's and NumPy's generators at import; ``BN_BOOK_MAX_EPOCHS`` stops
``train_ch5`` after that many of the notes' epochs and ``BN_BOOK_NUM_TRAIN``
keeps the first images of the training set (the book's time budget and its
quick mode). Unset, the notes' settings run unchanged.
"""

import gzip
import os
import time

import mxnet as mx
import numpy as np
from d2l import mxnet as _d2l
from mxnet import autograd, nd
from mxnet.gluon import loss as gloss

if os.environ.get("BN_BOOK_RUN_SEED"):
    mx.random.seed(int(os.environ["BN_BOOK_RUN_SEED"]))
    np.random.seed(int(os.environ["BN_BOOK_RUN_SEED"]))


def __getattr__(name):  # everything else: d2l 1.0.3's MXNet helpers
    return getattr(_d2l, name)


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


class _Batches:
    """Mini-batches of (X, y) NDArrays; a new shuffle every epoch (numpy's global generator)."""

    def __init__(self, images, labels, batch_size, shuffle):
        self.images, self.labels = images, labels
        self.batch_size, self.shuffle = batch_size, shuffle

    def __len__(self):
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        order = np.random.permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield nd.array(self.images[idx]), nd.array(self.labels[idx])


def load_data_fashion_mnist(batch_size, resize=None):
    """gluonbook's loader: images as float32 in [0, 1], shape (N, 1, 28, 28) (ToTensor)."""
    if resize:
        raise ValueError("the shim does not resize; seed 003 uses resize=None")
    root = os.environ.get("BN_BOOK_FASHION_MNIST")
    if not root or not os.path.isdir(root):
        raise FileNotFoundError("set BN_BOOK_FASHION_MNIST to the folder with Fashion-MNIST's .gz files "
                                "(data/FashionMNIST/raw in the book's repository)")
    iters = []
    for split, shuffle in (("train", True), ("t10k", False)):
        images = _read_idx(os.path.join(root, f"{split}-images-idx3-ubyte.gz"))
        labels = _read_idx(os.path.join(root, f"{split}-labels-idx1-ubyte.gz"))
        if split == "train" and os.environ.get("BN_BOOK_NUM_TRAIN"):  # quick mode: a subset
            num = int(os.environ["BN_BOOK_NUM_TRAIN"])
            images, labels = images[:num], labels[:num]
        images = (images.astype(np.float32) / 255)[:, None]
        iters.append(_Batches(images, labels.astype(np.float32), batch_size, shuffle))
    return tuple(iters)


def evaluate_accuracy(data_iter, net, ctx):
    """gluonbook's: accuracy in prediction mode (outside autograd.record)."""
    correct = total = 0.0
    for X, y in data_iter:
        X, y = X.as_in_context(ctx), y.as_in_context(ctx)
        correct += (net(X).argmax(axis=1) == y).sum().asscalar()
        total += y.size
    return correct / total


def train_ch5(net, train_iter, test_iter, batch_size, trainer, ctx, num_epochs):
    """gluonbook's training loop; also returns the per-epoch history as a dict of lists."""
    if os.environ.get("BN_BOOK_MAX_EPOCHS"):
        num_epochs = min(num_epochs, int(os.environ["BN_BOOK_MAX_EPOCHS"]))
    print("training on", ctx)
    loss = gloss.SoftmaxCrossEntropyLoss()
    history = {"loss": [], "train_acc": [], "test_acc": []}
    for epoch in range(num_epochs):
        train_l_sum, train_acc_sum, n, start = 0.0, 0.0, 0, time.time()
        for X, y in train_iter:
            X, y = X.as_in_context(ctx), y.as_in_context(ctx)
            with autograd.record():
                y_hat = net(X)
                l = loss(y_hat, y).sum()  # noqa: E741  (gluonbook's name)
            l.backward()
            trainer.step(batch_size)
            train_l_sum += l.asscalar()
            train_acc_sum += (y_hat.argmax(axis=1) == y).sum().asscalar()
            n += y.size
        test_acc = evaluate_accuracy(test_iter, net, ctx)
        history["loss"].append(train_l_sum / n)
        history["train_acc"].append(train_acc_sum / n)
        history["test_acc"].append(test_acc)
        print("epoch %d, loss %.4f, train acc %.3f, test acc %.3f, time %.1f sec"  # noqa: UP031
              % (epoch + 1, train_l_sum / n, train_acc_sum / n, test_acc, time.time() - start))
    return history
