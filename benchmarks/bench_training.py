"""Benchmarks (a script, not a test): run with `make bench` (``--device cuda`` on a GPU).

1. Our pipeline (``load_data_fashion_mnist`` + ``train_ch5``) against the
   original notes' pipeline (torchvision ``FashionMNIST`` + ``ToTensor`` +
   ``DataLoader`` and a plain training loop) for the same LeNet with
   ``nn.BatchNorm`` (``d2l.lenet``, batch 256), one epoch of full Fashion-MNIST
   (training + test evaluation), in training examples per second, on the
   chosen device. Both sides start cold each repeat: our decoded-data cache is
   cleared and torchvision re-reads its files.
2. Our from-scratch ``BatchNorm`` against ``nn.BatchNorm1d/2d`` inside LeNet:
   seconds per training step on fixed batches (steps of the two alternate).
3. One pass over the training images without a model: the loaders alone.

Runs alternate between the contenders and report the median of ``--repeats``
runs. Targets: on the 2-core CPU ours >= 2x the notes' 4-worker pipeline and
the from-scratch BatchNorm <= 1.3x the time of nn.BatchNorm; on one GPU ours
>= 10x the notes' pipeline and >= 100,000 training examples/s.
"""

import argparse
import functools
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


def torch_lenet():
    return d2l.lenet(nn.BatchNorm2d, nn.BatchNorm1d)


def scratch_lenet():
    return d2l.lenet(functools.partial(d2l.BatchNorm, num_dims=4),
                     functools.partial(d2l.BatchNorm, num_dims=2))


def _synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ours_epoch(num_train, device):
    """Examples/s of one epoch with our loader and train_ch5 (data loading included, cold cache)."""
    d2l.clear_data_cache()
    start = time.perf_counter()
    train_iter, test_iter = d2l.load_data_fashion_mnist(BATCH_SIZE, num_train=num_train, device=device)
    d2l.set_seed(0)
    net = torch_lenet().to(device)
    d2l.train_ch5(net, train_iter, test_iter, BATCH_SIZE, torch.optim.Adam(net.parameters(), 1e-3),
                  device, 1, verbose=False, progress=False, live_plot=False)
    _synchronize(device)
    return train_iter.num_examples / (time.perf_counter() - start)


def legacy_epoch(num_train, device, num_workers=0):
    """Examples/s of one epoch the way the original notes did it (per-sample ToTensor, DataLoader).

    The notes built the DataLoader inline (``num_workers=0``) or called the old
    d2lzh_pytorch loader, which used ``num_workers=4`` off Windows.
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
    net = torch_lenet().to(device)
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    loss_fn = nn.CrossEntropyLoss()
    net.train()
    loss_sum, correct = 0.0, 0
    for X, y in train_loader:
        X, y = X.to(device), y.to(device)
        y_hat = net(X)
        loss = loss_fn(y_hat, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += loss.item()
        correct += (y_hat.argmax(1) == y).sum().item()
    net.eval()
    with torch.no_grad():
        test_correct = sum((net(X.to(device)).argmax(1) == y.to(device)).sum().item()
                           for X, y in test_loader)
    assert 0 <= test_correct <= len(test)
    return len(train) / (time.perf_counter() - start)


def data_pass_seconds(ours):
    """Seconds for one pass over the 60000 training images, no model (loader cost alone)."""
    d2l.clear_data_cache()
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


def bn_step_seconds(steps, device):
    """Median seconds per LeNet training step (forward, backward, Adam) on fixed batches,
    for the from-scratch BatchNorm and nn.BatchNorm; steps of the two alternate, so
    that both see the same machine state."""
    images, labels = d2l.load_arrays("FashionMNIST", train=True)
    X = (images[:BATCH_SIZE].float() / 255).to(device)
    y = labels[:BATCH_SIZE].to(device)
    loss_fn = nn.CrossEntropyLoss()
    contenders = {}
    for name, build in (("scratch", scratch_lenet), ("nn", torch_lenet)):
        d2l.set_seed(0)
        net = build().to(device)
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
            _synchronize(device)
            times.append(time.perf_counter() - start)
    # the first steps warm up the kernels
    return tuple(statistics.median(contenders[name][2][5:]) for name in ("scratch", "nn"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num-train", type=int, default=None,
                        help="train on the first N examples only (default: all 60000)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: d2l.try_gpu())")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "training.json")
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else d2l.try_gpu()
    d2l.ensure_torchvision_layout(names=["FashionMNIST"])  # torchvision reads the plain IDX files

    ours_epoch(2000, device)
    legacy_epoch(2000, device)  # warm-up: file caches, kernels
    runs = {key: [] for key in ("ours", "legacy", "legacy4", "scratch", "native", "data_ours", "data_legacy")}
    for r in range(args.repeats):
        runs["ours"].append(ours_epoch(args.num_train, device))
        runs["legacy"].append(legacy_epoch(args.num_train, device))
        runs["legacy4"].append(legacy_epoch(args.num_train, device, num_workers=4))
        step_scratch, step_native = bn_step_seconds(args.steps, device)
        runs["scratch"].append(step_scratch)
        runs["native"].append(step_native)
        runs["data_ours"].append(data_pass_seconds(True))
        runs["data_legacy"].append(data_pass_seconds(False))
        print(f"repeat {r + 1}/{args.repeats}: ours {runs['ours'][-1]:.0f} ex/s, notes' loader "
              f"{runs['legacy'][-1]:.0f} ex/s (4 workers: {runs['legacy4'][-1]:.0f}), "
              f"from-scratch BN {step_scratch * 1e3:.2f} ms/step, "
              f"nn.BatchNorm {step_native * 1e3:.2f} ms/step, "
              f"data pass ours {runs['data_ours'][-1]:.2f} s, notes' {runs['data_legacy'][-1]:.2f} s")
    med = {key: statistics.median(values) for key, values in runs.items()}
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    result = {
        "device": str(device) + (f" ({gpu})" if gpu else ""),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, {platform.processor()}",
        "torch": torch.__version__,
        "repeats": args.repeats,
        "num_train": args.num_train or 60000,
        "ours_examples_per_sec": med["ours"],
        "legacy_examples_per_sec": med["legacy"],
        "speedup": med["ours"] / med["legacy"],
        "legacy_4_workers_examples_per_sec": med["legacy4"],
        "speedup_vs_4_workers": med["ours"] / med["legacy4"],
        "range_ours": [min(runs["ours"]), max(runs["ours"])],
        "range_legacy_4_workers": [min(runs["legacy4"]), max(runs["legacy4"])],
        "scratch_bn_ms_per_step": med["scratch"] * 1e3,
        "nn_bn_ms_per_step": med["native"] * 1e3,
        "scratch_over_nn": med["scratch"] / med["native"],
        "data_pass_seconds_ours": med["data_ours"],
        "data_pass_seconds_legacy": med["data_legacy"],
    }
    lo, hi = result["range_ours"]
    lo4, hi4 = result["range_legacy_4_workers"]
    print(f"\non {result['device']}, median of {args.repeats}: ours {med['ours']:.0f} ex/s "
          f"(range {lo:.0f}-{hi:.0f}) vs the notes' {med['legacy']:.0f} ex/s -> {result['speedup']:.2f}x; "
          f"with the old loader's 4 workers {med['legacy4']:.0f} ex/s (range {lo4:.0f}-{hi4:.0f}) -> "
          f"{result['speedup_vs_4_workers']:.2f}x")
    print(f"median of {args.repeats}: from-scratch BN {result['scratch_bn_ms_per_step']:.2f} ms/step vs "
          f"nn.BatchNorm {result['nn_bn_ms_per_step']:.2f} ms/step -> {result['scratch_over_nn']:.2f}x "
          f"(target <= 1.3x)")
    print(f"median of {args.repeats}: one pass over the training images without a model: ours "
          f"{med['data_ours']:.2f} s vs the notes' {med['data_legacy']:.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
