"""Benchmarks (a script, not a test): run with `make bench`.

1. Our pipeline (``load_data_fashion_mnist`` + ``train_ch5``) against the seeds'
   pipeline (torchvision ``FashionMNIST`` + ``ToTensor`` + ``DataLoader`` and a
   plain training loop) for the same LeNet with ``nn.BatchNorm``, one epoch of
   full Fashion-MNIST (training + test evaluation), in examples per second.
2. Our from-scratch ``BatchNorm`` against ``nn.BatchNorm1d/2d`` inside LeNet:
   seconds per training step on fixed batches (steps of the two alternate).
3. One pass over the training images without a model: the loaders alone.

Runs alternate between the contenders and report the median of ``--repeats``
runs. Targets on the 2-core CI machine: ours >= 2x the seeds' pipeline; the
from-scratch BatchNorm <= 1.3x the time of nn.BatchNorm.
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision import transforms

import d2lzh_pytorch as d2l

BATCH_SIZE = 256


def lenet(norm):
    """The seeds' sigmoid LeNet; ``norm(num_features, num_dims)`` makes a BN layer."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), norm(6, 4), nn.Sigmoid(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), norm(16, 4), nn.Sigmoid(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 120), norm(120, 2), nn.Sigmoid(),
        nn.Linear(120, 84), norm(84, 2), nn.Sigmoid(), nn.Linear(84, 10))


def torch_norm(num_features, num_dims):
    return nn.BatchNorm2d(num_features) if num_dims == 4 else nn.BatchNorm1d(num_features)


def ours_epoch(num_train):
    """Examples/s of one epoch with our loader and train_ch5 (data loading included)."""
    start = time.perf_counter()
    train_iter, test_iter = d2l.load_data_fashion_mnist(BATCH_SIZE, num_train=num_train)
    d2l.set_seed(0)
    net = lenet(torch_norm)
    d2l.train_ch5(net, train_iter, test_iter, BATCH_SIZE, torch.optim.Adam(net.parameters(), 1e-3),
                  "cpu", 1, verbose=False, progress=False, live_plot=False)
    return train_iter.num_examples / (time.perf_counter() - start)


def seeds_epoch(num_train, num_workers=0):
    """Examples/s of one epoch the way the seeds did it (per-sample ToTensor, DataLoader).

    The seeds' notebooks built the DataLoader inline (``num_workers=0``) or called
    the old d2lzh_pytorch loader, which used ``num_workers=4`` off Windows.
    """
    start = time.perf_counter()
    root = str(d2l.default_data_root())
    train = torchvision.datasets.FashionMNIST(root, train=True, transform=transforms.ToTensor())
    test = torchvision.datasets.FashionMNIST(root, train=False, transform=transforms.ToTensor())
    if num_train is not None:
        train = torch.utils.data.Subset(train, range(num_train))
    train_loader = torch.utils.data.DataLoader(train, BATCH_SIZE, shuffle=True, num_workers=num_workers)
    test_loader = torch.utils.data.DataLoader(test, BATCH_SIZE, shuffle=False, num_workers=num_workers)
    d2l.set_seed(0)
    net = lenet(torch_norm)
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    loss_fn = nn.CrossEntropyLoss()
    net.train()
    loss_sum, correct = 0.0, 0
    for X, y in train_loader:
        y_hat = net(X)
        loss = loss_fn(y_hat, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.item()
        correct += (y_hat.argmax(1) == y).sum().item()
    net.eval()
    with torch.no_grad():
        test_correct = sum((net(X).argmax(1) == y).sum().item() for X, y in test_loader)
    assert 0 <= test_correct <= len(test)
    return len(train) / (time.perf_counter() - start)


def data_pass_seconds(ours):
    """Seconds for one pass over the 60000 training images, no model (loader cost alone)."""
    start = time.perf_counter()
    if ours:
        loader, _ = d2l.load_data_fashion_mnist(BATCH_SIZE)
    else:
        train = torchvision.datasets.FashionMNIST(str(d2l.default_data_root()), train=True,
                                                  transform=transforms.ToTensor())
        loader = torch.utils.data.DataLoader(train, BATCH_SIZE, shuffle=True)
    count = sum(len(y) for _, y in loader)
    assert count == 60000
    return time.perf_counter() - start


def bn_step_seconds(steps):
    """Median seconds per LeNet training step (forward, backward, Adam) on fixed batches,
    for the from-scratch BatchNorm and nn.BatchNorm; steps of the two alternate, so
    that both see the same machine state."""
    images, labels = d2l.load_arrays("FashionMNIST", train=True)
    X = images[:BATCH_SIZE].float() / 255
    y = labels[:BATCH_SIZE]
    loss_fn = nn.CrossEntropyLoss()
    contenders = {}
    for name, norm in (("scratch", d2l.BatchNorm), ("nn", torch_norm)):
        d2l.set_seed(0)
        net = lenet(norm)
        contenders[name] = (net, torch.optim.Adam(net.parameters(), 1e-3), [])
    for step in range(steps):
        order = list(contenders) if step % 2 == 0 else list(reversed(contenders))
        for name in order:
            net, optimizer, times = contenders[name]
            start = time.perf_counter()
            loss = loss_fn(net(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
    # the first steps warm up the kernels
    return tuple(statistics.median(contenders[name][2][5:]) for name in ("scratch", "nn"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num-train", type=int, default=None,
                        help="train on the first N examples only (default: all 60000)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "training.json")
    args = parser.parse_args()

    ours_epoch(2000)
    seeds_epoch(2000)  # warm-up: file caches, kernels
    ours, seeds, seeds4, scratch, native, data_ours, data_seeds = [], [], [], [], [], [], []
    for r in range(args.repeats):
        ours.append(ours_epoch(args.num_train))
        seeds.append(seeds_epoch(args.num_train))
        seeds4.append(seeds_epoch(args.num_train, num_workers=4))
        step_scratch, step_native = bn_step_seconds(args.steps)
        scratch.append(step_scratch)
        native.append(step_native)
        data_ours.append(data_pass_seconds(True))
        data_seeds.append(data_pass_seconds(False))
        print(f"repeat {r + 1}/{args.repeats}: ours {ours[-1]:.0f} ex/s, seeds {seeds[-1]:.0f} ex/s "
              f"(4 workers: {seeds4[-1]:.0f}), "
              f"from-scratch BN {scratch[-1] * 1e3:.2f} ms/step, "
              f"nn.BatchNorm {native[-1] * 1e3:.2f} ms/step, "
              f"data pass ours {data_ours[-1]:.2f} s, seeds {data_seeds[-1]:.2f} s")
    result = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, {platform.processor()}",
        "torch": torch.__version__,
        "repeats": args.repeats,
        "num_train": args.num_train or 60000,
        "ours_examples_per_sec": statistics.median(ours),
        "seeds_examples_per_sec": statistics.median(seeds),
        "speedup": statistics.median(ours) / statistics.median(seeds),
        "seeds_4_workers_examples_per_sec": statistics.median(seeds4),
        "speedup_vs_4_workers": statistics.median(ours) / statistics.median(seeds4),
        "scratch_bn_ms_per_step": statistics.median(scratch) * 1e3,
        "nn_bn_ms_per_step": statistics.median(native) * 1e3,
        "scratch_over_nn": statistics.median(scratch) / statistics.median(native),
        "data_pass_seconds_ours": statistics.median(data_ours),
        "data_pass_seconds_seeds": statistics.median(data_seeds),
    }
    print(f"\nmedian of {args.repeats}: ours {result['ours_examples_per_sec']:.0f} ex/s vs seeds' "
          f"{result['seeds_examples_per_sec']:.0f} ex/s -> {result['speedup']:.2f}x (target >= 2x); "
          f"with the old loader's 4 workers {result['seeds_4_workers_examples_per_sec']:.0f} ex/s -> "
          f"{result['speedup_vs_4_workers']:.2f}x")
    print(f"median of {args.repeats}: from-scratch BN {result['scratch_bn_ms_per_step']:.2f} ms/step vs "
          f"nn.BatchNorm {result['nn_bn_ms_per_step']:.2f} ms/step -> {result['scratch_over_nn']:.2f}x "
          f"(target <= 1.3x)")
    print(f"median of {args.repeats}: one pass over the training images without a model: ours "
          f"{result['data_pass_seconds_ours']:.2f} s vs seeds' {result['data_pass_seconds_seeds']:.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
