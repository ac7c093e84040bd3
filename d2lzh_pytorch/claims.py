"""Claims: a conclusion the prose states, checked against the run that measured it.

``claim(condition, statement, evidence)`` right after the cell that measures
something binds the book's sentence to the data. In the full book a false claim
raises ``ClaimFailed`` (naming the statement and the evidence), so the build
fails and the prose must be rewritten; in quick mode, whose numbers support no
conclusion, it only reports. The reader sees one short line under the cell.

``show_markdown(text)`` renders a paragraph computed by a cell as Markdown (tag
the cell ``remove-input`` so the book shows the paragraph, not the code).
"""

import html
from dataclasses import dataclass

from .config import quick_mode

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


def claim(condition, statement, evidence=""):
    """Check that ``condition`` holds for the statement the prose makes; return a ``Claim``.

    ``statement`` is the sentence (or its gist) that the book states; ``evidence``
    the numbers that decide it. Full mode: a false condition raises
    ``ClaimFailed``. Quick mode: returns the claim, marked as not checked.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("claim needs the statement it checks, as a non-empty string")
    try:
        holds = bool(condition)
    except Exception as err:  # e.g. a tensor with several values
        raise TypeError(f"claim condition must be True or False, got {condition!r}: {err}") from None
    checked = not quick_mode()
    result = Claim(statement, holds, str(evidence), checked)
    if checked and not holds:
        raise ClaimFailed(
            f"the book claims: {statement!r}, but the data do not support it"
            + (f" (evidence: {evidence})" if evidence else "")
            + ". Rewrite the prose to what the data show, then the claim.")
    return result


def show_markdown(text):
    """Display ``text`` as Markdown (a paragraph whose numbers come from this run)."""
    from IPython.display import Markdown, display

    display(Markdown(text))
