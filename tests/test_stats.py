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


@pytest.mark.parametrize("base, other", [
    ([0.5, 0.6, 0.7], [0.6, 0.7, 0.8]),  # equal up to rounding (std about 6e-17)
    ([0.5, 0.25], [0.75, 0.5]),  # exactly equal
    ([0.9012, 0.8800], [0.9024, 0.8812]),  # two seeds, quantised accuracies: the same gain twice
])
def test_identical_differences_give_no_interval(base, other):
    # a spread of 0 cannot be estimated from the sample: like n < 2, no interval and not clear
    diff = d2l.paired_diff(base, other)
    assert diff.std == pytest.approx(0.0, abs=1e-12) and diff.n == len(base)
    assert math.isnan(diff.low) and math.isnan(diff.high) and diff.clear is False


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


# ---------------------------------------------------------------- mistakes students make (issue 19)


@pytest.mark.parametrize("call", [
    lambda: d2l.paired_diff({0: 0.80, 1: 0.82}, {0: 0.90, 1: 0.91}),
    lambda: d2l.paired_diff([0.80, 0.82], {0: 0.90, 1: 0.91}),
    lambda: d2l.mean_std({0: 0.80, 1: 0.82, 2: 0.85}),
    lambda: d2l.describe({"seed 0": 0.8, "seed 1": 0.9}),
], ids=["both", "other", "mean_std", "describe"])
def test_a_dict_of_results_is_refused_not_read_by_its_keys(call):
    with pytest.raises(TypeError, match=r"got a dict.*\.values\(\)|got a dict.*seed order"):
        call()


@pytest.mark.parametrize("text", ["123", b"123"])
def test_a_string_is_refused_not_read_digit_by_digit(text):
    with pytest.raises(TypeError, match="must be an iterable of numbers.*string"):
        d2l.mean_std(text)
    with pytest.raises(TypeError, match="must be an iterable of numbers.*string"):
        d2l.paired_diff(text, [1, 2, 3])


@pytest.mark.parametrize("bad", [math.inf, -math.inf])
def test_infinite_values_are_skipped_like_nan(bad):
    summary = d2l.describe([1.0, 3.0, bad])
    assert (summary.mean, summary.n, summary.n_nan) == (2.0, 2, 1)
    diff = d2l.paired_diff([0.80, 0.70, 0.60, bad], [0.85, 0.74, 0.66, 0.5])
    assert (diff.n, diff.n_skipped) == (3, 1) and math.isfinite(diff.low) and diff.clear is True
    mean, std, n = d2l.mean_std_by_column([[1.0, bad], [3.0, 2.0]])
    np.testing.assert_allclose(mean, [2.0, 2.0])
    assert n.tolist() == [2, 1] and math.isnan(std[1])
