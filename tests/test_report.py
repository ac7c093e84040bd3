"""Reports: Table is a DataFrame that displays like a report; results tables; paired-gap sentences."""

import math

import pandas as pd
import pytest

import d2lzh_pytorch as d2l

NAN = float("nan")


def _run(seed, test_accs, loss=0.3, diverged=False, interrupted=False):
    history = d2l.History()
    for epoch, acc in enumerate(test_accs, 1):
        history.append(d2l.EpochStats(epoch, loss, acc, acc, 2.0, 1000.0 * seed + 1000.0))
    return d2l.Run(seed, None, history, diverged=diverged, interrupted=interrupted)


# ---------------------------------------------------------------- Table


def test_table_is_a_dataframe_with_headers_and_rows():
    table = d2l.Table(["model", "acc"], [["BN", 0.5], ["none", 0.25]])
    assert isinstance(table, pd.DataFrame)
    assert table.headers == ["model", "acc"] and table.rows == [["BN", 0.5], ["none", 0.25]]
    assert table["acc"].mean() == pytest.approx(0.375)
    derived = table[table["acc"] > 0.3]
    assert type(derived) is pd.DataFrame and len(derived) == 1


def test_table_renders_markdown_html_and_text():
    table = d2l.Table(["model", "acc", "clear"], [["BN <1>", 0.5, True], ["none", NAN, None]])
    assert table._repr_markdown_().splitlines()[2] == "| BN <1> | 0.5000 | True |"
    assert table._repr_markdown_().splitlines()[3] == "| none | — | — |"
    html = table._repr_html_()
    assert "<td>BN &lt;1&gt;</td>" in html and "<td>0.5000</td>" in html and "<td>—</td>" in html
    assert "<th></th>" not in html  # no 0, 1, 2 index column
    assert repr(table).splitlines()[0].split() == ["model", "acc", "clear"]


def test_table_column_formats():
    table = d2l.Table(["speed", "share"], [[12345.6, 0.5], [7.0, 0.25]], formats={"speed": "{:,.0f}"})
    assert table._repr_markdown_().splitlines()[2] == "| 12,346 | 0.5000 |"
    with pytest.raises(ValueError, match="formats name columns that the table lacks"):
        d2l.Table(["a"], [[1]], formats={"b": "{}"})


def test_table_rejects_ragged_rows():
    with pytest.raises(ValueError, match="one value per header"):
        d2l.Table(["a", "b"], [[1]])


def test_fmt_mean_std():
    assert d2l.fmt_mean_std(0.91234, 0.0123) == "0.912 ± 0.012"
    assert d2l.fmt_mean_std(NAN, NAN) == "—"
    assert d2l.fmt_mean_std(0.91234, NAN) == "0.912 ± —"  # one seed: no spread


# ---------------------------------------------------------------- results_table


def _runs():
    no_bn = d2l.Runs([_run(0, [0.80, 0.85]), _run(1, [0.82, 0.87]), _run(2, [0.5], diverged=True)])
    bn = d2l.Runs([_run(0, [0.90, 0.95]), _run(1, [0.91, 0.96]), _run(2, [0.92, 0.97])])
    return {"no BN": no_bn, "BN": bn}


def test_results_table_columns_and_sample_statistics():
    table = d2l.results_table(_runs())
    assert isinstance(table, pd.DataFrame)
    assert table.headers == ["setting", "seeds", "test acc after epoch 1", "final test acc",
                             "final train loss", "seconds per epoch", "train examples/s", "diverged",
                             "status"]
    no_bn, bn = table.rows
    assert no_bn[:2] == ["no BN", 3] and bn[:2] == ["BN", 3]
    # after epoch 1 all three no-BN runs count (the diverged one finished epoch 1); finals skip it
    assert no_bn[2] == d2l.fmt_mean_std(0.70666666, math.sqrt(((0.8 - 0.70667) ** 2 + (0.82 - 0.70667) ** 2
                                                                 + (0.5 - 0.70667) ** 2) / 2))
    assert no_bn[3] == "0.860 ± 0.014"  # mean 0.86, sample std 0.01414
    assert bn[3] == "0.960 ± 0.010"
    assert no_bn[7] == 1 and bn[7] == 0 and no_bn[8] == bn[8] == "complete"
    assert bn[5] == pytest.approx(2.0) and bn[6] == pytest.approx(2000.0)


def test_results_table_paired_difference_to_a_baseline():
    table = d2l.results_table(_runs(), baseline="no BN")
    assert table.headers[-5:] == ["Δ final test acc vs no BN", "95% CI low", "95% CI high", "clear", "pairs"]
    base_row, bn_row = table.rows
    assert math.isnan(base_row[-5]) and base_row[-2] is None
    expected = d2l.paired_diff([0.85, 0.87], [0.95, 0.96])  # seed 2 diverged without BN: skipped
    assert bn_row[-5:] == [pytest.approx(expected.mean), pytest.approx(expected.low),
                           pytest.approx(expected.high), expected.clear, 2]
    assert "+0.0950" in table._repr_markdown_()


def test_results_table_pairs_runs_by_seed():
    runs = {"a": d2l.Runs([_run(0, [0.5]), _run(1, [0.6]), _run(2, [0.7])]),
            "b": d2l.Runs([_run(2, [0.75]), _run(0, [0.58])])}
    row = d2l.results_table(runs, baseline="a").rows[1]
    assert row[-1] == 2 and row[-5] == pytest.approx(((0.58 - 0.5) + (0.75 - 0.7)) / 2)


def test_results_table_marks_interrupted_runs():
    runs = {"no BN": d2l.Runs([_run(0, [0.8, 0.85]), _run(1, [0.81], interrupted=True)], interrupted=True),
            "BN": d2l.Runs(interrupted=True)}
    table = d2l.results_table(runs, baseline="no BN")
    no_bn, bn = table.rows
    assert no_bn[8] == bn[8] == "INTERRUPTED"
    assert no_bn[1] == 2 and no_bn[3] == "0.850 ± —"  # the interrupted run has no final value
    assert bn[1] == 0 and bn[3] == "—" and bn[-1] == 0 and bn[-2] is False


def test_results_table_unknown_baseline():
    with pytest.raises(ValueError, match="baseline 'none' is not one of the settings"):
        d2l.results_table(_runs(), baseline="none")


# ---------------------------------------------------------------- paired differences in prose and tables


def test_fmt_summary_is_fmt_mean_std_of_mean_std():
    values = [0.91, 0.93, NAN, 0.95]
    assert d2l.fmt_summary(values) == d2l.fmt_mean_std(*d2l.mean_std(values)) == "0.930 ± 0.020"
    assert d2l.fmt_summary([0.5], digits=2) == "0.50 ± —"


def test_fmt_diff_in_percentage_points_and_in_the_data_unit():
    diff = d2l.paired_diff([0.90, 0.91, 0.92], [0.93, 0.95, 0.95])
    low, high = 100 * diff.low, 100 * diff.high
    assert d2l.fmt_diff(diff) == f"+3.3 个百分点（95% 区间 [{low:+.1f}, {high:+.1f}]）"
    assert d2l.fmt_diff(diff, scale=1, unit="", digits=3).startswith("+0.033（95% 区间 [")
    assert "90% 区间" in d2l.fmt_diff(d2l.paired_diff([1, 2, 3], [2, 4, 5], confidence=0.9))


def test_fmt_diff_without_an_interval_says_so():
    assert d2l.fmt_diff(d2l.paired_diff([0.5], [0.6])) == "+10.0 个百分点（1 对，无区间）"
    with pytest.raises(TypeError, match="PairedDiff"):
        d2l.fmt_diff(0.03)


def test_diff_table_one_row_per_difference():
    a = d2l.paired_diff([0.90, 0.91, 0.92], [0.93, 0.95, 0.95])
    b = d2l.paired_diff([0.90, 0.91, 0.92], [0.90, 0.90, 0.93])
    table = d2l.diff_table({"lr 0.1": a, "lr 1.0": b}, key="lr", label="BN - no BN",
                           extra={"note": {"lr 0.1": "x", "lr 1.0": "y"}})
    assert table.headers == ["lr", "note", "pairs", "BN - no BN", "95% CI low", "95% CI high", "clear"]
    assert table.rows[0] == ["lr 0.1", "x", 3, a.mean, a.low, a.high, True]
    assert not table.rows[1][-1]  # the interval of b includes 0
    assert f"{a.low:+.3f}" in repr(table)


def test_diff_table_tuple_keys_and_bad_input():
    d = d2l.paired_diff([1, 2, 3], [2, 4, 5])
    table = d2l.diff_table({("ReLU", "before"): d}, key=["activation", "placement"], digits=1)
    assert table.rows[0][:3] == ["ReLU", "before", 3]
    with pytest.raises(ValueError, match="one part per key column"):
        d2l.diff_table({"ReLU": d}, key=["activation", "placement"])
    with pytest.raises(ValueError, match="no value for row"):
        d2l.diff_table({"a": d}, extra={"note": {}})
    with pytest.raises(TypeError, match="PairedDiff"):
        d2l.diff_table({"a": 0.5})
    with pytest.raises(ValueError, match="empty"):
        d2l.diff_table({})
