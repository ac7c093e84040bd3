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
