"""rcm.entrypoints finds what importlib.metadata finds.

The engine loads its handlers from the ``rcm.plugins`` entry points; the
reader exists only to spare cfgadm's in-process engine importlib.metadata's
start-up cost, so its answer must be importlib.metadata's, group by group,
whatever the current folder (the repo root holds an ``rcm.egg-info`` of its
own, found first when ``''`` is on sys.path).
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points as stdlib_entry_points
from pathlib import Path

import pytest

from rcm.entrypoints import EntryPoint, _parse, entry_points

REPO = Path(__file__).resolve().parents[1]
GROUPS = ["rcm.plugins", "console_scripts", "pytest11", "no.such.group"]


def described(eps) -> list[tuple[str, str, str | None]]:
    return sorted((ep.name, ep.value, ep.attr) for ep in eps)


@pytest.mark.parametrize("group", GROUPS)
def test_same_answer_as_importlib_metadata(group: str) -> None:
    assert described(entry_points(group=group)) == described(stdlib_entry_points(group=group))


def test_finds_the_built_in_handlers() -> None:
    found = {ep.name: ep.module for ep in entry_points(group="rcm.plugins")}
    assert {"net": "rcm_net.plugin", "ipmp": "rcm_ipmp.plugin"}.items() <= found.items()


COMPARE = """
import json, sys
from importlib.metadata import entry_points as std
from rcm.entrypoints import entry_points as ours
groups = sys.argv[1:]
print(json.dumps({g: [sorted((e.name, e.value) for e in f(group=g)) for f in (ours, std)]
                  for g in groups}))
"""


@pytest.mark.parametrize("cwd", [REPO, Path("/")])
def test_same_answer_from_any_folder(cwd: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-c", COMPARE, *GROUPS],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    for group, (ours, std) in json.loads(r.stdout).items():
        assert ours == std, group


def test_parse_like_importlib_metadata() -> None:
    text = "[a]\n# comment\nx = m.n:obj.attr [extra]\n\n[b]\ny=m\n  z =  m2:f  \n"
    assert [(e.name, e.value, e.module, e.attr) for e in _parse(text, "b")] == [
        ("y", "m", "m", None),
        ("z", "m2:f", "m2", "f"),
    ]
    [x] = _parse(text, "a")
    assert (x.module, x.attr) == ("m.n", "obj.attr")
    assert isinstance(x, EntryPoint)
