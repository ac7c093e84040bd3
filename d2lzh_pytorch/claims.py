"""Claims: a conclusion the prose states, checked against the run that measured it.

``claim(condition, statement, evidence)`` right after the cell that measures
something binds the book's sentence to the data. In the full book a false claim
raises ``ClaimFailed`` (naming the statement and the evidence), so the build
fails and the prose must be rewritten; in quick mode, whose numbers support no
conclusion, it only reports. The reader sees one short line under the cell.
When ``BN_BOOK_CLAIMS`` names a file (``make book``, ``make replicate``), every
claim is appended to it as one JSON line and a false one does not raise: the
runner reports all of a chapter's failing claims at once and then fails.

The condition must be a truth value: ``True``/``False``, a NumPy bool or a
one-element bool tensor. Anything else (a number, a string, NaN, a result
object) raises ``TypeError``: a truthy value would let a check pass without
testing anything.

``show_markdown(text)`` renders a paragraph computed by a cell as Markdown (tag
the cell ``remove-input`` so the book shows the paragraph, not the code).
"""

import html
import json
import numbers
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .config import claims_log, quick_mode

__all__ = ["Claim", "ClaimFailed", "claim", "show_markdown"]


class ClaimFailed(AssertionError):
    """A conclusion of the book is not supported by the run that should support it."""


@dataclass(frozen=True)
class Claim:
    """A checked statement: what was claimed, whether the data support it, the evidence."""

    statement: str
    holds: bool
    evidence: str = ""
    checked: bool = True  # False in quick mode: reported, not enforced

    def _status(self):
        if not self.checked:
            return "quick mode, not checked" + ("" if self.holds else " (does not hold in this run)")
        return "holds" if self.holds else "FAILS"

    def __str__(self):
        text = f"claim {self._status()}: {self.statement}"
        return f"{text} [{self.evidence}]" if self.evidence else text

    def _repr_markdown_(self):
        mark = "✓" if self.holds and self.checked else "·"
        evidence = f" <small>({html.escape(self.evidence)})</small>" if self.evidence else ""
        return f"{mark} *{self._status()}:* {html.escape(self.statement)}{evidence}"

    def __repr__(self):
        return str(self)


def _truth(condition):
    """``condition`` as a bool; TypeError unless a bool, NumPy bool or one-element bool tensor."""
    if isinstance(condition, (bool, np.bool_)):
        return bool(condition)
    if isinstance(condition, np.ndarray) and condition.dtype == np.bool_ and condition.size == 1:
        return bool(condition.item())
    if isinstance(condition, torch.Tensor) and condition.dtype == torch.bool:
        if condition.numel() == 1:
            return bool(condition.item())
        raise TypeError(f"claim condition must be True or False, got a bool tensor of shape "
                        f"{tuple(condition.shape)}: reduce it with .all() or .any()")
    hint = ""
    if isinstance(condition, numbers.Number):
        hint = " (a number is not a test: compare it, e.g. d.low > 0)"
    elif isinstance(condition, str):
        hint = " (a string is not a test, even 'False')"
    raise TypeError(f"claim condition must be True or False (a bool, NumPy bool or one-element bool "
                    f"tensor), got {type(condition).__name__} {condition!r}{hint}")


def _record(result, path):
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")


def claim(condition, statement, evidence=""):
    """Check that ``condition`` holds for the statement the prose makes; return a ``Claim``.

    ``statement`` is the sentence (or its gist) that the book states; ``evidence``
    the numbers that decide it. ``condition`` must be a truth value (see the
    module docstring). Full mode: a false condition raises ``ClaimFailed``,
    unless ``BN_BOOK_CLAIMS`` names a log, where it is recorded for the runner
    to report. Quick mode: returns the claim, marked as not checked.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("claim needs the statement it checks, as a non-empty string")
    holds = _truth(condition)
    checked = not quick_mode()
    result = Claim(statement, holds, str(evidence), checked)
    log = claims_log()
    if log:
        _record(result, log)
    elif checked and not holds:
        raise ClaimFailed(
            f"the book claims: {statement!r}, but the data do not support it"
            + (f" (evidence: {evidence})" if evidence else "")
            + ". Rewrite the prose to what the data show, then the claim.")
    return result


def show_markdown(text):
    """Display ``text`` as Markdown (a paragraph whose numbers come from this run)."""
    from IPython.display import Markdown, display

    display(Markdown(text))
