"""docs/cfgadm.md's transcripts are what cfgadm prints: each is run in a lab and compared.

Every line of a fenced block in docs/cfgadm.md that starts with ``$ cfgadm`` or
``# cfgadm`` is a command; the lines after it, up to the next command or the end of the
block, are what it prints.  The commands are run in the order the document gives them,
as one story, in a lab whose state the story starts from (two NICs of IPMP group ``g``
with rcmd running, an ungrouped ``nic2`` already unconfigured), 80 columns wide, stdout and
stderr mixed in the order they were written.  stdin is not a terminal (as in a script),
except for a transcript that shows the question ``Continue (yes/no)? yes``: that one runs
on a terminal and ``yes`` is typed at the question.

``RCM_UPDATE_DOCS=1`` rewrites the outputs in docs/cfgadm.md with what cfgadm printed (then
review the diff): for when the program's output changes on purpose.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rcm_lab import Lab
from rcm_lab.topology import _console_script

pytestmark = pytest.mark.lab

DOC = Path(__file__).resolve().parents[1] / "docs" / "cfgadm.md"
PROMPT = re.compile(r"^[$#] (cfgadm(?: .*)?)$")
QUESTION = "Continue (yes/no)? "


@dataclass
class Transcript:
    command: str  # "cfgadm -lv"
    prompt_line: int  # index of the command's line in the document
    expected: list[str]  # the lines it prints


def transcripts(lines: list[str]) -> list[Transcript]:
    """Every documented cfgadm command with the output the document shows for it."""
    found: list[Transcript] = []
    in_block = False
    current: Transcript | None = None
    for i, line in enumerate(lines):
        if line.startswith("```"):
            in_block = not in_block
            current = None
            continue
        if not in_block:
            continue
        m = PROMPT.match(line)
        if m:
            current = Transcript(m.group(1), i, [])
            found.append(current)
        elif current is not None:
            current.expected.append(line)
    return found


@pytest.fixture
def story(lab: None) -> Iterator[Lab]:
    """The state the document's story starts from."""
    made = Lab(ungrouped=["nic2"])
    try:
        made.build()
        made.start_rcmd()
        restored = made.wait_for_addresses(
            "nic0", ["192.0.2.10/24", "2001:db8::10/64"]
        ) and made.wait_for_addresses("nic1", ["192.0.2.11/24", "2001:db8::11/64"])
        assert restored, made.snapshot()
        r = made.cfgadm("-c", "unconfigure", "net:nic2")
        assert r.returncode == 0, r.stderr + made.snapshot()
        yield made
    finally:
        made.close()


def run_piped(lab: Lab, command: str, timeout: float = 60.0) -> str:
    """Run ``command`` in the lab's host namespace, stdin not a terminal; what it wrote."""
    argv, _ = _console_script("cfgadm", "cfgadm.cli")
    r = subprocess.run(
        lab.exec_argv("host", [*argv, *command.split()[1:]]),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one pipe: the order they were written (unbuffered)
        env={**lab.env(), "COLUMNS": "80", "LINES": "24"},
        text=True,
        timeout=timeout,
    )
    return r.stdout


def run_on_terminal(lab: Lab, command: str, answer: str | None, timeout: float = 60.0) -> str:
    """Run ``command`` in the lab's host namespace on a fresh 80x24 pty; what it shows."""
    argv, _ = _console_script("cfgadm", "cfgadm.cli")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**lab.env(), "COLUMNS": "80", "LINES": "24", "TERM": "dumb"}
    proc = subprocess.Popen(
        lab.exec_argv("host", [*argv, *command.split()[1:]]),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    out = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError as e:
                if e.errno == errno.EIO:  # every holder of the terminal has closed it
                    break
                raise
            if not chunk:
                break
            out += chunk
            if answer is not None and not answered and out.endswith(QUESTION.encode()):
                os.write(master, answer.encode() + b"\n")
                answered = True
    finally:
        os.close(master)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            out += f"\n[still running after {timeout:g} s: killed]".encode()
    return out.decode().replace("\r\n", "\n")


def test_cfgadm_md_transcripts_are_what_cfgadm_prints(story: Lab) -> None:
    lab = story
    lines = DOC.read_text().splitlines()
    documented = transcripts(lines)
    assert len(documented) >= 8, [t.command for t in documented]

    mismatches = []
    for t in documented:
        asked = any(line.endswith(QUESTION + "yes") for line in t.expected)
        if asked:
            shown = run_on_terminal(lab, t.command, "yes")
        else:
            shown = run_piped(lab, t.command)
        shown = shown.rstrip("\n")
        got = shown.splitlines() if shown else []
        if got != t.expected:
            mismatches.append((t, got))

    if mismatches and os.environ.get("RCM_UPDATE_DOCS") == "1":
        for t, got in sorted(mismatches, key=lambda m: -m[0].prompt_line):
            start_at = t.prompt_line + 1
            lines[start_at : start_at + len(t.expected)] = got
        DOC.write_text("\n".join(lines) + "\n")
        return
    report = "\n".join(
        f"$ {t.command}\n--- docs/cfgadm.md ---\n"
        + "\n".join(t.expected)
        + "\n--- cfgadm printed ---\n"
        + "\n".join(got)
        for t, got in mismatches
    )
    assert not mismatches, report + "\n" + lab.snapshot()
