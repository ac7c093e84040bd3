"""The grader end to end (tools/grade.py): real kernels run generated submissions.

One class of submissions is graded once per module: the reference solutions
(full marks), the untouched release (0 on everything autograded), independent
correct implementations written differently (full marks), and one planted
mistake per classic BN bug, each of which must lose points exactly on the
checks listed in ``BUGS``. A second, small run holds the submissions that loop,
kill their kernel or are not notebooks.
"""

import csv
import json
import shutil
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import grade  # noqa: E402

import assignments as asg  # noqa: E402

# Independent correct answers, written unlike the reference (var_mean, einsum, lerp_, rsqrt, a fused
# scale and shift, other reduction orders, scipy's t.interval): the hidden tests must not depend on
# the reference's way of writing it.
INDEPENDENT = {
    "bn_backprop": {
        "batchnorm_forward": '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    var, mean = torch.var_mean(x, dim=0, unbiased=False)
    inv_std = torch.rsqrt(var + eps)
    x_hat = (x - mean) * inv_std
    return x_hat * gamma + beta, {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma}
''',
        "batchnorm_backward": '''
def batchnorm_backward(dout, cache):
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    n = dout.shape[0]
    dbeta = torch.einsum("nd->d", dout)
    dgamma = torch.einsum("nd,nd->d", dout, x_hat)
    dx_hat = dout * gamma
    xc = x_hat / inv_std
    dinv_std = (dx_hat * xc).sum(0)
    dvar = dinv_std * -0.5 * inv_std ** 3
    dxc = dx_hat * inv_std + dvar * 2 * xc / n
    return dxc - dxc.mean(0), dgamma, dbeta
''',
        "batchnorm_backward_alt": '''
def batchnorm_backward_alt(dout, cache):
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    dx_hat = dout * gamma
    dx = inv_std * (dx_hat - dx_hat.mean(0) - x_hat * (dx_hat * x_hat).mean(0))
    return dx, (x_hat * dout).sum(0), dout.flip(0).sum(0)
''',
    },
    "bn_layer": {
        "BatchNorm": '''
class BatchNorm(nn.Module):
    def __init__(self, num_features, num_dims, eps=1e-5, momentum=0.1):
        super().__init__()
        if num_dims not in {2, 4}:
            raise ValueError("num_dims must be 2 or 4")
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.num_dims, self.eps, self.momentum = num_dims, eps, momentum

    def forward(self, X):
        c = X.shape[1]
        flat = X.transpose(0, 1).reshape(c, -1)
        view = (1, c) + (1,) * (X.dim() - 2)
        if self.training:
            var, mean = torch.var_mean(flat, dim=1, correction=0)
            count = flat.shape[1]
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * count / (count - 1), self.momentum)
                self.num_batches_tracked.add_(1)
        else:
            mean, var = self.running_mean, self.running_var
        scale = self.weight * torch.rsqrt(var + self.eps)
        return X * scale.view(view) + (self.bias - mean * scale).view(view)
''',
    },
    "norm_family": {
        "group_norm": '''
def group_norm(x, num_groups, gamma, beta, eps=1e-5):
    n, c = x.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"cannot split {c} channels into {num_groups} groups")
    flat = x.reshape(n * num_groups, -1)
    var, mean = torch.var_mean(flat, dim=1, unbiased=False, keepdim=True)
    y = ((flat - mean) * torch.rsqrt(var + eps)).reshape_as(x)
    shape = (1, c) + (1,) * (x.dim() - 2)
    return torch.addcmul(beta.view(shape), y, gamma.view(shape))
''',
    },
    "bn_experiment": {
        "paired_interval": '''
def paired_interval(a, b, confidence=0.95):
    d = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    n = len(d)
    if n < 2:
        raise ValueError("need two pairs or more")
    mean = sum(d) / n
    s = math.sqrt(sum((v - mean) ** 2 for v in d) / (n - 1))
    if s == 0:
        return mean, mean, mean
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=s / math.sqrt(n))
    return mean, float(low), float(high)
''',
    },
}

# planted mistakes: (assignment, answer id, [(reference text, buggy text)], checks that must fail)
BUGS = {
    "mean_term": ("bn_backprop", "batchnorm_backward", [("    dx = dx1 + dx2\n", "    dx = dx1\n")],
                  {"backward", "hidden_backward_dx"}),
    "dgamma_dbeta": ("bn_backprop", "batchnorm_backward",
                     [("dbeta = dout.sum(dim=0)\n    dgamma = (dout * xhat).sum(dim=0)\n",
                       "dbeta = dout.mean(dim=0)\n    dgamma = (dout * xhat).mean(dim=0)\n")],
                     {"backward", "hidden_backward_params"}),
    "no_eps": ("bn_backprop", "batchnorm_forward", [("torch.sqrt(var + eps)", "torch.sqrt(var)")],
               {"forward", "hidden_forward_shapes", "hidden_eps"}),
    "momentum_side": ("bn_layer", "BatchNorm",
                      [("running_mean.mul_(1 - m).add_(m * mean)",
                        "running_mean.mul_(m).add_((1 - m) * mean)"),
                       ("running_var.mul_(1 - m).add_(m * unbiased)",
                        "running_var.mul_(m).add_((1 - m) * unbiased)")],
                      {"running_stats", "eval_output", "hidden_momentum"}),
    "biased_var": ("bn_layer", "BatchNorm", [("unbiased = var * n / max(n - 1, 1)", "unbiased = var")],
                   {"running_stats", "eval_output", "hidden_unbiased_var"}),
    "eval_batch_stats": ("bn_layer", "BatchNorm",
                         [("mean, var = self.running_mean, self.running_var",
                           "mean, var = X.mean(dim=dims), X.var(dim=dims, unbiased=False)")],
                         {"eval_output", "hidden_eval"}),
    # statistics over every axis of a conv input (one mean for all channels) instead of (0, 2, 3);
    # the 4-D parts of the unbiased-variance and gradient tests fail with it, as they must
    "conv_axes": ("bn_layer", "BatchNorm", [("else (0, 2, 3)", "else (0, 1, 2, 3)")],
                  {"train_output", "running_stats", "eval_output", "hidden_conv_axes", "hidden_grads",
                   "hidden_unbiased_var"}),
    "autograd_history": ("bn_layer", "BatchNorm",
                         [("            with torch.no_grad():\n", "            if True:\n"),
                          ("self.running_mean.mul_(1 - m).add_(m * mean)",
                           "self.running_mean = (1 - m) * self.running_mean + m * mean"),
                          ("self.running_var.mul_(1 - m).add_(m * unbiased)",
                           "self.running_var = (1 - m) * self.running_var + m * unbiased")],
                         {"hidden_detached"}),
    # per-channel statistics whatever the number of groups (instance norm for every G)
    "group_axes": ("norm_family", "group_norm",
                   [("x.reshape(n, num_groups, c // num_groups, h, w)", "x.reshape(n, c, 1, h, w)")],
                   {"gn_basic", "gn_ln_in", "hidden_shapes", "hidden_grads", "hidden_eps"}),
    "normal_quantile": ("bn_experiment", "paired_interval",
                        [("stats.t.ppf((1 + confidence) / 2, df=n - 1)",
                          "stats.norm.ppf((1 + confidence) / 2)")],
                        {"paired_basic", "hidden_small_n", "hidden_confidence"}),
}
# the time limits of the main run: far above what a correct notebook needs, also on a busy machine
TIMEOUT, CELL_TIMEOUT = 300, 120


def _release(name):
    return asg.release_notebook(asg.load(name))


def _answer_cell(nb, ident):
    (cell,) = [c for c in nb.cells if (c.metadata.get("grading") or {}).get("id") == ident]
    return cell


def _write(folder, student, name, nb):
    path = folder / student / name / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _planted(name, ident, edits):
    nb = asg.load(name)
    cell = _answer_cell(nb, ident)
    for old, new in edits:
        assert cell.source.count(old) == 1, f"{old!r} is not once in the reference {ident}"
        cell.source = cell.source.replace(old, new)
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the main class once: ``(results by (student, assignment), output folder)``."""
    subs, out = tmp_path_factory.mktemp("submissions"), tmp_path_factory.mktemp("grades")
    for name in asg.ASSIGNMENTS:
        _write(subs, "reference", name, asg.load(name))
        _write(subs, "release", name, _release(name))
        nb = _release(name)
        for ident, code in INDEPENDENT[name].items():
            _answer_cell(nb, ident).source = code.strip()
        nb.cells.append(nbformat.v4.new_code_cell("while True:\n    pass  # a scratch cell: never run"))
        _write(subs, "independent", name, nb)
    for bug, (name, ident, edits, _) in BUGS.items():
        _write(subs, f"bug_{bug}", name, _planted(name, ident, edits))
    crash = asg.load("bn_backprop")
    cell = _answer_cell(crash, "batchnorm_forward")
    cell.source = 'raise RuntimeError("half-finished")\n' + cell.source
    _write(subs, "crash", "bn_backprop", crash)
    results = grade.grade_all(subs, out, jobs=2, timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT,
                              log=lambda *a: None)
    return {(r["student"], r["assignment"]): r for r in results}, out


def _failed(result):
    return {c["id"] for c in result["checks"] if not c["passed"]}


@pytest.mark.parametrize("name", asg.ASSIGNMENTS)
def test_reference_solution_scores_full_marks(graded, name):
    result = graded[0][("reference", name)]
    assert result["status"] == "graded" and not result["notes"], result["notes"]
    assert not _failed(result), [c for c in result["checks"] if not c["passed"]]
    assert len(result["checks"]) == len([i for i in asg.items(asg.load(name)) if i.role in asg.SCORED])


@pytest.mark.parametrize("name", asg.ASSIGNMENTS)
def test_untouched_release_scores_zero(graded, name):
    result = graded[0][("release", name)]
    assert result["status"] == "graded"
    assert all(c["score"] == 0 for c in result["checks"])
    assert all("NotImplementedError" in c["message"] for c in result["checks"]), result["checks"]


@pytest.mark.parametrize("name", asg.ASSIGNMENTS)
def test_independent_correct_implementation_scores_full_marks(graded, name):
    result = graded[0][("independent", name)]
    assert not _failed(result), [c for c in result["checks"] if not c["passed"]]


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_planted_mistake_loses_points_exactly_where_expected(graded, bug):
    name, _, _, expected = BUGS[bug]
    result = graded[0][(f"bug_{bug}", name)]
    assert _failed(result) == expected
    hidden = [c for c in result["checks"] if c["kind"] == "hidden"]
    assert any(not c["passed"] for c in hidden), "no hidden test caught it"
    page = (graded[1] / "feedback" / f"bug_{bug}" / f"{name}.html").read_text(encoding="utf-8")
    for check in result["checks"]:
        if not check["passed"]:  # each failed check is named, with its (Chinese) message
            assert check["title"] in page and check["message"][:20] in page


def test_an_answer_cell_that_raises_is_reported_and_scores_zero(graded):
    result = graded[0][("crash", "bn_backprop")]
    assert result["status"] == "graded" and all(c["score"] == 0 for c in result["checks"])
    assert any("batchnorm_forward" in n and "RuntimeError: half-finished" in n for n in result["notes"])


def test_grades_csv_lists_every_student_and_assignment(graded):
    results, out = graded
    with (out / "grades.csv").open(encoding="utf-8") as f:
        rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(f)}
    assert set(rows) == set(results)
    assert {"student", "assignment", "score", "max_score"} <= set(next(iter(rows.values())))
    for name in asg.ASSIGNMENTS:
        items = asg.items(asg.load(name))
        auto = sum(i.points for i in items if i.role in asg.SCORED)
        assert float(rows[("reference", name)]["auto_score"]) == auto
        assert float(rows[("reference", name)]["max_score"]) == sum(i.points for i in items)
        assert float(rows[("release", name)]["score"]) == 0
    assert rows[("bug_mean_term", "bn_layer")]["status"] == "missing"
    assert (out / rows[("reference", "bn_layer")]["feedback"]).is_file()


# ------------------------------------------------------------------ submissions that misbehave


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """A small class that loops, kills its kernel or hands in something else; short time limits."""
    subs, out = tmp_path_factory.mktemp("broken"), tmp_path_factory.mktemp("broken-grades")
    nb = _release("bn_experiment")
    _answer_cell(nb, "paired_interval").source = (
        "def paired_interval(a, b, confidence=0.95):\n    while True:\n        pass")
    _write(subs, "looper", "bn_experiment", nb)
    nb = _release("norm_family")
    _answer_cell(nb, "group_norm").source = "import os\nos._exit(3)"
    _write(subs, "dies", "norm_family", nb)
    garbage = subs / "garbage" / "bn_layer" / "bn_layer.ipynb"
    garbage.parent.mkdir(parents=True)
    garbage.write_text("这不是笔记本", encoding="utf-8")
    other = subs / "garbage" / "norm_family" / "my_homework.ipynb"
    other.parent.mkdir(parents=True)
    shutil.copy(asg.source_path("norm_family"), other)
    start = time.monotonic()
    results = grade.grade_all(subs, out, jobs=2, timeout=40, cell_timeout=3, log=lambda *a: None)
    return {(r["student"], r["assignment"]): r for r in results}, out, time.monotonic() - start, subs


def test_a_loop_is_interrupted_and_the_notebook_time_is_bounded(broken):
    results, _, seconds, _ = broken
    result = results[("looper", "bn_experiment")]
    assert all(c["score"] == 0 for c in result["checks"])
    messages = [c["message"] for c in result["checks"]]
    assert any(m.startswith("超时") for m in messages), messages
    assert result["seconds"] < 40 + 3 * 5 + 10  # the notebook limit, plus the interrupts' grace


def test_a_dead_kernel_scores_zero_without_stopping_the_others(broken):
    results = broken[0]
    result = results[("dies", "norm_family")]
    assert all(c["score"] == 0 for c in result["checks"])
    said = [c["message"] for c in result["checks"]] + result["notes"]
    assert any("内核崩溃" in m for m in said), said


def test_a_file_that_is_not_a_notebook_is_reported(broken):
    results, out, _, _ = broken
    result = results[("garbage", "bn_layer")]
    assert result["status"] == "unreadable" and all(c["score"] == 0 for c in result["checks"])
    page = (out / "feedback" / "garbage" / "bn_layer.html").read_text(encoding="utf-8")
    assert "无法作为 Jupyter 笔记本读取" in page
    assert results[("garbage", "bn_backprop")]["status"] == "missing"


def test_a_misnamed_notebook_is_graded_with_a_note(broken):
    result = broken[0][("garbage", "norm_family")]
    assert not _failed(result)
    assert any("my_homework.ipynb" in n for n in result["notes"])


def test_manual_grades_are_merged_and_unchanged_submissions_are_not_run_again(broken):
    _, out, _, subs = broken
    manual = out / "manual.csv"
    with manual.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {(r["student"], r["question"]) for r in rows} >= {("garbage", "q_no_running_stats")}
    for row in rows:
        if row["student"] == "garbage" and row["question"] == "q_no_running_stats":
            row["points"], row["comment"] = "3", "讲清楚了与批量无关"
    with manual.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, grade.MANUAL_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    logged = []
    start = time.monotonic()
    grade.grade_all(subs, out, jobs=2, timeout=40, cell_timeout=3, log=logged.append)
    assert time.monotonic() - start < 10 and "grading 0 with" in logged[0]
    with (out / "grades.csv").open(encoding="utf-8") as f:
        rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(f)}
    row = rows[("garbage", "norm_family")]
    assert row["manual_score"] == "3" and row["manual_done"] == "yes"
    assert float(row["score"]) == float(row["auto_score"]) + 3
    page = (out / "feedback" / "garbage" / "norm_family.html").read_text(encoding="utf-8")
    assert "讲清楚了与批量无关" in page
    json.loads((out / "results.json").read_text(encoding="utf-8"))
