"""Models and loops the chapters share, each defined in the chapter that teaches it (``# @save``).

``train_by_steps`` comes from chapter 1; ``lenet`` and ``accuracy_with_batch_stats``
from chapter 4. ``tests/test_one_source.py`` checks that the chapters show this text.
``mlp`` builds the chapters' multilayer perceptrons (it is the package's own).
"""

import copy

import torch
from torch import nn

from . import _checks

__all__ = ["accuracy_with_batch_stats", "lenet", "mlp", "train_by_steps"]


def mlp(hidden, *, num_inputs=784, num_outputs=10, norm=None, act=nn.ReLU, bias=True, first=()):
    """A multilayer perceptron as one ``nn.Sequential``.

    The modules of ``first`` (e.g. ``[nn.Flatten()]``), then for each width in
    ``hidden``: ``nn.Linear(fan_in, width, bias=bias)``, ``norm(width)`` when
    ``norm`` is given (``nn.BatchNorm1d``, or any callable of the width) and
    ``act()``; last ``nn.Linear(fan_in, num_outputs)``, with a bias. Layers are
    created in this order, so a seed gives the same weights as the same layers
    written out by hand.
    """
    hidden = [_checks.count(width, "every width in hidden") for width in hidden]
    fan_in = _checks.count(num_inputs, "num_inputs")
    num_outputs = _checks.count(num_outputs, "num_outputs")
    layers = list(first)
    for width in hidden:
        layers.append(nn.Linear(fan_in, width, bias=bias))
        if norm is not None:
            layers.append(norm(width))
        layers.append(act())
        fan_in = width
    layers.append(nn.Linear(fan_in, num_outputs))
    return nn.Sequential(*layers)


def train_by_steps(
    net, train_iter, optimizer, num_steps, on_step=None, device=None
):
    """Train ``net`` for ``num_steps`` mini-batches (passing over ``train_iter``
    as often as needed).

    After each update ``on_step(step, loss)`` is called (``step`` counts from 1,
    ``loss`` is the batch's detached mean cross-entropy), e.g. to record
    statistics.
    Returns the list of batch losses.
    """
    loss_fn = nn.CrossEntropyLoss()
    device = device if device is not None else next(net.parameters()).device
    losses = []
    net.train()
    while len(losses) < num_steps:
        for X, y in train_iter:
            loss = loss_fn(net(X.to(device)), y.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if on_step is not None:
                on_step(len(losses), loss.detach())
            if len(losses) == num_steps:
                break
    return losses


def lenet(norm2d=None, norm1d=None, act=nn.Sigmoid, placement="before"):
    """LeNet for 28 x 28 grey images: two conv blocks, then three linear layers.

    ``norm2d(channels)`` builds the normalisation layer after each conv layer
    and
    ``norm1d(features)`` the one after each of the first two linear layers
    (None:
    none); ``placement`` puts it "before" the activation ``act`` (Ioffe &
    Szegedy)
    or "after" it.
    """
    if placement not in ("before", "after"):
        raise ValueError(
            f"placement must be 'before' or 'after' the activation, got "
            f"{placement!r}"
        )

    def block(layer, width, norm):
        if norm is None:
            return [layer, act()]
        if placement == "before":
            return [layer, norm(width), act()]
        return [layer, act(), norm(width)]

    return nn.Sequential(
        *block(nn.Conv2d(1, 6, kernel_size=5), 6, norm2d),
        nn.MaxPool2d(kernel_size=2, stride=2),
        *block(nn.Conv2d(6, 16, kernel_size=5), 16, norm2d),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        *block(nn.Linear(16 * 4 * 4, 120), 120, norm1d),
        *block(nn.Linear(120, 84), 84, norm1d),
        nn.Linear(84, 10),
    )


def accuracy_with_batch_stats(data_iter, net):
    """Accuracy of ``net`` on ``data_iter`` when every BN layer normalises with
    the
    statistics of the batch it is given (training mode), not its running
    statistics.

    It works on a copy: training-mode passes would overwrite the running
    statistics
    of ``net``. A batch of one example has no batch statistics; it raises
    ValueError.
    """
    model = copy.deepcopy(net).train()
    device = next(model.parameters()).device
    correct = total = 0
    with torch.no_grad():
        for X, y in data_iter:
            if len(y) < 2:
                raise ValueError(
                    "a batch of one example has no batch statistics; "
                    "use batches of at least 2 (e.g. drop_last=True)"
                )
            correct += (
                (model(X.to(device)).argmax(dim=1) == y.to(device)).sum().item()
            )
            total += len(y)
    return correct / total
