"""Benchmark (a script, not a test): how long `make grade` takes for a class.

    python benchmarks/bench_grading.py                       # 30 submissions, 3 repeats, 2 jobs
    python benchmarks/bench_grading.py --submissions 120 --repeats 1

Generates ``--submissions`` notebooks spread over the four assignments (in
turn: bn_backprop, bn_layer, norm_family, bn_experiment), a mix of reference
solutions, independent correct answers, untouched releases and planted
mistakes (tests/fixtures/submissions.py), and grades them with
``tools/grade.py`` (no cache, fresh output each repeat). Reports the median,
minimum and maximum wall time of ``--repeats`` runs, the time per notebook, the
CPU time of the kernels and workers (what the grading costs whatever else runs),
and the machine's load average before and after, since other processes on a
shared machine slow every kernel down.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
import grade  # noqa: E402
import submissions  # noqa: E402
from submissions import asg  # noqa: E402


def kinds(name):
    """The kinds of submission of an assignment, cycled through: correct, untouched, buggy."""
    bugs = [bug for bug, spec in sorted(submissions.BUGS.items()) if spec[0] == name]
    return ["reference", "independent", "release", *bugs]


def make_class(folder, count):
    """Write ``count`` submissions into ``folder``; return ``{kind: number}``."""
    made = {}
    for i in range(count):
        name = asg.ASSIGNMENTS[i % len(asg.ASSIGNMENTS)]
        options = kinds(name)
        kind = options[(i // len(asg.ASSIGNMENTS)) % len(options)]
        if kind == "reference":
            nb = asg.load(name)
        elif kind == "independent":
            nb = submissions.independent(name)
        elif kind == "release":
            nb = submissions.release(name)
        else:
            nb = submissions.buggy(kind)[1]
        submissions.write(folder, f"student{i // len(asg.ASSIGNMENTS):02d}", name, nb)
        made[kind] = made.get(kind, 0) + 1
    return made


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=30, help="notebooks to grade (default: 30)")
    parser.add_argument("--repeats", type=int, default=3, help="runs; the median is reported (default: 3)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks at the same time (default: 2)")
    args = parser.parse_args(argv)
    times, cpu, load = [], [], [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder = Path(tmp) / "submissions"
        made = make_class(folder, args.submissions)
        for repeat in range(args.repeats):
            start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            results = grade.grade_all(folder, Path(tmp) / f"grades{repeat}", jobs=args.jobs, use_cache=False,
                                      log=lambda *a: None)
            times.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, and the kernels they reaped
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            load.append(os.getloadavg()[0])
            graded = sum(r["status"] != "missing" for r in results)
            print(f"run {repeat + 1}: {times[-1]:.1f} s, {cpu[-1]:.0f} CPU-s for {graded} notebooks",
                  flush=True)
    median = statistics.median(times)
    report = {"submissions": args.submissions, "kinds": made, "jobs": args.jobs, "repeats": args.repeats,
              "median_s": round(median, 1), "min_s": round(min(times), 1), "max_s": round(max(times), 1),
              "per_notebook_s": round(median / args.submissions, 2),
              "cpu_s": [round(c, 1) for c in cpu],
              "cpu_per_notebook_s": round(statistics.median(cpu) / graded, 2),
              "load_average_1min": [round(x, 1) for x in load],
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
              "date": time.strftime("%Y-%m-%d %H:%M")}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
