"""Timing a piece of code the same way in every chapter, on ``torch.utils.benchmark.Timer``.

No side effects on import.
"""

import time

import torch
from torch.utils import benchmark

from . import _checks

__all__ = ["time_call"]


def time_call(fn, *, number=1, repeat=5, device=None, cpu_time=False):
    """Seconds one call of ``fn()`` takes: the fastest of ``repeat`` timings of ``number`` calls each.

    Timed by ``torch.utils.benchmark.Timer`` with this process's PyTorch thread
    count, after the Timer's own warm-up calls (a few more calls of ``fn``); on
    a GPU (``device``) its queue is emptied before the clock is read.
    The fastest timing is the one least disturbed by other load on the machine.
    ``cpu_time=True`` times a CPU run with this process's CPU time
    (``time.process_time``), to which other programs' load does not add; on a
    GPU it is ignored (a GPU's work is not this process's CPU time).
    """
    if not callable(fn):
        raise TypeError(f"fn must be a callable taking no arguments, got {type(fn).__name__}; "
                        f"wrap a call with arguments in a lambda: lambda: model(X)")
    number = _checks.count(number, "number")
    repeat = _checks.count(repeat, "repeat")
    on_cpu = device is None or torch.device(device).type == "cpu"
    options = {"timer": time.process_time} if cpu_time and on_cpu else {}
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads(), **options)
    return min(timer.timeit(number).mean for _ in range(repeat))
