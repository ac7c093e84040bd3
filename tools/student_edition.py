"""The student edition: the book with every exercise solution removed.

    python tools/student_edition.py --mode full    # `make book-student`: _build/student/html
    python tools/student_edition.py --mode quick   # for the tests: _build/student-quick/html

Nothing is executed twice. The chapters' outputs come from the execution cache
of the normal build of the same mode (chapters missing there are executed into
it first, as ``tools/build_book.py`` does). Each notebook is merged with its
cached outputs, its solutions are removed (``strip_notebook``), and the result
is written to ``<student>/src``, a copy of the book whose ``_config.yml`` turns
execution off. Jupyter Book then builds that copy: the solutions are absent
from the pages, from the search index and from the downloadable notebooks
(``_sources/``, and the student notebooks the download and Colab buttons serve,
``_notebooks/``: see ``tools/sphinx_notebooks.py``), not folded.

Solutions are the MyST directives of sphinx-exercise: ``{solution}`` blocks
(backtick or colon fences) and everything from a ``{solution-start}`` to its
``{solution-end}``, code cells included.

The student edition also gets a part 作业: one page per graded assignment
(what to do, the points, a download of the student notebook), written by
``tools/assignments.py`` from the teacher notebooks, whose release it builds.
"""

import argparse
import copy
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_structure  # noqa: E402
import build_book  # noqa: E402
import myst_blocks  # noqa: E402

import assignments  # noqa: E402

ROOT = build_book.ROOT
# pages left out of the student edition: the teacher's guide (which exercises suit an exam) and
# the execution statistics (read from the execution metadata, which a build without execution lacks)
TEACHER_PAGES = ("chapters/teaching", "chapters/execution_stats")
# what the student copy of the book needs besides the chapters
BOOK_FILES = ("references.bib",)


def strip_notebook(nb):
    """A copy of ``nb`` without solutions: directives removed, gated cells dropped, emptied cells dropped."""
    out, cells, in_gate = copy.deepcopy(nb), [], False
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            if not in_gate:
                cells.append(copy.deepcopy(cell))
            continue
        source, in_gate_after = book_structure.strip_solutions(cell.source, in_gate)
        if source.strip():
            new = copy.deepcopy(cell)
            new.source = source.rstrip("\n")
            cells.append(new)
        in_gate = in_gate_after
    if in_gate:
        raise myst_blocks.MystStructureError("a {solution-start} has no {solution-end}")
    out.cells = cells
    return out


def student_dir(mode, root=ROOT):
    """Where the student edition goes: ``_build/student`` (full) or ``_build/student-quick`` (quick)."""
    return root / "_build" / ("student" if mode == "full" else "student-quick")


def student_config(config, root=ROOT):
    """The book's ``_config.yml`` (a dict) for the student edition: no execution, student notebooks.

    Its download and Colab buttons serve the student notebooks (no solutions;
    ``notebooks.edition: student`` for ``tools/sphinx_notebooks.py``), not the
    repository's notebooks. The copy is built from another folder, so the
    local extensions' folders are made absolute.
    """
    config = copy.deepcopy(config)
    config["title"] = f"{config['title']}（学生版）"
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    config.setdefault("notebooks", {})["edition"] = "student"
    local = config.get("sphinx", {}).get("local_extensions") or {}
    for name, folder in local.items():
        local[name] = str((root / folder).resolve())
    return config


ASSIGNMENTS_PART = {"caption": "作业", "chapters": [{"file": f"assignments/{name}"}
                                                   for name in assignments.ASSIGNMENTS]}


def student_toc(toc):
    """``_toc.yml`` (a dict) without the teachers' pages (``TEACHER_PAGES``), with the part 作业.

    The part 作业 goes before the appendix (the part whose caption starts with 附录), or last.
    """
    toc = copy.deepcopy(toc)

    def walk(node):
        for key in ("parts", "chapters", "sections"):
            if key in node:
                node[key] = [walk(e) for e in node[key] if e.get("file") not in TEACHER_PAGES]
        return node

    toc = walk(toc)
    parts = toc.setdefault("parts", [])
    where = next((i for i, p in enumerate(parts) if str(p.get("caption", "")).startswith("附录")), len(parts))
    parts.insert(where, copy.deepcopy(ASSIGNMENTS_PART))
    return toc


def write_assignment_pages(src, release=assignments.RELEASE_DIR, root=ROOT):
    """Build the assignments' release into ``release``; write each page and zip into ``src``."""
    zips = assignments.build_release(release, root)
    folder = src / "assignments"
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in zips.items():
        shutil.copy(path, folder / path.name)
        page = assignments.page(name, assignments.load(name, root), path.name)
        (folder / f"{name}.md").write_text(page, encoding="utf-8")


def executed(path, cache):
    """The notebook at ``path`` with the outputs the execution cache holds for it."""
    nb = nbformat.read(path, as_version=4)
    try:
        _, merged = cache.merge_match_into_notebook(nb)
    except KeyError as exc:
        raise SystemExit(f"{path.name} is not in the execution cache: build the normal book first "
                         f"({exc})") from None
    return merged


def write_sources(mode, root=ROOT):
    """Write the solution-free copy of the book into ``<student>/src``; return that folder."""
    import yaml
    from jupyter_cache import get_cache

    src = student_dir(mode, root) / "src"
    shutil.rmtree(src, ignore_errors=True)
    (src / "chapters").mkdir(parents=True)
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    (src / "_config.yml").write_text(yaml.safe_dump(student_config(config, root), allow_unicode=True,
                                                    sort_keys=False), encoding="utf-8")
    toc = student_toc(book_structure.read_toc(root))
    (src / "_toc.yml").write_text(yaml.safe_dump(toc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    for name in BOOK_FILES:
        shutil.copy(root / name, src / name)
    write_assignment_pages(src, root / "_build" / "assignments", root)
    cache = get_cache(build_book.build_dir(mode, root) / ".jupyter_cache")
    for path in sorted((root / "chapters").iterdir()):
        if path.suffix == ".ipynb":
            nbformat.write(strip_notebook(executed(path, cache)), src / "chapters" / path.name)
        elif path.suffix == ".md" and f"chapters/{path.stem}" not in TEACHER_PAGES:
            text, in_gate = book_structure.strip_solutions(path.read_text(encoding="utf-8"))
            if in_gate:
                raise myst_blocks.MystStructureError(
                    f"{path.name}: a {{solution-start}} has no {{solution-end}}")
            (src / "chapters" / path.name).write_text(text, encoding="utf-8")
    return src


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=sorted(build_book.MODES), default="full")
    parser.add_argument("--jobs", type=int, default=2, help="chapters executed at the same time")
    parser.add_argument("--jupyter-book", default=str(Path(sys.executable).with_name("jupyter-book")))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    build_book.prepare(args.mode, args.jobs)  # the normal build's cache, filled if needed
    src = write_sources(args.mode)
    subprocess.run([args.jupyter_book, "build", *build_book.JB_FLAGS, "--path-output", str(src), str(src)],
                   env=build_book.book_environment(args.mode), check=True, cwd=src)
    html = student_dir(args.mode) / "html"
    shutil.rmtree(html, ignore_errors=True)
    shutil.copytree(src / "_build" / "html", html)
    print(f"student edition ({args.mode} mode) built in {time.perf_counter() - start:.0f} s: "
          f"open {(html / 'index.html').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
