"""Pick where tensors live: CUDA GPU, then Apple MPS, then the CPU."""

import operator

import torch

__all__ = ["try_all_gpus", "try_gpu"]


def _mps_available():
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def try_gpu(i=0):
    """Return ``cuda:i`` if it exists, else ``mps`` on Apple silicon, else ``cpu``."""
    try:
        index = None if isinstance(i, bool) else operator.index(i)
    except TypeError:
        index = None
    if index is None or index < 0:
        raise ValueError(f"i must be a non-negative integer (the GPU number, e.g. 0), got {i!r}")
    i = index
    if torch.cuda.device_count() > i:
        return torch.device(f"cuda:{i}")
    if i == 0 and _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def try_all_gpus():
    """Return every CUDA device, or ``[mps]``, or ``[cpu]`` when there is none."""
    if torch.cuda.device_count() > 0:
        return [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
    return [try_gpu(0)]
