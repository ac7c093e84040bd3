"""Checks for the assignments: the cell after an answer says whether it is right, in Chinese.

As in CS231n, a check compares the student's result with a reference and prints
the relative error with the magnitude it should have; a failed check raises
``CheckFailed``, whose message says what is wrong and gives a hint. The grader
(``tools/grade.py``) scores a check cell by whether it raised.

>>> check_close("前向传播的输出", out, expected, tol=1e-10, hint="检查方差的分母")
通过：前向传播的输出（相对误差 1.1e-16，应不超过 1e-10）
"""

import math
from contextlib import contextmanager
from unittest import mock

import torch

__all__ = ["CheckFailed", "check", "check_close", "numerical_gradient", "rel_error", "without_autograd"]


class CheckFailed(AssertionError):
    """A check of an assignment failed; the message (Chinese) says what is wrong and what to try."""


def _message(text, hint):
    return f"{text}提示：{hint}" if hint else text


def check(condition, message, hint=""):
    """Raise ``CheckFailed(message + hint)`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(_message(message, hint))


def _as_tensor(value, what, hint=""):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64)
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(_message(f"{what}：应当是 torch.Tensor，得到的是 {type(value).__name__}。", hint))
    return value.detach().to(torch.float64)


def rel_error(got, expected):
    """``max|got - expected| / max(max|got|, max|expected|)`` (0 when both are 0; inf with NaN/inf).

    Scaled by the largest magnitude rather than element by element, so entries
    that should be 0 do not blow it up; float64 round-off gives about 1e-16.
    """
    got, expected = _as_tensor(got, "got"), _as_tensor(expected, "expected")
    if got.shape != expected.shape:
        raise ValueError(f"shapes differ: {tuple(got.shape)} and {tuple(expected.shape)}")
    if got.numel() == 0:
        return 0.0
    if not (torch.isfinite(got).all() and torch.isfinite(expected).all()):
        return math.inf
    scale = max(got.abs().max().item(), expected.abs().max().item())
    return 0.0 if scale == 0 else (got - expected).abs().max().item() / scale


def check_close(what, got, expected, tol, hint="", verbose=True):
    """Check that ``got`` matches ``expected`` to relative error ``tol`` and print the error.

    Raises ``CheckFailed`` naming ``what`` when ``got`` is not a tensor, has the
    wrong shape, holds NaN/inf, or is too far from ``expected``.
    """
    got_t = _as_tensor(got, what, hint)
    expected = _as_tensor(expected, "参照值")
    if got_t.shape != expected.shape:
        shapes = f"形状应为 {tuple(expected.shape)}，得到 {tuple(got_t.shape)}。"
        raise CheckFailed(_message(f"{what}：{shapes}", hint))
    if not torch.isfinite(got_t).all():
        raise CheckFailed(_message(f"{what}：结果里有 NaN 或 inf。", hint))
    err = rel_error(got_t, expected)
    if not err <= tol:
        raise CheckFailed(_message(f"{what}：相对误差 {err:.1e}，应不超过 {tol:.0e}。", hint))
    if verbose:
        print(f"通过：{what}（相对误差 {err:.1e}，应不超过 {tol:.0e}）")


def numerical_gradient(f, x, dout, h=1e-6):
    """Central differences of ``sum(f(x) * dout)`` with respect to ``x``, one element at a time.

    ``f`` maps a tensor like ``x`` to a tensor like ``dout``; use float64, where
    the error of the estimate is about ``h**2`` plus round-off.
    """
    x = x.detach().clone()
    grad = torch.zeros_like(x)
    flat, gflat = x.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + h
        plus = (f(x) * dout).sum().item()
        flat[i] = old - h
        minus = (f(x) * dout).sum().item()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def _forbidden(*args, **kwargs):
    raise CheckFailed("这里要求手写反向传播，不能调用 autograd（torch.autograd.grad 或 .backward()）。")


@contextmanager
def without_autograd():
    """Within the block ``torch.autograd.grad``, ``torch.autograd.backward`` and ``Tensor.backward`` raise."""
    with mock.patch("torch.autograd.grad", _forbidden), mock.patch("torch.autograd.backward", _forbidden), \
            mock.patch.object(torch.Tensor, "backward", _forbidden):
        yield
