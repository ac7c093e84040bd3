"""Statistics over seeds, computed in one place: mean, sample standard deviation, paired t-intervals.

Every mean ± std in the package (tables, sentences, plot bands) comes from
here, so that all of them mean the same thing:

* the standard deviation is the *sample* one (divisor ``n - 1``): the seeds
  are a sample of the runs one could have made. With one value it is NaN
  (undefined), not 0;
* NaN and infinite values (diverged or unfinished runs) are skipped and
  counted, never averaged in;
* a difference between two settings is taken seed by seed (paired), and its
  uncertainty is the Student-t interval of the mean difference.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

__all__ = ["PairedDiff", "Summary", "describe", "mean_std", "mean_std_by_column", "paired_diff"]


def _as_floats(values, what):
    if isinstance(values, Mapping):  # iterating a dict gives its keys (the seeds), not the results
        raise TypeError(f"{what} must be an iterable of numbers, one per seed, got a dict; pass its "
                        f"values in seed order, e.g. [{what}[s] for s in seeds] or list({what}.values())")
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be an iterable of numbers, one per seed, got the string "
                        f"{values!r}; convert it first, e.g. [float(v) for v in text.split()]")
    try:
        array = np.asarray(list(values), dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be an iterable of numbers, got {values!r} ({err})") from None
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional (one number per seed), got shape {array.shape}")
    return array


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation of the finite values.

    ``n`` values were used, ``n_nan`` NaN or infinite values were skipped. ``mean`` is NaN
    when ``n == 0``; ``std`` is NaN when ``n < 2``.
    """

    mean: float
    std: float
    n: int
    n_nan: int


def describe(values):
    """``Summary`` of ``values`` (one number per seed): mean, sample std (n - 1), n, NaN/inf skipped."""
    array = _as_floats(values, "values")
    nan = ~np.isfinite(array)
    kept = array[~nan]
    n = len(kept)
    mean = float(kept.mean()) if n else math.nan
    std = float(kept.std(ddof=1)) if n >= 2 else math.nan
    return Summary(mean, std, n, int(nan.sum()))


def mean_std(values):
    """``(mean, sample std)`` of ``values``, NaN and inf skipped.

    Changed: the standard deviation is now the sample one (divisor n - 1), so
    it is larger than the old population value by sqrt(n / (n - 1)), and it is
    NaN (not 0) for a single value. ``(nan, nan)`` if no value is left.
    """
    summary = describe(values)
    return summary.mean, summary.std


def mean_std_by_column(rows):
    """Per-column ``(mean, sample std, n)`` of a 2-D array (one row per seed), NaN/inf skipped.

    Returns three 1-D numpy arrays. A column with fewer than two numbers has
    std NaN; an all-NaN column has mean NaN (and no warning is printed).
    """
    array = np.asarray(rows, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"rows must be two-dimensional (seeds x points), got shape {array.shape}")
    finite = np.isfinite(array)
    n = finite.sum(axis=0)
    filled = np.where(finite, array, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, filled.sum(axis=0) / np.maximum(n, 1), np.nan)
        squares = np.where(finite, (array - mean) ** 2, 0.0).sum(axis=0)
        std = np.where(n >= 2, np.sqrt(squares / np.maximum(n - 1, 1)), np.nan)
    return mean, std, n


@dataclass(frozen=True)
class PairedDiff:
    """The seed-by-seed difference ``other - base`` and its Student-t interval.

    ``mean`` and ``std`` (sample, n - 1) are those of the ``n`` per-seed
    differences; ``n_skipped`` pairs had a NaN or inf on either side.
    ``low``/``high`` bound the ``confidence`` interval of the mean difference
    (NaN when there is none: ``n < 2``, or all differences equal). ``clear``
    is True when that interval excludes 0.
    """

    mean: float
    std: float
    n: int
    n_skipped: int
    confidence: float
    low: float
    high: float
    clear: bool


def paired_diff(base, other, confidence=0.95):
    """Paired difference ``other - base`` over seeds, with a t-interval (``scipy.stats.ttest_rel``).

    ``base`` and ``other`` hold one number per seed, in the same seed order
    (lists or arrays; a dict is refused, since iterating it gives the seeds).
    Pairs with a NaN or inf on either side are skipped (and counted). With
    fewer than two pairs there is no interval: ``low``/``high`` are NaN and
    ``clear`` is False. The same holds when all differences are equal (up to
    rounding): a spread of 0 cannot be estimated from the sample (two seeds
    with quantised accuracies can give the same difference by chance), so it
    is no evidence of a clear difference.
    """
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(
            f"confidence must be a number strictly between 0 and 1 (e.g. 0.95), got {confidence!r}")
    base = _as_floats(base, "base")
    other = _as_floats(other, "other")
    if len(base) != len(other):
        raise ValueError(
            f"base has {len(base)} values but other has {len(other)}; pass one value per seed "
            f"for both, in the same seed order")
    keep = np.isfinite(base) & np.isfinite(other)
    diffs = other[keep] - base[keep]
    n, skipped = len(diffs), int((~keep).sum())
    mean = float(diffs.mean()) if n else math.nan
    if n < 2:
        return PairedDiff(mean, math.nan, n, skipped, float(confidence), math.nan, math.nan, False)
    std = float(diffs.std(ddof=1))
    scale = max(np.abs(base[keep]).max(), np.abs(other[keep]).max())
    if std <= 1e-12 * scale:  # all differences equal up to rounding: no spread to build on
        return PairedDiff(mean, std, n, skipped, float(confidence), math.nan, math.nan, False)
    interval = _scipy_stats.ttest_rel(other[keep], base[keep]).confidence_interval(confidence)
    low, high = float(interval.low), float(interval.high)
    clear = bool(low > 0 or high < 0)
    return PairedDiff(mean, std, n, skipped, float(confidence), low, high, clear)
