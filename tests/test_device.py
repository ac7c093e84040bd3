"""Device choice: CUDA first, then Apple MPS, then the CPU."""

import pytest
import torch

import d2lzh_pytorch as d2l
from d2lzh_pytorch import device as device_mod


def test_cpu_when_nothing_else(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: False)
    assert d2l.try_gpu() == torch.device("cpu")
    assert d2l.try_gpu(3) == torch.device("cpu")
    assert d2l.try_all_gpus() == [torch.device("cpu")]


def test_cuda_first(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: True)
    assert d2l.try_gpu() == torch.device("cuda:0")
    assert d2l.try_gpu(1) == torch.device("cuda:1")
    assert d2l.try_gpu(2) == torch.device("cpu")
    assert d2l.try_all_gpus() == [torch.device("cuda:0"), torch.device("cuda:1")]


def test_mps_second(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: True)
    assert d2l.try_gpu() == torch.device("mps")
    assert d2l.try_all_gpus() == [torch.device("mps")]


def test_real_machine_answer_matches_what_this_machine_has():
    device = d2l.try_gpu()
    expected = "cuda" if torch.cuda.is_available() else ("mps" if device_mod._mps_available() else "cpu")
    assert device.type == expected
    assert torch.ones(2, device=device).sum().item() == 2


# ---------------------------------------------------------------- mistakes students make (issue 19)


@pytest.mark.parametrize("i", [-1, "0", 1.0, True, None])
def test_try_gpu_refuses_what_is_not_a_device_number(monkeypatch, i):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match=r"i must be a non-negative integer \(the GPU number, e\.g\. 0\)"):
        d2l.try_gpu(i)
