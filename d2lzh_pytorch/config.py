"""Book-wide switches read from the environment.

``BN_BOOK_QUICK=1`` turns on *quick mode*: chapters shrink epochs, data and
seeds so that every notebook executes in seconds (used by ``make test``).
The default, used by ``make book``, is the full experiment.

``BN_BOOK_SEED=<base>`` (default 0) shifts every random draw of the book
(``utils.book_seed``): ``make replicate`` re-runs the book with other bases.

``BN_BOOK_CLAIMS=<file>`` makes ``claim`` record every claim in that file (one
JSON line each) instead of raising on the first false one; the build and
``make replicate`` read the file and report every failing claim.

``BN_BOOK_BUILD=1`` is set by the Makefile while the book is built; it turns
off progress bars and live plots, which only make sense for a person watching.
"""

import os

__all__ = ["building_book", "claims_log", "pick", "quick_mode", "seed_base"]

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


def seed_base():
    """The seed base ``BN_BOOK_SEED`` (a non-negative integer; 0 when unset)."""
    raw = os.environ.get("BN_BOOK_SEED", "").strip()
    if raw == "":
        return 0
    if not raw.isdigit():
        raise ValueError(f"environment variable BN_BOOK_SEED={raw!r} is not understood; "
                         f"use a non-negative integer such as 0 (the book's own draws) or 1")
    return int(raw)


def claims_log():
    """The file ``BN_BOOK_CLAIMS`` names (claims are recorded there, not raised), or None."""
    raw = os.environ.get("BN_BOOK_CLAIMS", "").strip()
    return raw or None
