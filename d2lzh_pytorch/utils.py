"""Reproducibility helpers: seeds, shifted by the book's seed base.

Every random draw of the book goes through ``set_seed`` or ``generator``
(and the loaders' shuffling, which uses ``book_seed``). ``BN_BOOK_SEED``
(default 0, see ``config.seed_base``) shifts all of them at once, so the
whole book can be re-run with other draws (``make replicate SEED=...``):
a finding that holds only for one draw is not a finding. With base 0 the
seeds are used as written.
"""

import random

import numpy as np
import torch

from .config import seed_base

__all__ = ["book_seed", "generator", "set_seed"]

_MAX_SEED = 2**32 - 1  # NumPy's legacy generator accepts seeds up to this
_BASE_STRIDE = 1_000_003  # a prime larger than any seed a chapter writes: bases never overlap


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed must be a non-negative integer up to 2**32 - 1, got {seed!r}")
    return int(seed)


def book_seed(seed):
    """The seed actually drawn from for ``seed`` under the seed base ``BN_BOOK_SEED``.

    Base 0 returns ``seed`` itself; base ``b`` returns ``(seed + b * 1_000_003) mod 2**32``,
    so different bases give different, non-overlapping streams for the seeds a chapter uses.
    """
    seed = _check_seed(seed)
    return (seed + seed_base() * _BASE_STRIDE) % (_MAX_SEED + 1)


def set_seed(seed):
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators; return ``seed``.

    ``seed`` is an integer from 0 to 2**32 - 1 (the range NumPy accepts). The
    generators are seeded with ``book_seed(seed)``: ``seed`` itself unless
    ``BN_BOOK_SEED`` names another seed base.
    """
    seed = _check_seed(seed)
    actual = book_seed(seed)
    random.seed(actual)
    np.random.seed(actual)
    torch.manual_seed(actual)
    return seed


def generator(seed, device="cpu"):
    """A ``torch.Generator`` seeded with ``book_seed(seed)`` (it follows the seed base too)."""
    return torch.Generator(device=device).manual_seed(book_seed(seed))
