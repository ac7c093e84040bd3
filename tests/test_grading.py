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

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import grade  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
import submissions as subs_fixture  # noqa: E402
from submissions import BUGS, answer_cell, asg, write  # noqa: E402

# the time limits of the main run: far above what a correct notebook needs, also on a busy machine
TIMEOUT, CELL_TIMEOUT = 300, 120
# the module fixture grades the whole class: 277 s on a busy 2-core machine (2026-12-03)
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the main class once: ``(results by (student, assignment), output folder)``."""
    subs, out = tmp_path_factory.mktemp("submissions"), tmp_path_factory.mktemp("grades")
    for name in asg.ASSIGNMENTS:
        write(subs, "reference", name, asg.load(name))
        write(subs, "release", name, subs_fixture.release(name))
        write(subs, "independent", name, subs_fixture.independent(name))
    for bug in BUGS:
        write(subs, f"bug_{bug}", *subs_fixture.buggy(bug))
    crash = asg.load("bn_backprop")
    cell = answer_cell(crash, "batchnorm_forward")
    cell.source = 'raise RuntimeError("half-finished")\n' + cell.source
    write(subs, "crash", "bn_backprop", crash)
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


def test_every_run_is_seeded_and_single_threaded():
    """The first cell seeds random, NumPy and torch with the grader's seed: reseeding repeats the draws."""
    code = ("import random\nimport numpy as np\nimport torch\n"
            "first = (random.random(), float(np.random.rand()), float(torch.rand(1)))\n"
            "random.seed(7)\nnp.random.seed(7)\ntorch.manual_seed(7)\n"
            "again = (random.random(), float(np.random.rand()), float(torch.rand(1)))\n"
            "assert first == again, (first, again)\n"
            "assert torch.initial_seed() == 7 and torch.get_num_threads() == 1")
    (outcome,) = grade.execute([code], set(), seed=7, timeout=120, cell_timeout=60)
    assert outcome["status"] == "ok", outcome
    (outcome,) = grade.execute([code], set(), seed=8, timeout=120, cell_timeout=60)
    assert outcome["status"] == "error" and "AssertionError" in outcome["message"], outcome


# ------------------------------------------------------------------ submissions that misbehave


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """A small class that loops, kills its kernel or hands in something else; short time limits."""
    subs, out = tmp_path_factory.mktemp("broken"), tmp_path_factory.mktemp("broken-grades")
    nb = subs_fixture.release("bn_experiment")
    answer_cell(nb, "paired_interval").source = (
        "def paired_interval(a, b, confidence=0.95):\n    while True:\n        pass")
    write(subs, "looper", "bn_experiment", nb)
    nb = subs_fixture.release("norm_family")
    answer_cell(nb, "group_norm").source = "import os\nos._exit(3)"
    write(subs, "dies", "norm_family", nb)
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
