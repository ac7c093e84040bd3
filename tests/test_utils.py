"""set_seed makes runs repeatable."""

import random

import numpy as np
import pytest
import torch

import d2lzh_pytorch as d2l


def test_same_seed_same_numbers():
    d2l.set_seed(5)
    first = (random.random(), np.random.rand(), torch.rand(3))
    d2l.set_seed(5)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])


def test_numpy_integer_seed_is_accepted():
    assert d2l.set_seed(np.int64(3)) == 3 and type(d2l.set_seed(np.int64(3))) is int


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True, 2**32])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer up to 2\\*\\*32 - 1"):
        d2l.set_seed(seed)


def _draws(seed=0):
    """What a chapter's first cells draw: initial weights, a generator's numbers, a batch order."""
    d2l.set_seed(seed)
    weights = torch.nn.Linear(4, 3).weight.detach().clone()
    numbers = torch.randn(5, generator=d2l.generator(seed))
    images, labels = torch.zeros(64, 1, 2, 2, dtype=torch.uint8), torch.arange(64) % 10
    batches = d2l.TensorBatches(images, labels, 8, shuffle=True, seed=seed)
    order = torch.cat([y for _, y in batches])
    return weights, numbers, order


def test_the_seed_base_reproduces_a_run_exactly(monkeypatch):
    monkeypatch.setenv("BN_BOOK_SEED", "3")
    first, second = _draws(), _draws()
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_two_seed_bases_give_other_weights_and_batch_orders(monkeypatch):
    monkeypatch.delenv("BN_BOOK_SEED", raising=False)
    base0 = _draws()
    monkeypatch.setenv("BN_BOOK_SEED", "0")
    assert all(torch.equal(a, b) for a, b in zip(base0, _draws(), strict=True))  # 0 is the default
    monkeypatch.setenv("BN_BOOK_SEED", "1")
    base1 = _draws()
    assert not any(torch.equal(a, b) for a, b in zip(base0, base1, strict=True))
    assert sorted(base1[2].tolist()) == sorted(base0[2].tolist())  # the same examples, another order


def test_bases_do_not_overlap_for_the_seeds_a_chapter_uses(monkeypatch):
    seen = set()
    for base in range(4):
        monkeypatch.setenv("BN_BOOK_SEED", str(base))
        seen |= {d2l.book_seed(seed) for seed in range(1000)}
    assert len(seen) == 4000
    monkeypatch.setenv("BN_BOOK_SEED", "0")
    assert d2l.book_seed(7) == 7


@pytest.mark.parametrize("raw", ["-1", "1.5", "one"])
def test_a_bad_seed_base_says_what_to_write(monkeypatch, raw):
    monkeypatch.setenv("BN_BOOK_SEED", raw)
    with pytest.raises(ValueError, match="BN_BOOK_SEED.*non-negative integer"):
        d2l.set_seed(0)
