#!/usr/bin/env python3
"""Write docs/hooks.md's hook reference from rcm/hookspecs.py's docstrings.

rcm/hookspecs.py is the contract; the "## The hooks" section of docs/hooks.md
is its rendering, between two marker comments.  Edit the docstrings, then run
``python scripts/hook_reference.py``; ``--check`` only says whether the page is
current (exit 1 if not), as tests/test_plugin_api.py does.
"""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "hooks.md"
BEGIN = "<!-- hook reference: generated from rcm/hookspecs.py by scripts/hook_reference.py -->"
END = "<!-- end of the generated hook reference -->"
LABELS = ("When", "Arguments", "Returns", "Raising", "Order")
EXAMPLE = "\nExample::\n"
"""Ends a hook's docstring: an indented implementation, rendered as a Python block."""


def _markdown(text: str) -> str:
    """reST inline markup as Markdown: ``x`` and :role:`~x` become `x`."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _paragraphs(doc: str) -> list[str]:
    """A docstring's paragraphs, each on one line; "- " items stay one a line."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", inspect.cleandoc(doc)):
        items: list[str] = []
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("- ") or not items:
                items.append(line)
            else:
                items[-1] += " " + line
        out.append("\n".join(_markdown(i) for i in items))
    return out


def hooks(specs: ModuleType) -> list[tuple[str, object]]:
    """The hook specs in the order the module defines them."""
    return [
        (name, fn)
        for name, fn in vars(specs).items()
        if name.startswith("rcm_") and inspect.isfunction(fn)
    ]


def _signature(name: str, fn: object) -> str:
    params = ", ".join(inspect.signature(fn).parameters)  # type: ignore[arg-type]
    returns = fn.__annotations__.get("return", "None")  # type: ignore[attr-defined]
    return f"{name}({params}) -> {returns}"


def example(fn: object) -> str:
    """The hook's example implementation (after ``Example::``), dedented; '' if none."""
    doc = inspect.cleandoc(fn.__doc__ or "")  # type: ignore[attr-defined]
    return textwrap.dedent(doc.partition(EXAMPLE)[2]).strip("\n")


def _hook_section(name: str, fn: object) -> list[str]:
    lines = [f"### `{_signature(name, fn)}`", ""]
    text = inspect.cleandoc(fn.__doc__ or "").partition(EXAMPLE)[0]  # type: ignore[attr-defined]
    for para in _paragraphs(text):
        label, sep, rest = para.partition(": ")
        if sep and label in LABELS:
            lines.append(f"- **{label}**: {rest}")
        else:
            lines += [para, ""]
    code = example(fn)
    if code:
        lines += ["", "Example:", "", "```python", code, "```"]
    return [*lines, ""]


def render(specs: ModuleType) -> str:
    """The generated part of the page, markers included."""
    general = _paragraphs(specs.__doc__ or "")
    start = next(i for i, p in enumerate(general) if p.startswith("Arguments."))
    lines = [BEGIN, ""]
    for para in general[start:]:
        head, sep, rest = para.partition(".  ")
        bold = sep and len(head.split()) <= 2 and not head.startswith("- ")
        lines += [f"**{head}.** {rest}" if bold else para, ""]
    lines += ["| hook | what for |", "|---|---|"]
    for name, fn in hooks(specs):
        summary = _paragraphs(fn.__doc__ or "")[0]  # type: ignore[attr-defined]
        lines.append(f"| `{name}` | {summary} |")
    lines.append("")
    for name, fn in hooks(specs):
        lines += _hook_section(name, fn)
    return "\n".join([*lines, END])


def current_section(page: str) -> str:
    """The generated part of ``page`` as it stands, markers included."""
    begin, end = page.index(BEGIN), page.index(END) + len(END)
    return page[begin:end]


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(REPO))
    from rcm import hookspecs

    page = PAGE.read_text()
    fresh = render(hookspecs)
    if current_section(page) == fresh:
        return 0
    if "--check" in argv:
        print(f"{PAGE}: the hook reference is out of date; run {__file__}", file=sys.stderr)
        return 1
    PAGE.write_text(page.replace(current_section(page), fresh))
    print(f"{PAGE}: hook reference rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
