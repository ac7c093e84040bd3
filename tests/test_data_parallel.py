"""Chapter 9's training run, ``train_one_config``, built on ``train_by_steps`` and
``evaluate_accuracy``, gives bit for bit what the hand-written loop it replaced gave (the loop is
written out below), across epoch boundaries and with an incomplete last batch dropped.

The one-process configurations need no process group, so this runs in the test process.
"""

import queue

import numpy as np
import pytest
import torch
from torch import nn

import d2lzh_pytorch as d2l
from d2lzh_pytorch.data_parallel import _bn_buffers, _lenet_bn


def replaced_loop(ctx, config, seed, data, settings):
    """The loop chapter 9's claims were first verified with (one-process configurations)."""
    X, y, X_test, y_test = data
    b, steps = settings["per_replica"], settings["num_steps"]
    d2l.set_seed(seed)
    net = _lenet_bn(config, b)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings["lr"])
    loss_fn = nn.CrossEntropyLoss()
    order = d2l.generator(seed)
    global_batch = b * ctx.world_size
    per_epoch = len(y) // global_batch
    losses, first_buffers = [], None
    while len(losses) < steps:
        perm = torch.randperm(len(y), generator=order)
        for i in range(min(per_epoch, steps - len(losses))):
            idx = perm[i * global_batch:(i + 1) * global_batch]
            loss = loss_fn(net(X[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) == 1:
                first_buffers = _bn_buffers(net)
    net.eval()
    with torch.no_grad():
        correct = sum((net(X_test[i:i + 500]).argmax(1) == y_test[i:i + 500]).sum().item()
                      for i in range(0, len(y_test), 500))
    running_mean, running_var = _bn_buffers(net)
    return {"losses": np.array(losses), "test_acc": correct / len(y_test), "running_mean": running_mean,
            "running_var": running_var, "first_running_var": first_buffers[1]}


@pytest.mark.parametrize("config", ["global", "ghost"])
def test_train_one_config_equals_the_loop_it_replaced(config):
    gen = torch.Generator().manual_seed(0)
    data = (torch.rand(27, 1, 28, 28, generator=gen), torch.randint(10, (27,), generator=gen),
            torch.rand(620, 1, 28, 28, generator=gen), torch.randint(10, (620,), generator=gen))
    # global batch 2 * 4 = 8: 3 batches per epoch of 27 examples, 7 steps cross two epochs
    settings = {"per_replica": 4, "num_steps": 7, "lr": 0.01}
    ctx = d2l.WorkerContext(0, 2, queue.Queue())
    got = d2l.train_one_config(ctx, config, 3, data, settings)
    expected = replaced_loop(ctx, config, 3, data, settings)
    assert got["test_acc"] == expected["test_acc"]
    for key in ("losses", "running_mean", "running_var", "first_running_var"):
        assert np.array_equal(np.asarray(got[key]), np.asarray(expected[key])), key
    assert len(got["losses"]) == 7
    assert ctx._queue.get_nowait()[2:] == (f"{config}, seed 3", 0, 7)  # progress was reported

