"""Write the book's replication page (可重复性) from the recorded runs.

    python tools/replication_page.py        # rewrites chapters/replication.md

Each ``replications/*.json`` is one run of ``make replicate`` (or of ``make book``
recorded by ``make replicate SEED=0``). The page lists the runs (seed base,
threads per chapter, machine, date, commit) and, chapter by chapter, every claim
with its status in each run; a run made on an older version of a chapter (its
code digest differs from the chapter's now) is marked as such, and every failure
is listed with its evidence. ``tests/test_replication.py`` checks that the
committed page is what this script writes.
"""

import json
import string
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_book  # noqa: E402

PAGE = "chapters/replication.md"
HEADER = """(replication)=
# 可重复性

本书的每个结论都由紧跟在测量之后的 `d2l.claim` 检查。一次运行、一台机器上成立还不够：换一组随机种子
（初始权重、小批量顺序都随之改变），或者换一种浮点归约顺序（另一种 CPU，或每章用 2 个线程），结论也必须成立。
`make replicate SEED=<基数> THREADS=<线程数>` 用环境变量 `BN_BOOK_SEED` 把全书的每一次随机抽取整体平移，
以完整模式重新执行每一章，记下每个断言成立与否；本页由这些记录生成（`tools/replication_page.py`）。

✓ 表示成立，✗ 表示不成立（证据列在该章的表后），— 表示这次运行没有这一章或这个断言（例如这一章没有执行完）；
带 \\* 的结果来自该章的旧版本（代码与现在的不同），只作参考。
"""


def load_records(root=build_book.ROOT):
    """The recorded runs, base 0 with one thread first, then by seed base, threads and machine."""
    paths = sorted((root / "replications").glob("*.json"))
    records = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    return sorted(records, key=lambda r: (r["seed_base"], r["threads"], r["machine"]["tag"]))


def chapter_title(path):
    """The first Markdown heading of a notebook."""
    import nbformat

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def _run_name(index):
    return string.ascii_uppercase[index] if index < 26 else f"R{index + 1}"


def render(records, chapters):
    """The page's Markdown: ``chapters`` is [(file name, title, current code digest)]."""
    names = [_run_name(i) for i in range(len(records))]
    lines = [HEADER, "## 运行", ""]
    if not records:
        lines += ["还没有记录任何运行。", ""]
    else:
        lines += ["| 运行 | 种子基数 | 每章线程数 | 机器 | 日期 | 提交 | 成立 / 断言 |",
                  "|---|---|---|---|---|---|---|"]
        for name, run in zip(names, records, strict=True):
            claims = [c for ch in run["chapters"].values() for c in ch["claims"] if c["checked"]]
            held = sum(c["holds"] for c in claims)
            cpu = run["machine"]["cpu"] + ("，AVX-512" if run["machine"]["avx512"] else "")
            lines.append(f"| {name} | {run['seed_base']} | {run['threads']} | {_cell(cpu)} | {run['date']} "
                         f"| `{run['commit']}` | {held} / {len(claims)} |")
        lines.append("")
    for file, title, digest in chapters:
        runs = [run["chapters"].get(file) for run in records]
        current = [r for r in runs if r and r["code"] == digest]
        reference = current[0] if current else next((r for r in runs if r), None)
        lines += [f"## {title}", ""]
        if reference is None:
            lines += ["这一章还没有被记录的运行。", ""]
            continue
        failures = [f"- 运行 {name}：这一章没有执行完（{_cell(run['error'])}），之后的断言没有结果"
                    for name, run in zip(names, runs, strict=True) if run and run.get("error")]
        count = max(len(r["claims"]) for r in runs if r)
        if count == 0:
            lines += ["这一章的记录里没有断言。", "", *failures, ""]
            continue
        lines += ["| # | 断言 | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for i in range(count):
            statement = (reference["claims"][i]["statement"] if i < len(reference["claims"])
                         else next(r["claims"][i]["statement"] for r in runs if r and i < len(r["claims"])))
            marks = []
            for name, run in zip(names, runs, strict=True):
                if run is None or i >= len(run["claims"]):
                    marks.append("—")
                    continue
                c = run["claims"][i]
                old = "\\*" if run["code"] != digest else ""
                marks.append(("✓" if c["holds"] else "✗") + old)
                if not c["holds"]:
                    version = "（旧版本）" if old else ""
                    failures.append(f"- 断言 {i + 1}，运行 {name}{version}：{_cell(c['evidence'])}")
            lines.append(f"| {i + 1} | {_cell(statement)} | " + " | ".join(marks) + " |")
        lines.append("")
        if failures:
            lines += ["没有成立的断言及其证据：", "", *failures, ""]
    return "\n".join(lines).rstrip() + "\n"


def write_page(root=build_book.ROOT):
    """Regenerate ``chapters/replication.md`` from ``replications/*.json``; return its path."""
    chapters = [(p.name, chapter_title(p), build_book.code_digest(p)) for p in build_book.chapters(root)]
    path = root / PAGE
    path.write_text(render(load_records(root), chapters), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_page())
