"""Reader and student notebooks: the chapters as Markdown that Jupyter and Colab render.

    python tools/reader_notebooks.py            # `make notebooks`: _build/notebooks/
    python tools/reader_notebooks.py --out DIR

The chapter notebooks are the book's MyST sources: their roles (``{ref}``,
``{doc}``, ``{cite}``) and directives (``:::{exercise}``, ``{solution-start}``,
...) only render in the HTML book (and in ``make lab``, which has
jupyterlab-myst). Colab and a plain JupyterLab show them as raw text. This tool
writes, for every chapter listed in ``_toc.yml``:

* ``reader/NN_name.ipynb``: exercises as headed blocks ("### 练习 4.1"),
  solutions folded (a ``{solution}`` in ``<details>``; a ``{solution-start}`` ...
  ``{solution-end}`` span, which holds code cells, under a collapsed heading
  "#### 练习 4.1 的解答"), references as links to the book's pages
  (``html.baseurl``), citations as author–year linked to the bibliography page,
  admonitions and figures as plain Markdown; the Colab setup cell first
  (``tools/setup_cell.py``, installing the package published with the
  notebooks); outputs cleared. Cells the book hides (``remove-input``,
  ``hide-input``, ...) keep their code, collapsed (``jupyter.source_hidden``).
* ``student/NN_name.ipynb``: the same without the solutions
  (``tools/student_edition.py``'s ``strip_notebook``).
* the package's wheel, which the setup cell installs in Colab.

Where they are published is set once in ``_config.yml`` (``notebooks.branch``,
a branch of ``repository.url``); the book's Colab and download buttons point at
them (``tools/sphinx_notebooks.py``). A directive or role with no Markdown form
here is an error, not raw text in a notebook.
"""

import argparse
import copy
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_structure  # noqa: E402
import myst_blocks  # noqa: E402
import setup_cell  # noqa: E402
from myst_blocks import Directive  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EDITIONS = ("reader", "student")
# MyST left in a generated notebook's Markdown: a directive fence, a role, a target, an option line
# or a comment line. The same rule the browser tests apply to the rendered HTML book.
MYST_MARKUP = re.compile(r"^\s*(?:`{3,}|:{3,})\{[\w-]+\}|\{[a-z][\w:-]*\}`|^\s*\([\w.-]+\)=\s*$"
                         r"|^:[\w-]+:(?:\s|$)|^%|^\+\+\+", re.M)
# a role, or inline code (left alone)
INLINE = re.compile(r"\{(?P<role>[a-z][\w:-]*)\}`(?P<content>[^`]*)`"
                    r"|(?P<code>(?P<ticks>`+).+?(?P=ticks))", re.S)
TARGET = re.compile(r"^\s*\((?P<label>[^()\s]+)\)=\s*$")
HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
TITLED = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
EQUATION_LABEL = re.compile(r"\$\$\s*\([\w.-]+\)\s*$", re.M)
ADMONITIONS = {"note": "注意", "attention": "注意", "tip": "提示", "hint": "提示", "important": "重要",
               "warning": "警告", "caution": "小心", "danger": "危险", "error": "错误", "seealso": "另请参阅"}
# cells the HTML book hides: their code is folded in the notebook (it still runs)
SOURCE_HIDDEN = {"remove-input", "remove-cell", "hide-input", "hide-cell"}
OUTPUTS_HIDDEN = {"remove-output", "remove-cell", "hide-output", "hide-cell"}


class UnsupportedMyst(ValueError):
    """A role or directive this converter has no Markdown form for, or a reference to nothing."""


# ----------------------------------------------------------------------------- the book


@dataclass
class Book:
    """What the converter needs to know about the whole book."""

    url: str  # where the HTML book is published (html.baseurl), no trailing slash
    titles: dict = field(default_factory=dict)  # docname -> page title
    numbers: dict = field(default_factory=dict)  # docname -> chapter number (numbered parts)
    labels: dict = field(default_factory=dict)  # label -> (docname, title)
    citations: dict = field(default_factory=dict)  # bibtex key -> "Ioffe & Szegedy, 2015"
    bibliography: str = None  # docname of the page with the {bibliography} directive

    def page_url(self, docname, anchor=None):
        from docutils.nodes import make_id

        return f"{self.url}/{docname}.html" + (f"#{make_id(anchor)}" if anchor else "")


@dataclass
class Publication:
    """Where the notebooks are published (``notebooks.branch`` of ``repository.url``) and the book."""

    repository: str  # https://github.com/org/repo
    branch: str  # the branch the notebooks are pushed to
    book_url: str  # html.baseurl
    colab_url: str = "https://colab.research.google.com"

    @classmethod
    def from_config(cls, config):
        try:
            repo, branch = config["repository"]["url"].rstrip("/"), config["notebooks"]["branch"]
            book_url = config["html"]["baseurl"].rstrip("/")
        except (KeyError, TypeError, AttributeError) as err:
            raise UnsupportedMyst("_config.yml needs repository.url, notebooks.branch and html.baseurl "
                                  f"(where the notebooks and the book are published); no {err}") from None
        colab = (config.get("launch_buttons") or {}).get("colab_url") or cls.colab_url
        return cls(repo, branch, book_url, colab.rstrip("/"))

    def base(self):
        """The URL the published files are served from (GitHub's raw view of the branch)."""
        return f"{self.repository}/raw/{self.branch}"

    def colab(self, edition, name):
        """The Colab address of the published notebook ``<edition>/<name>.ipynb``."""
        org_repo = self.repository.split("github.com/", 1)[-1]
        return f"{self.colab_url}/github/{org_repo}/blob/{self.branch}/{edition}/{name}.ipynb"


def read_config(root=ROOT):
    import yaml

    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))


def page_texts(root, docname):
    """The Markdown of a page: a notebook's Markdown cells, or a ``.md`` file."""
    if (root / f"{docname}.ipynb").is_file():
        nb = nbformat.read(root / f"{docname}.ipynb", as_version=4)
        return [c.source for c in nb.cells if c.cell_type == "markdown"]
    if (root / f"{docname}.md").is_file():
        return [(root / f"{docname}.md").read_text(encoding="utf-8")]
    raise UnsupportedMyst(f"_toc.yml lists {docname}, which is neither {docname}.ipynb nor {docname}.md")


def _citation(entry):
    """``Ioffe & Szegedy, 2015`` / ``Santurkar et al., 2018`` for a pybtex entry."""
    import codecs

    import latexcodec  # noqa: F401  registers the "ulatex" codec

    def last(person):
        name = " ".join(person.prelast_names + person.last_names)
        return codecs.decode(name, "ulatex").replace("{", "").replace("}", "")

    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [last(p) for p in people]
    if not names:
        who = entry.fields.get("title", "?")
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2 and str(people[1]) != "others":
        who = f"{names[0]} & {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


def _index_page(book, docname, number, texts):
    """Add a page's title, labels (targets before headings, directives' ``label``/``name``) and
    bibliography directive to ``book``."""
    pending, exercises = [], 0

    def scan(text):
        nonlocal pending, exercises
        for block in myst_blocks.parse(text):
            if isinstance(block, Directive):
                if block.name == "exercise":
                    exercises += 1
                    title = f"练习 {number}.{exercises}" if number else f"练习 {exercises}"
                else:
                    title = block.arg or block.name
                if block.name == "bibliography":
                    book.bibliography = docname
                for key in ("label", "name"):
                    if block.options.get(key):
                        book.labels[block.options[key]] = (docname, title)
                scan(block.body)
            elif not block.code:
                for line in block.raw.splitlines():
                    target, heading = TARGET.match(line), HEADING.match(line)
                    if target:
                        pending.append(target["label"])
                    elif heading:
                        book.titles.setdefault(docname, heading["title"])
                        book.labels.update({label: (docname, heading["title"]) for label in pending})
                        pending = []

    for text in texts:
        scan(text)
    if pending:
        raise UnsupportedMyst(f"{docname}: targets {pending} are not followed by a heading")


def load_book(root=ROOT, config=None):
    """Index the book at ``root``: page titles, chapter numbers, labels, citations."""
    from pybtex.database import parse_file

    config = read_config(root) if config is None else config
    book = Book(Publication.from_config(config).book_url)
    for name in config.get("bibtex_bibfiles", []):
        for key, entry in parse_file(str(root / name), bib_format="bibtex").entries.items():
            book.citations[key] = _citation(entry)
    for docname, number in book_structure.pages(root):
        book.numbers[docname] = number
        _index_page(book, docname, number, page_texts(root, docname))
    return book


# ----------------------------------------------------------------------------- Markdown


class Page:
    """The state of one page's conversion: its exercises and the level of its current section."""

    def __init__(self, book, docname):
        self.book, self.docname = book, docname
        self.number = book.numbers.get(docname)
        self.exercises = 0
        self.section_level = 1
        self.exercise_level = None


def _link(text, url):
    return f"[{text}]({url})"


def _ref(page, content, role):
    m = TITLED.match(content)
    title, label = (m["title"], m["target"]) if m else (None, content.strip())
    if label not in page.book.labels:
        raise UnsupportedMyst(f"{page.docname}: {{{role}}}`{content}` names no label of the book")
    docname, default = page.book.labels[label]
    return _link(title or default, page.book.page_url(docname, label))


def _doc(page, content):
    m = TITLED.match(content)
    title, target = (m["title"], m["target"]) if m else (None, content.strip())
    target = re.sub(r"\.(ipynb|md)$", "", target)
    if target.startswith("/"):
        docname = target.lstrip("/")
    else:
        docname = posixpath.normpath(posixpath.join(posixpath.dirname(page.docname), target))
    if docname not in page.book.numbers:
        raise UnsupportedMyst(f"{page.docname}: {{doc}}`{content}` names no page of _toc.yml")
    return _link(title or page.book.titles.get(docname, docname), page.book.page_url(docname))


def _cite(page, content, role):
    keys = [k.strip() for k in content.split(",") if k.strip()]
    missing = [k for k in keys if k not in page.book.citations]
    if missing:
        raise UnsupportedMyst(f"{page.docname}: {{{role}}}`{content}`: {missing} not in the .bib files")
    if not page.book.bibliography:
        raise UnsupportedMyst("citations need a page with the {bibliography} directive in _toc.yml")
    url = page.book.page_url(page.book.bibliography)
    if role in ("cite:t", "cite:ts"):  # textual: Ioffe & Szegedy (2015)
        return "; ".join(_link(re.sub(r", (\S+)$", r" (\1)", page.book.citations[k]), url) for k in keys)
    return "(" + "; ".join(_link(page.book.citations[k], url) for k in keys) + ")"


def _role(page, role, content):
    if role in ("ref", "numref"):
        return _ref(page, content, role)
    if role == "doc":
        return _doc(page, content)
    if role in ("cite", "cite:p", "cite:ps", "cite:t", "cite:ts"):
        return _cite(page, content, role)
    if role == "math":
        return f"${content}$"
    raise UnsupportedMyst(f"{page.docname}: the role {{{role}}} has no Markdown form in "
                          "tools/reader_notebooks.py (add one to _role)")


def inline(text, page):
    """Markdown outside directives and code fences: targets, comments and block breaks dropped,
    roles turned into links; the section level of the page follows its headings."""
    lines = []
    for line in text.splitlines(keepends=True):
        if TARGET.match(line) or line.startswith("%") or line.strip() == "+++":
            continue
        heading = HEADING.match(line)
        if heading:
            page.section_level = len(heading["hashes"])
        lines.append(line)
    text = EQUATION_LABEL.sub("$$", "".join(lines))

    def replace(m):
        return m[0] if m["code"] else _role(page, m["role"], m["content"])

    return INLINE.sub(replace, text)


def _quote(text):
    return "\n".join(f"> {line}".rstrip() for line in text.strip("\n").splitlines())


def _details(summary, body):
    return f"<details>\n<summary>{summary}</summary>\n\n{body.strip()}\n\n</details>\n"


def _image_url(page, path):
    if re.match(r"^[a-z]+://", path):
        return path
    return f"{page.book.url}/_images/{posixpath.basename(path)}"


def _solution_title(page, block):
    label = book_structure.solution_target(block)
    if label not in page.book.labels:
        raise UnsupportedMyst(f"{page.docname}: {{{block.name}}} {block.arg!r} names no exercise")
    return f"{page.book.labels[label][1]} 的解答"


def convert_markdown(text, page):
    """MyST ``text`` as Markdown pieces ``[(markdown, collapsed)]``.

    A new piece (a new notebook cell) starts at each exercise, at each
    ``{solution-start}`` (whose heading cell is ``collapsed``) and after each
    ``{solution-end}``: JupyterLab and Colab fold a heading cell with the cells
    below it, up to the next heading of the same level.
    """
    pieces = [["", False]]

    def emit(s):
        pieces[-1][0] += s

    for block in myst_blocks.parse(text):
        if not isinstance(block, Directive):
            emit(block.raw if block.code else inline(block.raw, page))
            continue
        name = block.name
        if name == "exercise":
            page.exercises += 1
            number = f"{page.number}.{page.exercises}" if page.number else f"{page.exercises}"
            title = f"练习 {number}" + (f"：{block.arg}" if block.arg else "")
            page.exercise_level = min(page.section_level + 1, 6)
            pieces.append(["#" * page.exercise_level + f" {title}\n\n{_body(block.body, page)}\n", False])
        elif name == "solution":
            emit(_details(_solution_title(page, block), _body(block.body, page)))
        elif name == "solution-start":
            level = min((page.exercise_level or page.section_level + 1) + 1, 6)
            # the heading alone in its cell: folding it hides the whole solution, its first words too
            pieces += [["#" * level + f" {_solution_title(page, block)}\n", True], ["", False]]
        elif name == "solution-end":
            pieces.append(["", False])
        elif name in ADMONITIONS or name == "admonition":
            title = block.arg if name == "admonition" else ADMONITIONS[name]
            body = _body(block.body, page)
            if "dropdown" in block.options.get("class", "").split():
                emit(_details(title, body))
            else:
                emit(_quote(f"**{title}**\n\n{body}") + "\n")
        elif name in ("figure", "image"):
            caption = _body(block.body, page).strip()
            alt = block.options.get("alt") or (caption.splitlines()[0] if caption else "")
            emit(f"![{alt}]({_image_url(page, block.arg)})\n" + (f"\n*{caption}*\n" if caption else ""))
        elif name == "math":
            emit(f"$$\n{block.body.strip()}\n$$\n")
        elif name in ("code-block", "code", "sourcecode"):
            emit(f"```{block.arg}\n{block.body.rstrip()}\n```\n")
        else:
            raise UnsupportedMyst(f"{page.docname}: the directive {{{name}}} has no Markdown form in "
                                  "tools/reader_notebooks.py (add one to convert_markdown)")
    return [(md.strip("\n"), collapsed) for md, collapsed in pieces if md.strip()]


def _body(text, page):
    """A directive's body as one piece of Markdown (exercises and gated solutions cannot nest)."""
    pieces = convert_markdown(text, page)
    if len(pieces) > 1 or any(collapsed for _, collapsed in pieces):
        raise UnsupportedMyst(f"{page.docname}: an exercise or a {{solution-start}} inside another directive")
    return pieces[0][0] if pieces else ""


def leftover_markup(text):
    """The MyST markup left in a piece of Markdown (fenced code is not looked at)."""
    found = []
    for block in myst_blocks.parse(text):
        if isinstance(block, Directive):
            found.append(block.raw.splitlines()[0])
        elif not block.code:
            prose = INLINE.sub(lambda m: m[0] if m["role"] else "", block.raw)  # inline code is code
            found += [m[0].strip() for m in MYST_MARKUP.finditer(prose)]
    return found


# ----------------------------------------------------------------------------- notebooks


def _code_cell(cell):
    tags = set(cell.metadata.get("tags", []))
    metadata = {"tags": sorted(tags)} if tags else {}
    jupyter = {}
    if tags & SOURCE_HIDDEN:
        jupyter["source_hidden"] = True
    if tags & OUTPUTS_HIDDEN:
        jupyter["outputs_hidden"] = True
    if jupyter:
        metadata["jupyter"] = jupyter
    return nbformat.v4.new_code_cell(cell.source, id=cell.id, metadata=metadata)


def convert_notebook(nb, docname, book, setup_source, edition="reader"):
    """The ``edition`` ("reader" or "student") of a chapter notebook, from its MyST source."""
    from student_edition import strip_notebook

    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, got {edition!r}")
    nb = strip_notebook(nb) if edition == "student" else copy.deepcopy(nb)
    page = Page(book, docname)
    cells, collapsed = [nbformat.v4.new_code_cell(setup_source, id="colab-setup")], []
    for cell in nb.cells:
        if cell.cell_type == "code":
            if not setup_cell.is_setup_cell(cell):
                cells.append(_code_cell(cell))
        elif cell.cell_type == "markdown":
            text = myst_blocks.unmark_teacher_only(cell.source)
            for k, (markdown, fold) in enumerate(convert_markdown(text, page)):
                new = nbformat.v4.new_markdown_cell(markdown, id=cell.id if k == 0 else f"{cell.id}-{k}")
                if fold:  # JupyterLab's and Colab's collapsed headings
                    new.metadata.update({"jp-MarkdownHeadingCollapsed": True, "id": new.id})
                    collapsed.append(new.id)
                cells.append(new)
        else:
            cells.append(copy.deepcopy(cell))
    # the kernel, and the language's name only: an executed copy's language_info (versions) is noise
    python3 = {"name": "python3", "display_name": "Python 3", "language": "python"}
    metadata = {"kernelspec": copy.deepcopy(nb.metadata.get("kernelspec") or python3),
                "language_info": {"name": nb.metadata.get("language_info", {}).get("name", "python")}}
    metadata["colab"] = {"provenance": [], "toc_visible": True, "collapsed_sections": collapsed}
    out = nbformat.v4.new_notebook(cells=cells, metadata=metadata)
    out.nbformat_minor = max(nb.get("nbformat_minor", 5), 5)
    left = {c.id: leftover_markup(c.source) for c in out.cells if c.cell_type == "markdown"}
    left = {k: v for k, v in left.items() if v}
    if left:
        raise UnsupportedMyst(f"{docname}: MyST left in the {edition} notebook: {left}")
    nbformat.validate(out)
    return out


def wheel_name(root=ROOT):
    """The file name of the package's wheel (from ``pyproject.toml``)."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return f"{project['name'].replace('-', '_')}-{project['version']}-py3-none-any.whl"


def build_wheel(out, root=ROOT):
    """Build the package's wheel into ``out`` from a copy of its sources (the checkout stays clean)."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(root / name, src / name)
        shutil.copytree(root / "d2lzh_pytorch", src / "d2lzh_pytorch",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "--no-cache-dir", "-w", str(out), str(src)], check=True)
    wheel = out / wheel_name(root)
    if not wheel.is_file():
        raise FileNotFoundError(f"pip wheel did not write {wheel.name} into {out}")
    return wheel


def write_notebooks(out, root=ROOT, editions=EDITIONS, base=None, wheel=True):
    """Write ``<out>/<edition>/<name>.ipynb`` for every chapter and the wheel; return the notebook paths.

    ``base`` overrides the URL the setup cell installs the wheel from (the
    published location by default; the tests serve one on 127.0.0.1).
    """
    config = read_config(root)
    book = load_book(root, config)
    source = setup_cell.render_reader(base or Publication.from_config(config).base(), wheel_name(root))
    written = []
    for edition in editions:
        folder = out / edition
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for docname in book_structure.notebook_docnames(root):
            nb = nbformat.read(root / f"{docname}.ipynb", as_version=4)
            path = folder / f"{Path(docname).name}.ipynb"
            nbformat.write(convert_notebook(nb, docname, book, source, edition), path)
            written.append(path)
    if wheel:
        for old in out.glob("*.whl"):
            old.unlink()
        build_wheel(out, root)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "notebooks")
    parser.add_argument("--no-wheel", action="store_true", help="skip building the package's wheel")
    args = parser.parse_args(argv)
    written = write_notebooks(args.out, wheel=not args.no_wheel)
    sources = [nbformat.read(ROOT / f"{d}.ipynb", as_version=4) for d in book_structure.notebook_docnames()]
    print(f"MyST markup in the Markdown of the chapters: {markup_count(sources)}")
    for edition in EDITIONS:
        notebooks = [nbformat.read(p, as_version=4) for p in written if p.parent.name == edition]
        print(f"{len(notebooks)} {edition} notebooks in {args.out / edition}, "
              f"MyST markup left: {markup_count(notebooks)}")
    return 0


def markup_count(notebooks):
    """How many pieces of MyST markup (``leftover_markup``) the notebooks' Markdown cells hold."""
    return sum(len(leftover_markup(c.source)) for nb in notebooks for c in nb.cells
               if c.cell_type == "markdown")


if __name__ == "__main__":
    sys.exit(main())
