"""Make a chapter's shown code fit 80 columns without changing what it does.

    python tools/wrap_code.py chapters/02_math.ipynb ...   # rewrite the notebooks
    python tools/wrap_code.py --dry-run chapters/*.ipynb   # only count what would change
    python tools/wrap_code.py --check chapters/*.ipynb     # exit 1 if a digest would change

Two steps on each notebook:

1. A *claim cell* (see ``is_claim_cell``) is tagged ``hide-input``: the book shows
   the claim's printed result and folds its check under a toggle.
2. In every other shown code cell with a line wider than 80 columns, a too-wide
   trailing comment moves onto its own line, and long string literals are re-cut
   into adjacent literals (inside brackets, or in added parentheses) and long
   comments into several lines. If that is not enough, the statements that are
   still too wide (the innermost ones) are formatted by ``ruff format`` at line
   length 80 (``FORMAT_OPTIONS``), then their strings re-cut, and so on; failing
   that, the whole cell is formatted. Cells that fit are left as they are.

The syntax tree of every cell is unchanged (``tools/build_book.code_digest``, in
which adjacent string literals are one literal): a notebook whose digest would
change is not written, and the run ends with an error naming it. Docstrings and
other triple-quoted strings are never split. Shipped ``# @save`` cells must be
copied into the package afterwards: ``python tools/saved_code.py``.
"""

import argparse
import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_book import _cell_form, code_digest, docstrings  # noqa: E402
from code_width import HIDDEN, LIMIT, columns  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).parent / "ruff"
# skip-magic-trailing-comma: a call that fits stays on one line (about 10% fewer lines than
# ruff's default, which explodes every call with a trailing comma one argument a line)
FORMAT_OPTIONS = ["--config", "format.quote-style = 'preserve'",
                  "--config", "format.skip-magic-trailing-comma = true"]
MAGIC = re.compile(r"^\s*[%!]", re.MULTILINE)


class WrapError(RuntimeError):
    """A notebook whose rewrapped code would not have the same syntax tree."""


# --- 1. claim cells --------------------------------------------------------------

def _is_claim_call(stmt):
    """Is ``stmt`` the expression ``d2l.claim(...)`` or ``display(d2l.claim(...))``?"""
    value = stmt.value if isinstance(stmt, ast.Expr) else None
    if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id == "display" and len(value.args) == 1):
        value = value.args[0]
    return isinstance(value, ast.Call) and ast.unparse(value.func) == "d2l.claim"


def _bound(stmt):
    """Names a top-level assignment or definition binds (comprehension variables excluded)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def free_names(source):
    """Names a cell reads that it does not bind itself (all of its names if it does not parse)."""
    try:
        tree = ast.parse(MAGIC.sub("pass", source))
    except SyntaxError:
        return set(re.findall(r"[A-Za-z_]\w*", source))
    loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    stores = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    defs = {n.name for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return loads - stores - defs


def is_claim_cell(source, later_sources=()):
    """Does the cell only check claims?

    Yes when its top-level statements are ``d2l.claim(...)`` calls (at least one, possibly
    wrapped in ``display``) and assignments or function definitions whose names no later
    cell (``later_sources``) reads: the lines that compute the claims' conditions and
    evidence. A cell that trains, plots, prints or loops is not one.
    """
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    claims = [s for s in body if _is_claim_call(s)]
    others = [s for s in body if not _is_claim_call(s)]
    kinds = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.FunctionDef)
    if not claims or not all(isinstance(s, kinds) for s in others):
        return False
    bound = set().union(*(_bound(s) for s in others)) if others else set()
    return not any(bound & free_names(later) for later in later_sources)


def hide_claim_cells(nb):
    """Tag every shown claim cell ``hide-input``; the number tagged."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = 0
    for k, cell in enumerate(code):
        tags = cell.metadata.get("tags", [])
        if HIDDEN & set(tags) or not is_claim_cell(cell.source, [c.source for c in code[k + 1:]]):
            continue
        cell.metadata["tags"] = [*tags, "hide-input"]
        tagged += 1
    return tagged


# --- 2. ruff format --------------------------------------------------------------

def too_wide(source, limit=LIMIT):
    return any(columns(line) > limit for line in source.splitlines())


def ruff_format(source, limit=LIMIT):
    """``source`` formatted by ``ruff format`` (FORMAT_OPTIONS, ``limit`` columns), or None if
    it is not plain Python."""
    if MAGIC.search(source):
        return None
    options = [*FORMAT_OPTIONS, "--line-length", str(limit)]
    done = subprocess.run([str(RUFF), "format", *options, "--stdin-filename", "cell.py", "-"],
                          input=source, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return None
    return done.stdout.rstrip("\n")


def _wide_ranges(body, lines, limit):
    """(first, last) line indices of the innermost statements in ``body`` with a too-wide line.

    A compound statement whose header fits is entered; otherwise it is taken whole.
    """
    for stmt in body:
        first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])]) - 1
        last = stmt.end_lineno - 1
        if not any(columns(line) > limit for line in lines[first:last + 1]):
            continue
        blocks = [b for b in (getattr(stmt, f, None) for f in ("body", "orelse", "finalbody"))
                  if isinstance(b, list) and b and isinstance(b[0], ast.stmt)]
        blocks += [h.body for h in getattr(stmt, "handlers", [])]
        header = lines[first:blocks[0][0].lineno - 1] if blocks else None
        if blocks and all(columns(line) <= limit for line in header):
            for block in blocks:
                yield from _wide_ranges(block, lines, limit)
        else:
            yield first, last


def format_statements(source, limit=LIMIT):
    """``source`` with only its statements that have a too-wide line formatted by ruff.

    The rest of the cell keeps its layout. None if the cell does not parse or ruff fails.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    lines = source.splitlines()
    for first, last in sorted(_wide_ranges(tree.body, lines, limit), reverse=True):
        chunk = lines[first:last + 1]
        indent = len(chunk[0]) - len(chunk[0].lstrip())
        if any(line.strip() and len(line) - len(line.lstrip()) < indent for line in chunk):
            return None  # a string running back to the left margin: leave it to the whole-cell path
        text = "\n".join(line[indent:] for line in chunk)
        formatted = ruff_format(text, limit - indent)
        if formatted is None:
            return None
        lines[first:last + 1] = [" " * indent + line if line else line
                                 for line in formatted.splitlines()]
    return "\n".join(lines)


# --- 3. strings and comments -----------------------------------------------------

def _split_point(body, budget, fstring):
    """Index in a string literal's ``body`` to split it at, within ``budget`` columns, or None.

    Never inside an f-string's replacement field or an escape sequence; preferably after a
    space or punctuation, unless that would leave more than half the budget unused.
    """
    good = anywhere = None
    width, depth, i = 0, 0, 0
    while i < len(body) - 1:
        step = 2 if body[i] == "\\" or (fstring and depth == 0 and body[i:i + 2] in ("{{", "}}")) else 1
        if fstring and step == 1 and body[i] == "{":
            depth += 1
        elif fstring and step == 1 and body[i] == "}":
            depth -= 1
        width += columns(body[i:i + step])
        i += step
        if width > budget:
            break
        if depth == 0 and i < len(body):
            anywhere = i
            if body[i - 1] in " ，；。、：,;/" or columns(body[i - 1]) == 2:
                good = i
    if good is not None and 2 * columns(body[:good]) >= budget:
        return good
    return anywhere


def _literal(token):
    """(prefix, quote, body) of a one-line string literal, or None if triple-quoted or bytes."""
    m = re.match(r"(?i)([rfu]*)('|\")", token)
    if not m or token[len(m.group(1)):].startswith(m.group(2) * 3):
        return None
    return m.group(1), m.group(2), token[len(m.group(1)) + 1:-1]


def split_body(body, budget, fstring):
    """``body`` cut into pieces of at most ``budget`` columns at safe points (the last may be longer)."""
    pieces = []
    while columns(body) > budget:
        point = _split_point(body, budget, fstring)
        if not point:
            break
        pieces.append(body[:point])
        body = body[point:]
    return [*pieces, body]


def _depth(tokens):
    """How many brackets are open after ``tokens``."""
    return sum((t.string in "([{") - (t.string in ")]}") for t in tokens if t.type == tokenize.OP)


def _neighbour_is_string(tokens, first, last):
    """Is a string literal just before token ``first`` or just after token ``last``?"""
    skip = (tokenize.NL, tokenize.COMMENT)
    before = [t for t in tokens[:first] if t.type not in skip][-1:]
    after = [t for t in tokens[last + 1:] if t.type not in skip][:1]
    return any(t.type == tokenize.STRING for t in before + after)


def _string_run(tokens, k):
    """(first, last) indices of the adjacent literals with the same prefix and quote as token ``k``."""
    kind = _literal(tokens[k].string)
    first = last = k

    def same(j):
        return tokens[j].type == tokenize.STRING and _literal(tokens[j].string) is not None and \
            _literal(tokens[j].string)[:2] == kind[:2]

    def step(j, d):  # the next token that is not a line break inside brackets
        j += d
        while 0 <= j < len(tokens) and tokens[j].type == tokenize.NL:
            j += d
        return j

    while 0 <= step(first, -1) and same(step(first, -1)):
        first = step(first, -1)
    while step(last, 1) < len(tokens) and same(step(last, 1)):
        last = step(last, 1)
    return first, last


def reflow(source, tokens, k, limit=LIMIT):
    """``source`` with the string literal ``tokens[k]`` and its adjacent literals re-cut to fit.

    The literals (same prefix and quote) are joined and cut again into pieces that fit from
    the column where the first one starts; outside brackets the pieces get parentheses.
    None when nothing can be cut.
    """
    kind = _literal(tokens[k].string)
    if kind is None:
        return None
    first, last = _string_run(tokens, k)
    prefix, quote, _ = kind
    body = "".join(_literal(t.string)[2] for t in tokens[first:last + 1] if t.type == tokenize.STRING)
    depth = _depth(tokens[:first])
    if depth == 0 and _neighbour_is_string(tokens, first, last):
        return None  # next to literals of another kind, outside brackets
    lines = source.splitlines()
    row0, col0 = tokens[first].start
    row1, col1 = tokens[last].end
    start = columns(lines[row0 - 1][:col0]) + (depth == 0)
    budget = max(limit - start - len(prefix) - 2 - 2, 20)
    pieces = split_body(body, budget, "f" in prefix.lower())
    old = [_literal(t.string)[2] for t in tokens[first:last + 1] if t.type == tokenize.STRING]
    if pieces == old:
        return None
    pad = "\n" + " " * (col0 + (depth == 0))
    text = pad.join(f"{prefix}{quote}{p}{quote}" for p in pieces)
    if depth == 0:
        text = f"({text})"
    head, tail = lines[row0 - 1][:col0], lines[row1 - 1][col1:]
    lines[row0 - 1:row1] = (head + text + tail).split("\n")
    return "\n".join(lines)


def wrap_line(source, limit=LIMIT):
    """``source`` with its first too-wide line that can be broken broken once, or None."""
    lines = source.splitlines()
    tokens = list(tokenize.generate_tokens(io.StringIO(source + "\n").readline))
    for row, line in enumerate(lines, start=1):
        if columns(line) <= limit:
            continue
        indent = len(line) - len(line.lstrip())
        on_line = [t for t in tokens if t.start[0] == row]
        comment = next((t for t in on_line if t.type == tokenize.COMMENT), None)
        if comment is not None and line[:comment.start[1]].strip():  # trailing comment: move it up
            code_part = line[:comment.start[1]].rstrip()
            lines[row - 1:row] = [" " * indent + comment.string, code_part]
            return "\n".join(lines)
        if comment is not None:  # a whole-line comment: break at the last space that fits
            text = comment.string.lstrip("#").strip()
            words, head = text.split(" "), ""
            while words and columns(" " * indent + "# " + head + words[0]) <= limit:
                head += words.pop(0) + " "
            if not head or not words:
                continue
            lines[row - 1:row] = [" " * indent + "# " + head.rstrip(), " " * indent + "# " + " ".join(words)]
            return "\n".join(lines)
        strings = [t for t in on_line if t.type == tokenize.STRING and t.end[0] == row]
        for tok in sorted(strings, key=lambda t: -columns(t.string)):
            new = reflow(source, tokens, tokens.index(tok), limit)
            if new is not None:
                return new
    return None


def lift_comments(source, limit=LIMIT):
    """``source`` with the trailing comment of each too-wide line moved onto its own line above."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return source
    lines = source.splitlines()
    for tok in reversed([t for t in tokens if t.type == tokenize.COMMENT]):
        row, col = tok.start
        line = lines[row - 1]
        if columns(line) > limit and line[:col].strip() and not line[:col].rstrip().endswith("\\"):
            indent = " " * (len(line) - len(line.lstrip()))
            lines[row - 1:row] = [indent + tok.string, line[:col].rstrip()]
    return "\n".join(lines)


def _wrap_only(source, limit, rounds):
    """``source`` with strings re-cut and comments moved until it fits, or None if it does not."""
    for _ in range(rounds):
        if not too_wide(source, limit):
            return source
        source = wrap_line(source, limit)
        if source is None:
            return None
    return None


def same_tree(a, b):
    """Do two cells have the same syntax tree (as ``code_digest`` counts it)?"""
    return _cell_form(a) == _cell_form(b)


def wrap_docstrings(source, limit=LIMIT):
    """Docstring lines wider than ``limit`` broken at a space, the rest on a new line with the
    line's own indentation (``code_digest`` counts a docstring by its words)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    rows = {row for doc in docstrings(tree) for row in range(doc.lineno - 1, doc.end_lineno)}
    lines, out = source.split("\n"), []
    for row, line in enumerate(lines):
        indent = " " * (len(line) - len(line.lstrip()))
        while row in rows and columns(line) > limit:
            cut = next((i for i in range(len(line) - 1, len(indent), -1)
                        if line[i] == " " and columns(line[:i]) <= limit and line[:i].strip()), None)
            if cut is None:
                break
            out.append(line[:cut].rstrip())
            line = indent + line[cut:].lstrip()
        out.append(line)
    return "\n".join(out)


def fit_cell(source, limit=LIMIT, rounds=40):
    """The cell made to fit ``limit`` columns (or as close as it gets), same syntax tree."""
    lifted = lift_comments(wrap_docstrings(source, limit), limit)
    candidates = [_wrap_only(lifted, limit, rounds),  # only strings and comments were too wide
                  _fit(lifted, format_statements, limit, rounds),  # the wide statements formatted
                  _fit(lifted, ruff_format, limit, rounds)]  # the whole cell formatted
    for fitted in candidates:
        # e.g. ruff strips trailing spaces in a docstring, which changes it: then try the next
        if fitted is not None and not too_wide(fitted, limit) and same_tree(fitted, source):
            return fitted
    fitted = candidates[-1]
    return fitted if fitted is not None and same_tree(fitted, source) else source


def _fit(source, formatter, limit=LIMIT, rounds=40):
    """``source`` formatted by ``formatter``, then its strings and comments wrapped, reformatting
    after each step, until every line fits or nothing more helps; None if the formatter fails."""
    formatted = formatter(source, limit)
    for _ in range(rounds):
        if formatted is None or not too_wide(formatted, limit):
            break
        wrapped = wrap_line(formatted, limit)
        again = formatter(wrapped, limit) if wrapped is not None else None
        if again is None or again == formatted:
            break
        formatted = again
    return formatted


# --- the notebook ----------------------------------------------------------------

def wrap_notebook(nb, limit=LIMIT):
    """Hide claim cells and fit the other shown cells, in place; (cells tagged, cells reformatted)."""
    tagged = hide_claim_cells(nb)
    changed = 0
    for cell in nb.cells:
        if (cell.cell_type != "code" or HIDDEN & set(cell.metadata.get("tags", []))
                or not too_wide(cell.source, limit)):
            continue
        new = fit_cell(cell.source, limit)
        if new != cell.source:
            cell.source, changed = new, changed + 1
    return tagged, changed


def process(path, write=True):
    """Wrap one notebook; (cells tagged, cells reformatted). Raises WrapError if its digest changes."""
    nb = nbformat.read(path, as_version=4)
    before = code_digest(path)
    tagged, changed = wrap_notebook(nb)
    tmp = path.with_suffix(".wrap.ipynb")
    nbformat.write(nb, tmp)
    try:
        after = code_digest(tmp)
        if after != before:
            raise WrapError(f"{path}: code digest {before} -> {after}; the notebook was not written")
        if write:
            tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return tagged, changed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="write nothing")
    mode.add_argument("--check", action="store_true", help="write nothing; list digest changes")
    args = parser.parse_args(argv)
    failed = []
    for path in args.notebooks:
        try:
            tagged, changed = process(path, write=not (args.dry_run or args.check))
        except WrapError as err:
            print(err)
            failed.append(path)
            continue
        print(f"{path.name:28} {tagged:3} claim cells hidden, {changed:3} cells reformatted")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
