"""docs/hardware.md's transcripts are what cfgadm prints.

Every line of a fenced block that starts with ``# cfgadm`` is a command; the
lines after it, up to the next command or the block's end, are what it
prints (stdout and stderr, in the order written).  The commands run in the
document's order, as one story, against the fake machine of tests/hwkit.py
(``standard``) with ``sda1`` mounted on ``/boot``, ``dm-0`` (``vg-data``)
on ``/srv/data`` and process 4242 (``dpdk-worker``) pinned to cpu2: the
in-process engine with every installed plugin, exactly what cfgadm runs
without rcmd.  ``RCM_UPDATE_DOCS=1`` rewrites the outputs (then review the
diff).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest
from hwkit import Machine, running_machine

import cfgadm.cli as cli

DOC = Path(__file__).resolve().parents[1] / "docs" / "hardware.md"
PROMPT = re.compile(r"^# (cfgadm(?: .*)?)$")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cfgadm -c needs root")


@pytest.fixture
def machine(tmp_path, monkeypatch):
    yield from running_machine(tmp_path, monkeypatch)


def transcripts(lines: list[str]) -> list[tuple[int, str, list[str]]]:
    found: list[tuple[int, str, list[str]]] = []
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
            found.append((i, m.group(1), current))
        elif current is not None:
            current.append(line)
    return found


def run(command: str) -> list[str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        cli.main(command.split()[1:])
    return buf.getvalue().splitlines()


def test_transcripts_are_what_cfgadm_prints(machine: Machine, monkeypatch) -> None:
    machine.mounts([("8:1", "/boot", "ext4"), ("253:0", "/srv/data", "xfs")])
    machine.process(4242, "dpdk-worker", "2")
    monkeypatch.setattr(cli, "_stdin_is_tty", lambda: False)
    lines = DOC.read_text().splitlines()
    found = transcripts(lines)
    assert len(found) >= 10
    mismatches = []
    for start, command, expected in found:
        got = run(command)
        if got != expected:
            mismatches.append((start, command, expected, got))
    if mismatches and os.environ.get("RCM_UPDATE_DOCS") == "1":
        for start, _, expected, got in reversed(mismatches):
            lines[start + 1 : start + 1 + len(expected)] = got
        DOC.write_text("\n".join(lines) + "\n")
        return
    assert not mismatches, "\n\n".join(
        f"{cmd}\n--- documented\n" + "\n".join(exp) + "\n--- printed\n" + "\n".join(got)
        for _, cmd, exp, got in mismatches
    )
