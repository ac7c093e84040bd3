"""time_call: the fastest of several timings, through torch.utils.benchmark.Timer."""

import time

import pytest
import torch

import d2lzh_pytorch as d2l


def test_time_call_counts_calls_and_returns_seconds_per_call():
    calls = []
    seconds = d2l.time_call(lambda: calls.append(1), number=4, repeat=3)
    assert len(calls) >= 12  # and the Timer's warm-up calls
    assert 0 <= seconds < 0.1


def test_time_call_is_the_fastest_repeat():
    calls = []

    def slow_then_fast():
        calls.append(1)
        time.sleep(0.05 if len(calls) <= 3 else 0.01)

    seconds = d2l.time_call(slow_then_fast, repeat=4)
    assert 0.009 < seconds < 0.03  # a 10 ms call, not the slow first ones


def test_cpu_time_does_not_count_sleeping():
    assert d2l.time_call(lambda: time.sleep(0.02), repeat=2, cpu_time=True) < 0.015
    assert d2l.time_call(lambda: time.sleep(0.02), repeat=2) >= 0.02


def test_time_call_keeps_the_thread_count():
    before = torch.get_num_threads()
    seen = []
    d2l.time_call(lambda: seen.append(torch.get_num_threads()), repeat=1)
    assert set(seen) == {before} and torch.get_num_threads() == before


def test_time_call_bad_input():
    with pytest.raises(TypeError, match="callable"):
        d2l.time_call(3)
    with pytest.raises(ValueError, match="repeat must be a positive integer"):
        d2l.time_call(lambda: None, repeat=0)
