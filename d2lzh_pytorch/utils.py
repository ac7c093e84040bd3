"""Reproducibility helpers."""

import random

import numpy as np
import torch

__all__ = ["set_seed"]

_MAX_SEED = 2**32 - 1  # NumPy's legacy generator accepts seeds up to this


def set_seed(seed):
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators; return ``seed``.

    ``seed`` is an integer from 0 to 2**32 - 1 (the range NumPy accepts).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed must be a non-negative integer up to 2**32 - 1, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return seed
