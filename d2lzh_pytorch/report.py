"""Presenting results: tables as pandas DataFrames and ``mean ± std`` formatting.

All statistics come from ``stats`` (sample standard deviation, NaN skipped,
paired Student-t intervals); this module only arranges and formats them.
"""

import math
import numbers

import pandas as pd

from .stats import PairedDiff, describe, paired_diff

__all__ = ["Table", "diff_table", "fmt_diff", "fmt_mean_std", "fmt_summary", "results_table"]


def _fmt_cell(value, fmt=None):
    if value is None:
        return "—"
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        if math.isnan(value):
            return "—"
        return (fmt or "{:.4f}").format(value)
    if fmt is not None and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return fmt.format(value)
    return str(value)


def _is_plain_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class Table(pd.DataFrame):
    """A results table: a ``pandas.DataFrame`` built from ``headers`` and ``rows``.

    ``Table(headers, rows)`` is ``pd.DataFrame(rows, columns=headers)`` that
    displays like a report: no 0, 1, 2 index column, floats with 4 decimals
    (or ``formats[column]``, a ``str.format`` pattern such as ``"{:,.0f}"``),
    NaN/None as "—". ``headers`` and ``rows`` give the content back as lists.
    Anything derived from it (``table.loc[...]``, ``table.copy()``, ...) is a
    plain ``DataFrame``.
    """

    @property
    def _constructor(self):
        return pd.DataFrame

    def __init__(self, headers, rows, *, formats=None):
        headers = list(headers)
        rows = [list(row) for row in rows]
        bad = [i for i, row in enumerate(rows) if len(row) != len(headers)]
        if bad:
            raise ValueError(
                f"every row needs one value per header ({len(headers)}: {headers}); "
                f"row {bad[0]} has {len(rows[bad[0]])}")
        columns = {}
        for j in range(len(headers)):
            values = [row[j] for row in rows]
            mixed = any(_is_plain_int(v) for v in values) and not all(_is_plain_int(v) for v in values)
            columns[j] = pd.Series(values, dtype=object if mixed else None)  # keep 3 as "3" beside NaN
        super().__init__(columns if rows else None, columns=None if rows else headers)
        if rows:
            self.columns = headers
        unknown = set(formats or {}) - set(headers)
        if unknown:
            raise ValueError(f"formats name columns that the table lacks: {sorted(unknown)}")
        self.attrs["formats"] = dict(formats or {})

    @property
    def headers(self):
        """The column names, as a list."""
        return list(self.columns)

    @property
    def rows(self):
        """The rows, as a list of lists (without the index)."""
        return [list(row) for row in self.itertuples(index=False, name=None)]

    def _display_frame(self):
        formats = self.attrs.get("formats", {})
        cells = {j: [_fmt_cell(v, formats.get(column)) for v in self.iloc[:, j]]
                 for j, column in enumerate(self.columns)}
        shown = pd.DataFrame(cells, dtype=object)
        shown.columns = self.columns
        return shown

    def _repr_html_(self):
        return self._display_frame().to_html(index=False, border=0, classes="table", escape=True)

    def _repr_markdown_(self):
        shown = self._display_frame()
        lines = ["| " + " | ".join(map(str, shown.columns)) + " |", "|" + "---|" * len(shown.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in shown.itertuples(index=False, name=None)]
        return "\n".join(lines)

    def __repr__(self):
        return self._display_frame().to_string(index=False)


def fmt_mean_std(mean, std, digits=3):
    """Format ``mean ± std`` for tables and prose: "—" without a mean, "± —" without a std (one seed)."""
    if mean is None or math.isnan(mean):
        return "—"
    if std is None or math.isnan(std):
        return f"{mean:.{digits}f} ± —"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def fmt_summary(values, digits=3):
    """``mean ± sample std`` of ``values`` (one number per seed, NaN/inf skipped), as ``fmt_mean_std``."""
    summary = describe(values)
    return fmt_mean_std(summary.mean, summary.std, digits)


def fmt_diff(diff, *, scale=100, unit="个百分点", digits=1):
    """A ``PairedDiff`` for the book's prose: "+1.2 个百分点（95% 区间 [+0.3, +2.1]）".

    The mean and the interval are multiplied by ``scale`` (100: differences of
    fractions in percentage points) and shown with ``digits`` decimals and
    ``unit`` (``scale=1, unit=""`` for differences in the data's own unit).
    Without an interval (fewer than two seed pairs, or no spread) it says so.
    """
    if not isinstance(diff, PairedDiff):
        raise TypeError(f"diff must be a PairedDiff (from d2l.paired_diff), got {type(diff).__name__}")
    unit = f" {unit}" if unit else ""
    number = f"{scale * diff.mean:+.{digits}f}{unit}"
    if math.isnan(diff.low):
        return f"{number}（{diff.n} 对，无区间）"
    return (f"{number}（{diff.confidence:.0%} 区间 "
            f"[{scale * diff.low:+.{digits}f}, {scale * diff.high:+.{digits}f}]）")


def diff_table(diffs, key="setting", label="mean difference", digits=3, extra=None):
    """A ``Table`` of paired differences, one row per entry of ``diffs`` (a dict: row key -> ``PairedDiff``).

    Columns: ``key`` (a column name; a list of names when the row keys are
    tuples of that length), the columns of ``extra`` (a dict: column name ->
    dict of row key -> value), then the seed pairs, the mean difference
    (``label``), the interval's bounds (``digits`` decimals, signed) and
    ``clear`` (the interval excludes 0).
    """
    keys = [key] if isinstance(key, str) else list(key)
    extra = dict(extra or {})
    diffs = dict(diffs)
    if not diffs:
        raise ValueError("diffs is empty: pass a dict of row key -> PairedDiff")
    wrong = [name for name, d in diffs.items() if not isinstance(d, PairedDiff)]
    if wrong:
        raise TypeError(f"diffs[{wrong[0]!r}] must be a PairedDiff (from d2l.paired_diff), "
                        f"got {type(diffs[wrong[0]]).__name__}")
    level = f"{next(iter(diffs.values())).confidence:.0%}"
    numbers = [label, f"{level} CI low", f"{level} CI high"]
    rows = []
    for name, d in diffs.items():
        names = list(name) if len(keys) > 1 else [name]
        if len(names) != len(keys):
            raise ValueError(f"row key {name!r} must have one part per key column {keys}")
        missing = [column for column, values in extra.items() if name not in values]
        if missing:
            raise ValueError(f"extra columns {missing} have no value for row {name!r}")
        shown = [values[name] for values in extra.values()]
        rows.append([*names, *shown, d.n, d.mean, d.low, d.high, d.clear])
    return Table([*keys, *extra, "pairs", *numbers, "clear"], rows,
                 formats={h: f"{{:+.{digits}f}}" for h in numbers})


def _mean_of_means(runs, column):
    per_run = [describe(getattr(run.history, column)).mean for run in runs if len(run.history)]
    return describe(per_run).mean


def results_table(runs_by_name, baseline=None, confidence=0.95):
    """A ``Table`` (a DataFrame) with one row per setting of ``runs_by_name`` (name -> list of ``Run``).

    Columns: the setting; the number of seeds; test accuracy after epoch 1 and
    at the end, and the final training loss, as "mean ± sample std" over the
    seeds (diverged and interrupted runs left out); seconds per epoch and
    training examples per second (mean over runs); the number of diverged
    runs; and ``status``, "INTERRUPTED" when Ctrl-C cut the setting's runs
    short (``runs.interrupted`` or a ``run.interrupted``), else "complete".

    With ``baseline`` (one of the names) four more columns give, for every
    other setting, the paired difference of the final test accuracy to the
    baseline (runs matched by seed, ``stats.paired_diff``): its mean, the
    ``confidence`` t-interval, whether the interval excludes 0 (``clear``),
    and the number of seed pairs used.
    """
    if baseline is not None and baseline not in runs_by_name:
        raise ValueError(f"baseline {baseline!r} is not one of the settings {list(runs_by_name)}")
    headers = ["setting", "seeds", "test acc after epoch 1", "final test acc", "final train loss",
               "seconds per epoch", "train examples/s", "diverged", "status"]
    formats = {"seconds per epoch": "{:.2f}", "train examples/s": "{:,.0f}"}
    if baseline is not None:
        level = f"{confidence:.0%}"
        diff_headers = [f"Δ final test acc vs {baseline}", f"{level} CI low", f"{level} CI high", "clear",
                        "pairs"]
        headers += diff_headers
        formats.update({h: "{:+.4f}" for h in diff_headers[:3]})
        base_finals = {run.seed: run.final("test_acc") for run in runs_by_name[baseline]}
    rows = []
    for name, runs in runs_by_name.items():
        runs = list(runs)
        interrupted = getattr(runs_by_name[name], "interrupted", False) or any(
            getattr(run, "interrupted", False) for run in runs)
        row = [name, len(runs),
               fmt_summary([run.after_epoch(1) for run in runs]),
               fmt_summary([run.final("test_acc") for run in runs]),
               fmt_summary([run.final("loss") for run in runs], digits=4),
               _mean_of_means(runs, "seconds"), _mean_of_means(runs, "examples_per_sec"),
               sum(bool(run.diverged) for run in runs),
               "INTERRUPTED" if interrupted else "complete"]
        if baseline is not None:
            if name == baseline:
                row += [math.nan, math.nan, math.nan, None, None]
            else:
                finals = {run.seed: run.final("test_acc") for run in runs}
                common = [seed for seed in base_finals if seed in finals]
                diff = paired_diff([base_finals[s] for s in common], [finals[s] for s in common], confidence)
                row += [diff.mean, diff.low, diff.high, diff.clear, diff.n]
        rows.append(row)
    return Table(headers, rows, formats=formats)
