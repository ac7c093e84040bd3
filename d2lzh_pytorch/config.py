"""Book-wide switches read from the environment.

``BN_BOOK_QUICK=1`` turns on *quick mode*: chapters shrink epochs, data and
seeds so that every notebook executes in seconds (used by ``make test``).
The default, used by ``make book``, is the full experiment.

``BN_BOOK_BUILD=1`` is set by the Makefile while the book is built; it turns
off progress bars and live plots, which only make sense for a person watching.
"""

import os

__all__ = ["building_book", "pick", "quick_mode"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _flag(name):
    raw = os.environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(
        f"environment variable {name}={os.environ[name]!r} is not understood; "
        f"use 1 (on) or 0 (off)"
    )


def quick_mode():
    """Return True when ``BN_BOOK_QUICK`` asks for the shrunken quick mode."""
    return _flag("BN_BOOK_QUICK")


def building_book():
    """Return True while ``make book`` / ``make test`` executes the notebooks."""
    return _flag("BN_BOOK_BUILD")


def pick(full, quick):
    """Return ``quick`` in quick mode and ``full`` otherwise.

    >>> num_epochs = pick(full=10, quick=1)
    """
    return quick if quick_mode() else full
