"""Statistics in one place: sample std (n - 1), NaN skipped and counted, paired t-intervals."""

import dataclasses
import math
import statistics
import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats

import d2lzh_pytorch as d2l

NAN = float("nan")


def test_describe_uses_the_sample_std_and_counts_nans():
    summary = d2l.describe([1.0, 3.0, NAN])
    assert summary == d2l.Summary(mean=2.0, std=pytest.approx(math.sqrt(2.0)), n=2, n_nan=1)


def test_mean_std_by_hand_and_against_the_standard_library():
    values = [0.91, 0.93, 0.88, 0.90]
    mean, std = d2l.mean_std(values)
    # by hand: mean 0.905; squared deviations 0.000025, 0.000625, 0.000625, 0.000025 -> sum 0.0013
    assert mean == pytest.approx(0.905)
    assert std == pytest.approx(math.sqrt(0.0013 / 3))
    assert std == pytest.approx(statistics.stdev(values)) and std == pytest.approx(np.std(values, ddof=1))


@pytest.mark.parametrize("values, expected", [
    ([0.5], (0.5, NAN)),  # one value: no spread, not 0
    ([NAN, NAN], (NAN, NAN)),
    ([], (NAN, NAN)),
])
def test_mean_std_with_too_few_values(values, expected):
    np.testing.assert_equal(d2l.mean_std(values), expected)


def test_all_nan_is_counted():
    assert d2l.describe([NAN] * 3).n_nan == 3 and d2l.describe([NAN] * 3).n == 0


def test_mean_std_by_column_is_nan_aware_and_quiet():
    rows = [[1.0, 2.0, NAN], [3.0, NAN, NAN]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, std, n = d2l.mean_std_by_column(rows)
    np.testing.assert_allclose(mean, [2.0, 2.0, NAN])
    np.testing.assert_allclose(std, [math.sqrt(2.0), NAN, NAN])
    assert n.tolist() == [2, 1, 0]
    with pytest.raises(ValueError, match="two-dimensional"):
        d2l.mean_std_by_column([1.0, 2.0])


def test_paired_diff_by_hand():
    diff = d2l.paired_diff([0.80, 0.82], [0.90, 0.91])
    # differences 0.10 and 0.09: mean 0.095, sample std 0.00707; t(0.975, 1 df) = 12.7062
    half = 12.706204736 * 0.0070710678 / math.sqrt(2)
    assert (diff.n, diff.n_skipped, diff.confidence) == (2, 0, 0.95)
    assert diff.mean == pytest.approx(0.095) and diff.std == pytest.approx(0.0070710678)
    assert diff.low == pytest.approx(0.095 - half) and diff.high == pytest.approx(0.095 + half)
    assert diff.clear is True


@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
def test_paired_diff_matches_scipy_ttest_rel(confidence):
    rng = np.random.default_rng(0)
    base = rng.normal(0.9, 0.01, size=6)
    other = base + rng.normal(0.004, 0.003, size=6)
    diff = d2l.paired_diff(base, other, confidence=confidence)
    reference = scipy_stats.ttest_rel(other, base).confidence_interval(confidence_level=confidence)
    assert diff.low == pytest.approx(reference.low) and diff.high == pytest.approx(reference.high)
    assert diff.mean == pytest.approx(np.mean(other - base))
    assert diff.clear == (reference.low > 0 or reference.high < 0)


def test_interval_containing_zero_is_not_clear():
    diff = d2l.paired_diff([0.80, 0.90], [0.81, 0.89])
    assert diff.low < 0 < diff.high and diff.clear is False


def test_nan_pairs_are_skipped_and_counted():
    diff = d2l.paired_diff([0.8, NAN, 0.7, 0.6], [0.85, 0.9, NAN, 0.66])
    assert (diff.n, diff.n_skipped) == (2, 2)
    assert diff.mean == pytest.approx(0.055)


def test_one_pair_has_no_interval():
    diff = d2l.paired_diff([0.8, NAN], [0.9, 0.95])
    assert diff.n == 1 and diff.mean == pytest.approx(0.1)
    assert math.isnan(diff.std) and math.isnan(diff.low) and math.isnan(diff.high)
    assert diff.clear is False


def test_all_nan_pairs():
    diff = d2l.paired_diff([NAN, 0.5], [0.4, NAN])
    assert (diff.n, diff.n_skipped, diff.clear) == (0, 2, False) and math.isnan(diff.mean)


def test_identical_differences_give_a_point_interval():
    diff = d2l.paired_diff([0.5, 0.6, 0.7], [0.6, 0.7, 0.8])
    assert diff.std == pytest.approx(0.0, abs=1e-12)
    assert diff.low == pytest.approx(0.1) == diff.high and diff.clear is True


def test_paired_diff_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        d2l.paired_diff([1.0, 2.0], [1.5, 2.5]).clear = False


@pytest.mark.parametrize("args, kwargs, error, message", [
    (([0.1, 0.2], [0.1]), {}, ValueError, "base has 2 values but other has 1"),
    (([0.1, 0.2], [0.1, 0.3]), {"confidence": 95}, ValueError, "strictly between 0 and 1"),
    (([0.1, 0.2], [0.1, 0.3]), {"confidence": True}, ValueError, "strictly between 0 and 1"),
    ((["a", "b"], [0.1, 0.3]), {}, TypeError, "base must be an iterable of numbers"),
    (([[0.1], [0.2]], [0.1, 0.3]), {}, ValueError, "one-dimensional"),
])
def test_paired_diff_bad_arguments(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        d2l.paired_diff(*args, **kwargs)
