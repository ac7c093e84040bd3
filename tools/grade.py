"""Grade submitted assignments offline: run them, score the checks and hidden tests, write feedback.

    python tools/grade.py SUBMISSIONS                 # `make grade SUBMISSIONS=...`: into _build/grades/
    python tools/grade.py SUBMISSIONS --jobs 2 --timeout 120 --cell-timeout 20

``SUBMISSIONS/<student>/<assignment>/<assignment>.ipynb`` is nbgrader's layout.
For each submission a notebook is assembled from the teacher notebook
(``tools/assignments.py``): its own cells (imports, visible checks, hidden tests)
with the student's answer cells put in their places. The student's other cells
and the cells marked ``skip`` (the experiment) are not run, and the checks are
the teacher's, whatever the submission did to them. The notebook runs in a fresh
kernel (one thread, seeded by a first cell, in a temporary folder), cell by cell
with a time limit per cell and per notebook; a cell that loops is interrupted.
A check or hidden test scores its points when its cell runs without raising.

A submission that is missing, is not a notebook, raises, loops or kills its
kernel gets 0 for what could not run and says so in its feedback; the others
are graded all the same. Written questions are graded by hand: fill in
``points`` in ``<out>/manual.csv`` and run the command again (results are cached,
so only changed submissions run again).

Output in ``<out>``: ``grades.csv`` (one row per student and assignment),
``feedback/<student>/<assignment>.html``, ``results.json`` and ``manual.csv``.
Student code runs with your permissions, as in nbgrader: grade in an account or
container that holds nothing else of value.
"""

import argparse
import ast
import concurrent.futures
import csv
import hashlib
import html
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import assignments as asg  # noqa: E402

ROOT = asg.ROOT
OUT_DIR = ROOT / "_build" / "grades"
VERSION = "1"
PREAMBLE = """\
import random

import numpy as np
import torch

random.seed({seed})
np.random.seed({seed})
torch.manual_seed({seed})
torch.set_num_threads(1)"""
KIND_NAMES = {"check": "公开检查", "hidden": "隐藏测试"}
STATUS_TEXT = {"graded": "已评分", "missing": "没有提交", "unreadable": "无法作为笔记本读取"}
CSV_FIELDS = ["student", "assignment", "score", "max_score", "auto_score", "auto_max", "manual_score",
              "manual_max", "manual_done", "status", "feedback"]
MANUAL_FIELDS = ["student", "assignment", "question", "title", "max_points", "points", "comment"]


class GradingError(RuntimeError):
    """Grading cannot go on (not a student's fault): bad arguments, no kernel, a bad manual.csv."""


# ------------------------------------------------------------------ finding the submissions

def discover(submissions):
    """``[(student, assignment, notebook path or None, note)]`` for every student folder and assignment."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise GradingError(f"{submissions} is not a folder; expected SUBMISSIONS/<student>/<assignment>/"
                           f"<assignment>.ipynb")
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise GradingError(f"no student folders in {submissions}; expected SUBMISSIONS/<student>/"
                           f"<assignment>/<assignment>.ipynb")
    found = []
    for student in students:
        for name in asg.ASSIGNMENTS:
            folder, path = student / name, student / name / f"{name}.ipynb"
            if path.is_file():
                found.append((student.name, name, path, ""))
                continue
            others = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
            if len(others) == 1:
                found.append((student.name, name, others[0],
                              f"笔记本应命名为 {name}.ipynb，评分用的是 {others[0].name}。"))
            elif others:
                found.append((student.name, name, None,
                              f"文件夹 {name}/ 里有 {len(others)} 个笔记本，但没有 {name}.ipynb。"))
            else:
                found.append((student.name, name, None, ""))
    if all(path is None for _, _, path, _ in found):
        raise GradingError(f"no submission in {submissions}: expected {submissions}/<student>/<assignment>/"
                           f"<assignment>.ipynb with <assignment> one of {', '.join(asg.ASSIGNMENTS)}")
    return found


# ------------------------------------------------------------------ assembling the notebook to run

def _defines(source):
    """Top-level names a cell defines (functions, classes, assignments); empty if it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _find(cells, kind, ident, names=()):
    """The student's cell for an answer or written question: by its id, else (code) by what it defines."""
    for cell in cells:
        meta = cell.get("metadata", {}).get("grading") or {}
        if meta.get("role") == kind and meta.get("id") == ident:
            return cell
    if names:
        matches = [c for c in cells if c.get("cell_type") == "code" and set(names) <= _defines(c.source)]
        return matches[-1] if matches else None
    return None


def assemble(source, submission):
    """The cells to run, ``[(kind, meta, code)]``, the written answers and notes on what was missing."""
    runs, written, notes = [], [], []
    cells = list(submission.cells)
    for cell in source.cells:
        meta = asg.role(cell)
        kind = meta.get("role") or ("given" if cell.cell_type == "code" else None)
        if kind in (None, "skip"):
            continue
        if kind == "written":
            found = _find(cells, "written", meta["id"])
            text = found.source if found is not None else ""
            written.append({"id": meta["id"], "title": meta["title"], "points": float(meta["points"]),
                            "answer": text.strip(), "found": found is not None})
            if found is None:
                notes.append(f"找不到书面问题“{meta['title']}”的回答单元（是否删掉了它？）。")
        elif kind == "answer":
            found = _find(cells, "answer", meta["id"], meta["defines"])
            if found is None:
                names = "、".join(meta["defines"])
                notes.append(f"找不到定义 {names} 的答案单元（是否删掉了它或改了名字？）；"
                             "依赖它的检查都不能通过。")
            else:
                runs.append(("answer", meta, found.source))
        else:
            runs.append((kind, meta, cell.source))
    return runs, written, notes


# ------------------------------------------------------------------ running it

def explain(ename, evalue):
    """A Chinese sentence for an error a cell raised."""
    if ename == "CheckFailed":
        return evalue
    if ename == "NotImplementedError":
        return "还没有实现：答案单元里仍是 raise NotImplementedError。"
    if ename == "NameError":
        return f"找不到名字（{evalue}）：答案单元没有运行成功，或者函数、类的名字与要求的不同。"
    if ename in ("SyntaxError", "IndentationError"):
        return f"语法错误：{evalue}"
    return f"运行出错：{ename}: {evalue}"


def _kernel_env(seed):
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED=str(seed), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p))
    return env


def execute(codes, long_cells, seed, timeout, cell_timeout):
    """Run ``codes`` after a seeding cell in one fresh kernel; return one outcome dict per code.

    An outcome is ``{"status": "ok" | "error" | "timeout" | "not_run", "message", "seconds"}``.
    Cells whose index is in ``long_cells`` (the notebook's own setup) may use the
    whole remaining time; the others at most ``cell_timeout`` seconds.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PREAMBLE.format(seed=seed))]
                                  + [nbformat.v4.new_code_cell(c) for c in codes])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="grade-") as workdir:
        # on a timeout the kernel is interrupted and the cell given up at once (error_on_timeout),
        # so a loop that ignores the interrupt costs at most the notebook's time, never more
        client = NotebookClient(nb, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                                error_on_timeout={"ename": "CellTimeout", "evalue": "", "traceback": []},
                                shutdown_kernel="immediate", iopub_timeout=5,
                                resources={"metadata": {"path": workdir}})
        deadline = time.monotonic() + timeout
        try:
            # the kernel's own stderr (ZMQ and debugger notices) is not the student's output
            with client.setup_kernel(env=_kernel_env(seed), stderr=subprocess.DEVNULL):
                dead = None
                for index, cell in enumerate(nb.cells):
                    left = deadline - time.monotonic()
                    if dead or left < 1:
                        why = dead or f"整个笔记本的时间（{timeout:g} 秒）已用完"
                        outcomes.append(_not_run(f"没有运行：{why}。"))
                        continue
                    limit = left if index == 0 or index - 1 in long_cells else min(cell_timeout, left)
                    client.timeout = max(1, int(limit))
                    start = time.monotonic()
                    try:
                        client.execute_cell(cell, index)
                    except DeadKernelError:
                        dead = "内核崩溃了（学生代码退出了进程或耗尽了内存）"
                        outcomes.append({"status": "error", "message": f"{dead}。",
                                         "seconds": time.monotonic() - start})
                        continue
                    except CellTimeoutError:
                        pass
                    seconds = time.monotonic() - start
                    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
                    if seconds >= client.timeout - 0.5 or (errors and errors[0].ename == "KeyboardInterrupt"):
                        outcomes.append({"status": "timeout", "seconds": seconds, "message":
                                         f"超时：运行超过 {client.timeout} 秒被中断（死循环，或者太慢）。"})
                    elif errors:
                        outcomes.append({"status": "error", "seconds": seconds,
                                         "message": explain(errors[0].ename, errors[0].evalue)})
                    else:
                        outcomes.append({"status": "ok", "message": "通过", "seconds": seconds})
        except Exception as exc:
            if not outcomes:
                raise GradingError(f"could not start a python3 kernel: {exc}") from exc
            why = f"没有运行：评分时内核出错（{type(exc).__name__}）。"
            outcomes += [_not_run(why)] * (len(nb.cells) - len(outcomes))
    if outcomes[0]["status"] != "ok":
        return [_not_run(f"没有运行：评分的准备单元失败（{outcomes[0]['message']}）。")] * len(codes)
    return outcomes[1:]


def _not_run(message):
    return {"status": "not_run", "message": message, "seconds": 0.0}


# ------------------------------------------------------------------ grading one submission

def _blank(student, name, status, notes, source):
    checks = [{"id": i.id, "kind": i.role, "title": i.title, "points": i.points, "score": 0.0,
               "passed": False, "message": "没有运行。"} for i in asg.items(source) if i.role in asg.SCORED]
    written = [{"id": i.id, "title": i.title, "points": i.points, "answer": "", "found": False}
               for i in asg.items(source) if i.role == "written"]
    return {"student": student, "assignment": name, "status": status, "checks": checks, "written": written,
            "notes": notes, "seconds": 0.0}


def grade_submission(student, name, path, note="", seed=0, timeout=120.0, cell_timeout=20.0):
    """Grade one submission; return its result (a JSON-able dict)."""
    source = asg.load(name)
    notes = [note] if note else []
    if path is None:
        return _blank(student, name, "missing", notes + ["没有提交这份作业。"], source)
    try:
        submission = nbformat.read(path, as_version=4)
        if not isinstance(submission.get("cells"), list):
            raise ValueError("no list of cells")
    except Exception as exc:  # noqa: BLE001  anything unreadable is the student's file, not ours
        why = (f"{Path(path).name} 无法作为 Jupyter 笔记本读取（{type(exc).__name__}: {str(exc)[:200]}）。"
               "请在 JupyterLab 或 Colab 中保存后交回 .ipynb 文件。")
        return _blank(student, name, "unreadable", notes + [why], source)
    runs, written, missing = assemble(source, submission)
    notes += missing
    start = time.monotonic()
    long_cells = {i for i, (kind, _, _) in enumerate(runs) if kind == "given"}
    outcomes = execute([code for _, _, code in runs], long_cells, seed, timeout, cell_timeout)
    scored = {}
    for (kind, meta, _), outcome in zip(runs, outcomes, strict=True):
        if kind in asg.SCORED:
            scored[meta["id"]] = outcome
        elif outcome["status"] != "ok":
            where = "笔记本自带的代码单元"
            if kind == "answer":
                where = f"答案单元（{'、'.join(meta['defines'])}）"
            notes.append(f"{where}：{outcome['message']}")
    checks = []
    for item in asg.items(source):
        if item.role not in asg.SCORED:
            continue
        outcome = scored.get(item.id, {"status": "not_run", "message": "没有运行。"})
        passed = outcome["status"] == "ok"
        checks.append({"id": item.id, "kind": item.role, "title": item.title, "points": item.points,
                       "score": item.points if passed else 0.0, "passed": passed,
                       "message": outcome["message"]})
    return {"student": student, "assignment": name, "status": "graded", "checks": checks, "written": written,
            "notes": notes, "seconds": round(time.monotonic() - start, 2)}


def _grade_task(task):
    return grade_submission(*task)


# ------------------------------------------------------------------ cache, manual grades, output

def _digest(*parts):
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def _code_digest():
    files = [Path(__file__), Path(asg.__file__), *sorted((ROOT / "d2lzh_pytorch").glob("*.py"))]
    return _digest(VERSION, *(f.read_bytes() for f in files))


def cache_key(name, path, note, settings):
    content = Path(path).read_bytes() if path is not None else b"<missing>"
    return _digest(_code_digest(), asg.source_path(name).read_bytes(), content, note, json.dumps(settings))


def read_manual(path):
    """``{(student, assignment, question): (points or None, comment)}`` from a teacher's manual.csv."""
    if not path.exists():
        return {}
    entries = {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            key = (row.get("student", ""), row.get("assignment", ""), row.get("question", ""))
            text = (row.get("points") or "").strip()
            points = None
            if text:
                try:
                    points = float(text)
                    maximum = float(row.get("max_points") or "nan")
                except ValueError:
                    raise GradingError(f"{path}, line {line}: points {text!r} is not a number") from None
                if not 0 <= points <= maximum:
                    raise GradingError(f"{path}, line {line}: points {points:g} is outside 0..{maximum:g} "
                                       f"for {key}")
            entries[key] = (points, (row.get("comment") or "").strip())
    return entries


def write_manual(path, results, manual):
    """Rewrite manual.csv: a row per written question of every readable submission, entries kept."""
    rows = []
    for r in results:
        if r["status"] != "graded":
            continue
        for q in r["written"]:
            points, comment = manual.get((r["student"], r["assignment"], q["id"]), (None, ""))
            rows.append({"student": r["student"], "assignment": r["assignment"], "question": q["id"],
                         "title": q["title"], "max_points": f"{q['points']:g}",
                         "points": "" if points is None else f"{points:g}", "comment": comment})
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, MANUAL_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def totals(result, manual):
    """Scores of one result, manual grades included."""
    auto = sum(c["score"] for c in result["checks"])
    auto_max = sum(c["points"] for c in result["checks"])
    entered = [manual.get((result["student"], result["assignment"], q["id"]), (None, ""))[0]
               for q in result["written"]]
    manual_score = sum(p for p in entered if p is not None)
    manual_max = sum(q["points"] for q in result["written"])
    done = all(p is not None for p in entered) if result["status"] == "graded" else True
    return {"auto_score": auto, "auto_max": auto_max, "manual_score": manual_score if any(
        p is not None for p in entered) else None, "manual_max": manual_max, "manual_done": done,
        "score": auto + manual_score, "max_score": auto_max + manual_max}


STYLE = """body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;max-width:60em;margin:2em auto;
padding:0 1em;line-height:1.6}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;
padding:.3em .6em;text-align:left;vertical-align:top}.ok{color:#17692b}.fail{color:#a11}
pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap}.meta{color:#666;font-size:.9em}"""


def feedback_html(result, manual, title, settings):
    """One submission's feedback page (Chinese, self-contained)."""
    e = html.escape
    t = totals(result, manual)
    manual_text = "待评" if t["manual_score"] is None else f"{t['manual_score']:g}"
    by_hand = f"人工评分 <b>{manual_text} / {t['manual_max']:g}</b>　" if t["manual_max"] else ""
    parts = [f"<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
             f"<title>{e(title)}：{e(result['student'])} 的反馈</title><style>{STYLE}</style></head><body>",
             f"<h1>{e(title)}</h1>",
             f"<p>学生：<b>{e(result['student'])}</b>　状态：{STATUS_TEXT[result['status']]}<br>"
             f"自动评分 <b>{t['auto_score']:g} / {t['auto_max']:g}</b>　{by_hand}"
             f"合计 <b>{t['score']:g} / {t['max_score']:g}</b></p>"]
    if result["notes"]:
        parts.append("<h2>需要注意</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in result["notes"]) + "</ul>")
    failed = [c for c in result["checks"] if not c["passed"]]
    parts.append(f"<h2>自动评分</h2><p>{len(result['checks']) - len(failed)} 项通过，{len(failed)} 项未通过"
                 + ("：" + "、".join(e(c["title"]) for c in failed) if failed else "") + "。</p>")
    parts.append("<table><tr><th>评分项</th><th>类型</th><th>得分</th><th>结果</th></tr>")
    for c in result["checks"]:
        verdict = ('<span class="ok">通过</span>' if c["passed"]
                   else f'<span class="fail">未通过：</span>{e(c["message"])}')
        parts.append(f"<tr><td>{e(c['title'])}</td><td>{KIND_NAMES[c['kind']]}</td>"
                     f"<td>{c['score']:g} / {c['points']:g}</td><td>{verdict}</td></tr>")
    parts.append("</table>")
    if result["written"]:
        parts.append("<h2>人工评分</h2>")
        for q in result["written"]:
            points, comment = manual.get((result["student"], result["assignment"], q["id"]), (None, ""))
            score = "待评" if points is None else f"{points:g}"
            parts.append(f"<h3>{e(q['title'])}（{score} / {q['points']:g} 分）</h3>")
            if comment:
                parts.append(f"<p>教师评语：{e(comment)}</p>")
            answer = q["answer"] if q["answer"] and q["answer"] != asg.WRITTEN_STUB else "（没有回答）"
            parts.append(f"<pre>{e(answer)}</pre>")
    parts.append(f"<p class=\"meta\">评分时重新运行了答案单元、公开检查和隐藏测试"
                 f"（随机种子 {settings['seed']}，单线程；每个单元至多 {settings['cell_timeout']:g} 秒，"
                 f"整个笔记本至多 {settings['timeout']:g} 秒；用时 {result['seconds']:g} 秒）。"
                 "你自己添加的单元和实验单元不在评分时运行。</p></body></html>\n")
    return "\n".join(parts)


def write_outputs(out, results, manual, settings):
    titles = {name: asg.title(asg.load(name)) for name in asg.ASSIGNMENTS}
    rows = []
    for r in results:
        page = out / "feedback" / r["student"] / f"{r['assignment']}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(feedback_html(r, manual, titles[r["assignment"]], settings), encoding="utf-8")
        t = totals(r, manual)
        rows.append({"student": r["student"], "assignment": r["assignment"], "score": f"{t['score']:g}",
                     "max_score": f"{t['max_score']:g}", "auto_score": f"{t['auto_score']:g}",
                     "auto_max": f"{t['auto_max']:g}",
                     "manual_score": "" if t["manual_score"] is None else f"{t['manual_score']:g}",
                     "manual_max": f"{t['manual_max']:g}", "manual_done": "yes" if t["manual_done"] else "no",
                     "status": r["status"], "feedback": str(page.relative_to(out))})
    with (out / "grades.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    text = json.dumps(results, ensure_ascii=False, indent=1) + "\n"
    (out / "results.json").write_text(text, encoding="utf-8")
    write_manual(out / "manual.csv", results, manual)


def grade_all(submissions, out=OUT_DIR, jobs=2, seed=0, timeout=120.0, cell_timeout=20.0, use_cache=True,
              log=print):
    """Grade every submission in ``submissions`` into ``out``; return the results."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manual = read_manual(out / "manual.csv")  # a mistake there stops us before any grading
    settings = {"seed": seed, "timeout": timeout, "cell_timeout": cell_timeout}
    found = discover(submissions)
    results, todo = [None] * len(found), []
    for i, (student, name, path, note) in enumerate(found):
        key = cache_key(name, path, note, settings)
        cached = out / "cache" / student / f"{name}.json"
        if use_cache and cached.exists():
            saved = json.loads(cached.read_text(encoding="utf-8"))
            if saved.get("key") == key:
                results[i] = saved["result"]
                continue
        todo.append((i, key, (student, name, path, note, seed, timeout, cell_timeout)))
    log(f"{len(found)} submissions ({len(found) - len(todo)} unchanged since the last run), "
        f"grading {len(todo)} with {jobs} job(s)")

    def done(i, key, result):
        results[i] = result
        cached = out / "cache" / result["student"] / f"{result['assignment']}.json"
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps({"key": key, "result": result}, ensure_ascii=False), encoding="utf-8")
        t = totals(result, {})
        log(f"  {result['student']}/{result['assignment']}: {t['auto_score']:g}/{t['auto_max']:g} "
            f"({result['status']}, {result['seconds']:g} s)")

    if jobs <= 1:
        for i, key, task in todo:
            done(i, key, _grade_task(task))
    else:
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(_grade_task, task): (i, key) for i, key, task in todo}
            for future in concurrent.futures.as_completed(futures):
                done(*futures[future], future.result())
    write_outputs(out, results, manual, settings)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path,
                        help="folder of SUBMISSIONS/<student>/<assignment>/<assignment>.ipynb")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at the same time (default: 2)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per notebook (default: 120)")
    parser.add_argument("--cell-timeout", type=float, default=20.0,
                        help="seconds per answer or check cell (default: 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of Python, NumPy and torch (default: 0)")
    parser.add_argument("--no-cache", action="store_true", help="grade every submission again")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        results = grade_all(args.submissions, args.out, args.jobs, args.seed, args.timeout, args.cell_timeout,
                            use_cache=not args.no_cache)
    except GradingError as exc:
        sys.exit(f"grading stopped: {exc}")
    print(f"graded {len(results)} submissions in {time.perf_counter() - start:.0f} s: "
          f"{args.out / 'grades.csv'}, feedback in {args.out / 'feedback'}")


if __name__ == "__main__":
    main()
