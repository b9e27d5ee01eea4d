"""docs/ipmpstat.md's and docs/if_mpadm.md's transcripts are what the programs print.

As tests/test_lab_docs.py does for docs/cfgadm.md: every line of a fenced block
that starts with ``$ ipmpstat``, ``# ipmpstat`` or ``# if_mpadm`` is a command,
and the lines after it (to the next command or the block's end) what it
prints, stdout and stderr in one stream.  Each document is one story, run in
order in a lab whose state it starts from: three NICs of group ``g`` (nic2 a
standby), nic0 with the test address 192.0.2.50, rcmd running.
``RCM_UPDATE_DOCS=1`` rewrites the outputs with what the programs printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ipmpkit import V4_10, V4_11, V6_10, V6_11, start
from rcm_lab import Lab

pytestmark = pytest.mark.lab

DOCS = Path(__file__).resolve().parents[1] / "docs"
PROMPT = re.compile(r"^[$#] ((?:ipmpstat|if_mpadm)(?: .*)?)$")
STORY = {
    "nic0": {"group": "g", "addresses": [V4_10, V6_10], "test_addresses": ["192.0.2.50/24"]},
    "nic1": {"group": "g", "addresses": [V4_11, V6_11]},
    "nic2": {"group": "g", "standby": True},
}


def transcripts(lines: list[str]) -> list[tuple[str, int, list[str]]]:
    found: list[tuple[str, int, list[str]]] = []
    in_block = False
    current: list[str] | None = None
    for i, line in enumerate(lines):
        if line.startswith("```"):
            in_block, current = not in_block, None
            continue
        if not in_block:
            continue
        m = PROMPT.match(line)
        if m:
            current = []
            found.append((m.group(1), i, current))
        elif current is not None:
            current.append(line)
    return found


@pytest.fixture
def story(lab: None) -> Iterator[Lab]:
    made = Lab(nics=("nic0", "nic1", "nic2"), interfaces=STORY)
    try:
        made.build()
        yield start(made)
    finally:
        made.close()


def run(lab: Lab, command: str) -> list[str]:
    name, *args = command.split()
    r = subprocess.run(
        lab.exec_argv("host", [str(Path(sys.executable).with_name(name)), *args]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**lab.env(), "COLUMNS": "80"},
        text=True,
        timeout=60,
    )
    out = r.stdout.rstrip("\n")
    return out.splitlines() if out else []


@pytest.mark.parametrize("page", ["ipmpstat.md", "if_mpadm.md"])
def test_transcripts_are_what_the_programs_print(story: Lab, page: str) -> None:
    doc = DOCS / page
    lines = doc.read_text().splitlines()
    documented = transcripts(lines)
    assert len(documented) >= 4, documented
    mismatches = []
    for command, at, expected in documented:
        got = run(story, command)
        if got != expected:
            mismatches.append((command, at, expected, got))
    if mismatches and os.environ.get("RCM_UPDATE_DOCS") == "1":
        for _command, at, expected, got in sorted(mismatches, key=lambda m: -m[1]):
            lines[at + 1 : at + 1 + len(expected)] = got
        doc.write_text("\n".join(lines) + "\n")
        return
    report = "\n".join(
        f"$ {c}\n--- docs/{page} ---\n" + "\n".join(e) + "\n--- printed ---\n" + "\n".join(g)
        for c, _at, e, g in mismatches
    )
    assert not mismatches, report + "\n" + story.snapshot()
