"""Entry points of the installed distributions, read without importlib.metadata.

The engine finds its handlers through the ``rcm.plugins`` entry-point group,
and cfgadm runs the engine in its own process whenever no rcmd runs.
``importlib.metadata`` answers that question by importing email, zipfile,
csv and more: ~26 ms on a quiet machine (field notes), 30-45 ms measured on
the project's loaded one, about the cost of starting a click program, for
what is one small text file per distribution.

So this reads them directly, the way ``importlib.metadata.entry_points()``
finds them: every ``*.dist-info`` and ``*.egg-info`` folder of every
``sys.path`` entry, in ``sys.path`` order; of two distributions with the same
normalized name the first wins; each one's ``entry_points.txt`` is parsed as
importlib.metadata parses it (``[group]`` headings, ``name = value`` lines,
``#`` comments).  Not covered: distributions inside zip files on sys.path
and custom finders' ``find_distributions``, neither of which this project
installs; tests/test_entrypoints.py checks the answer is importlib.metadata's.
"""

from __future__ import annotations

import os
import re
import sys

_NORMALIZE = re.compile(r"[-_.]+")


class EntryPoint:
    """The part of importlib.metadata.EntryPoint the plugin loader uses."""

    __slots__ = ("name", "value", "group")

    def __init__(self, name: str, value: str, group: str) -> None:
        self.name = name
        self.value = value
        self.group = group

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()

    @property
    def attr(self) -> str | None:
        attr = self.value.partition(":")[2].partition("[")[0].strip()
        return attr or None

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def _normalize(name: str) -> str:
    return _NORMALIZE.sub("-", name).lower().replace("-", "_")


def _metadata_folders() -> list[str]:
    """Each distribution's metadata folder, the first of each name, in sys.path order."""
    seen: set[str] = set()
    folders: list[str] = []
    for entry in sys.path:
        root = entry or "."
        try:
            children = os.listdir(root)
        except OSError:  # missing folders, zip files
            continue
        for child in children:
            low = child.lower()
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            name = _normalize(low.rpartition(".")[0].partition("-")[0])
            if name not in seen:
                seen.add(name)
                folders.append(os.path.join(root, child))
    return folders


def _parse(text: str, group: str) -> list[EntryPoint]:
    found: list[EntryPoint] = []
    section = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section == group:
            name, _, value = line.partition("=")
            found.append(EntryPoint(name.strip(), value.strip(), group))
    return found


def entry_points(*, group: str) -> list[EntryPoint]:
    """Every entry point of ``group``, as ``importlib.metadata.entry_points(group=...)``."""
    found: list[EntryPoint] = []
    for folder in _metadata_folders():
        try:
            with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as f:
                text = f.read()
        except OSError:  # no entry points, or an egg-info file rather than a folder
            continue
        found.extend(_parse(text, group))
    return found
