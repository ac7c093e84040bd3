"""The block structure of the book's MyST Markdown, shared by the tools that rewrite it.

``parse`` splits a Markdown text into plain text, fenced code and directives
(``:::{exercise}``, ``::::{solution} ex-09-1``, ``` ```{solution-start} ``` ...),
following MyST's fence rules: a directive ends at a bare fence of its own
character at least as long as its opening one, so a ``:::{note}`` or a
``` ```python ``` block inside a ``::::{solution}`` does not end it. Text inside
plain code fences is never read as markup.

Used by ``tools/book_structure.py`` (the exercises and solutions; the student
edition removes the solutions with it) and ``tools/reader_notebooks.py`` (turn
MyST into Markdown that Jupyter renders).
"""

import re
from dataclasses import dataclass, field

OPENING = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}[ \t]*(?P<arg>.*)$")
CODE_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^`{][^`]*)?$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):(?:[ \t]+(?P<value>.*))?$")
TEACHER_ONLY_MARK = "not-in-student-edition -->"
# a span on lines of its own goes with its line breaks; a span inside a line leaves the line
TEACHER_ONLY = re.compile(r"^<!-- not-in-student-edition -->\n.*?<!-- /not-in-student-edition -->(?:\n|\Z)"
                          r"|<!-- not-in-student-edition -->.*?<!-- /not-in-student-edition -->", re.S | re.M)
TEACHER_MARKERS = re.compile(r"^<!-- /?not-in-student-edition -->\n|<!-- /?not-in-student-edition -->", re.M)


class MystStructureError(ValueError):
    """Unbalanced MyST structure: a directive without its closing fence, a stray ``{solution-end}``, ..."""


@dataclass
class Text:
    """Markdown outside any directive; ``code`` is True for a fenced code block (kept verbatim)."""

    raw: str
    code: bool = False


@dataclass
class Directive:
    """One directive: ``name``, its argument, its options (``:key: value`` or a ``---`` YAML block),
    its body (the text between the options and the closing fence) and its original text."""

    name: str
    arg: str
    options: dict = field(default_factory=dict)
    body: str = ""
    raw: str = ""


def closes(line, fence):
    """True when ``line`` is a bare fence of ``fence``'s character at least as long (MyST's rule)."""
    s = line.strip()
    return len(s) >= len(fence) and set(s) == {fence[0]}


def _options(lines):
    """Split a directive's inner lines into (options, body lines)."""
    options, i = {}, 0
    if lines and lines[0].strip() == "---":  # a YAML block of options
        for i in range(1, len(lines)):
            if lines[i].strip() == "---":
                import yaml

                options = yaml.safe_load("".join(lines[1:i])) or {}
                return {str(k): "" if v is None else str(v) for k, v in options.items()}, lines[i + 1:]
        raise MystStructureError(f"an option block opened with --- is not closed: {''.join(lines)[:80]!r}")
    while i < len(lines):
        m = OPTION.match(lines[i].strip())
        if not m:
            break
        options[m["key"]] = (m["value"] or "").strip()
        i += 1
    return options, lines[i:]


def parse(text):
    """Split MyST ``text`` into a list of ``Text`` and ``Directive`` (top level only; parse a
    directive's ``body`` again for the directives nested in it)."""
    lines, out, i = text.splitlines(keepends=True), [], 0

    def add_text(raw, code=False):
        if out and isinstance(out[-1], Text) and not out[-1].code and not code:
            out[-1].raw += raw
        else:
            out.append(Text(raw, code))

    while i < len(lines):
        stripped = lines[i].strip()
        directive, code = OPENING.match(stripped), CODE_FENCE.match(stripped)
        if not (directive or code):
            add_text(lines[i])
            i += 1
            continue
        fence = (directive or code)["fence"]
        start, i = i, i + 1
        while i < len(lines) and not closes(lines[i], fence):
            i += 1
        if i == len(lines):
            if code:  # CommonMark: an unclosed code fence runs to the end of the text
                add_text("".join(lines[start:]), code=True)
                break
            raise MystStructureError(f"no closing {fence} for {stripped!r}")
        raw = "".join(lines[start:i + 1])
        i += 1
        if code:
            add_text(raw, code=True)
            continue
        options, body = _options(lines[start + 1:i - 1])
        out.append(Directive(directive["name"], directive["arg"].strip(), options, "".join(body), raw))
    return out


def drop_teacher_only(text):
    """Remove ``<!-- not-in-student-edition -->`` ... ``<!-- /not-in-student-edition -->`` spans.

    For prose about the solutions themselves (e.g. "click a solution to open it").
    """
    text = TEACHER_ONLY.sub("", text)
    if TEACHER_ONLY_MARK in text:
        raise MystStructureError(f"an unpaired {TEACHER_ONLY_MARK!r} marker")
    return text


def unmark_teacher_only(text):
    """Keep the teacher-only spans but drop their markers (the edition with solutions)."""
    drop_teacher_only(text)  # the same pairing check
    return TEACHER_MARKERS.sub("", text)
