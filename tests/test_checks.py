"""The assignments' self-checks (d2lzh_pytorch/checks.py)."""

import math

import pytest
import torch

from d2lzh_pytorch import checks


def test_rel_error_is_scaled_by_the_largest_magnitude():
    a = torch.tensor([1.0, 0.0, -2.0], dtype=torch.float64)
    assert checks.rel_error(a, a) == 0.0
    assert checks.rel_error(a, a + torch.tensor([0.0, 1e-20, 0.0], dtype=torch.float64)) < 1e-19
    assert checks.rel_error(a, a * 1.001) == pytest.approx(1e-3, rel=1e-2)
    assert checks.rel_error(torch.zeros(3), torch.zeros(3)) == 0.0
    assert checks.rel_error(torch.tensor([math.nan]), torch.tensor([1.0])) == math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        checks.rel_error(torch.zeros(2), torch.zeros(3))


def test_check_close_passes_and_prints(capsys):
    a = torch.randn(4, 3, dtype=torch.float64)
    checks.check_close("输出", a.clone(), a, tol=1e-12)
    assert capsys.readouterr().out == "通过：输出（相对误差 0.0e+00，应不超过 1e-12）\n"
    checks.check_close("输出", a.clone(), a, tol=1e-12, verbose=False)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("got, expected_message", [
    ([1.0, 2.0], "应当是 torch.Tensor"),
    (torch.zeros(2, 3), "形状应为 (3, 2)"),
    (torch.full((3, 2), math.nan), "NaN"),
    (torch.ones(3, 2), "相对误差"),
])
def test_check_close_says_what_is_wrong(got, expected_message):
    with pytest.raises(checks.CheckFailed, match=r"提示：看看分母") as info:
        checks.check_close("输出", got, torch.zeros(3, 2), tol=1e-8, hint="看看分母")
    assert expected_message in str(info.value) and str(info.value).startswith("输出：")


def test_check_raises_with_hint():
    checks.check(True, "不会出现")
    with pytest.raises(checks.CheckFailed, match="^坏了。提示：这样改$"):
        checks.check(False, "坏了。", hint="这样改")


def test_numerical_gradient_matches_autograd():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, dtype=torch.float64, generator=g)
    dout = torch.randn(3, 4, dtype=torch.float64, generator=g)

    def f(t):
        return torch.tanh(t) * t.sum(0)

    xg = x.clone().requires_grad_()
    f(xg).backward(dout)
    assert checks.rel_error(checks.numerical_gradient(f, x, dout), xg.grad) < 1e-8


def test_without_autograd_forbids_backward_and_grad_then_restores_them():
    x = torch.ones(2, requires_grad=True)
    with checks.without_autograd():
        with pytest.raises(checks.CheckFailed, match="autograd"):
            (x * 2).sum().backward()
        with pytest.raises(checks.CheckFailed, match="autograd"):
            torch.autograd.grad((x * 2).sum(), x)
        assert torch.equal(x * 2, torch.full((2,), 2.0))  # plain tensor code still runs
    (x * 2).sum().backward()
    assert torch.equal(x.grad, torch.full((2,), 2.0))
