"""A corrupt or unusable journal (rcm.db) is one line naming the file and the fault, never a
traceback, and nothing changes (issue 9, fault 5).

Against a real rcmd and cfgadm in the lab: junk in the header, a malformed page, a state
folder on a read-only file system (a read-only bind mount: root ignores mode bits), an
immutable rcm.db.  A corrupt journal is never discarded by rcmd on its own (it may hold an
operation in flight): rcmd refuses to start and names the command,
``rcmd --set-aside-journal``, which keeps the file as ``rcm.db.corrupt-<timestamp>``; rcmd
then starts with an empty journal.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rcm_lab import Lab, RcmdError

pytestmark = pytest.mark.lab

V4_10 = "192.0.2.10/24"


@pytest.fixture
def ran_once(built: Lab) -> Lab:
    """rcmd ran (so rcm.db exists, several pages) and stopped; the data addresses are placed."""
    built.start_rcmd()
    assert built.wait_for_addresses("nic0", [V4_10]), built.snapshot()
    assert built.stop_rcmd() == 0, built.rcmd_log()
    return built


def _rcmd(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    rcmd = str(Path(sys.executable).with_name("rcmd"))
    return subprocess.run(
        lab.exec_argv("host", [rcmd, *args]),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=lab.env(),
        timeout=60,
    )


def _refused_start(lab: Lab) -> str:
    """rcmd's start fails with status 1; its log is one line (no traceback)."""
    with pytest.raises(RcmdError) as caught:
        lab.start_rcmd(timeout=15)
    assert caught.value.returncode == 1, caught.value.log
    log = caught.value.log
    assert "Traceback" not in log, log
    errors = [line for line in log.splitlines() if " INFO " not in line]
    assert len(errors) == 1, log
    return errors[0]


def _one_line_failure(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 1, r
    assert "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr
    return r.stderr.rstrip("\n")


def test_junk_in_the_header(built: Lab) -> None:
    db = built.state_dir / "rcm.db"
    db.parent.mkdir(mode=0o700, exist_ok=True)
    junk = bytes(range(256)) * 16
    db.write_bytes(junk)

    line = _refused_start(built)
    assert line.startswith(f"rcmd: {db}: corrupt journal (file is not a database)"), line
    assert "rcmd --set-aside-journal" in line, line
    assert db.read_bytes() == junk
    assert built.where_are(V4_10) == [], built.snapshot()  # nothing was configured

    line = _one_line_failure(built.cfgadm("-c", "unconfigure", "net:nic0"))
    assert line.startswith(f"cfgadm: {db}: corrupt journal"), line
    assert db.read_bytes() == junk

    r = _rcmd(built, "--set-aside-journal")
    assert r.returncode == 0, r
    kept = list(built.state_dir.glob("rcm.db.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == junk, list(built.state_dir.iterdir())
    assert not db.exists()
    built.start_rcmd()
    assert built.wait_for_addresses("nic0", [V4_10]), built.snapshot()


def test_malformed_page(ran_once: Lab) -> None:
    lab = ran_once
    db = lab.state_dir / "rcm.db"
    conn = sqlite3.connect(db)  # everything into rcm.db, so that the damage is read
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    assert len(data) >= 3 * page, len(data)
    data[page : 2 * page] = bytes(range(256)) * (page // 256)  # page 2: a table's b-tree
    db.write_bytes(bytes(data))
    before = db.read_bytes()

    line = _refused_start(lab)
    assert line.startswith(f"rcmd: {db}: corrupt journal"), line
    assert "rcmd --set-aside-journal" in line, line
    line = _one_line_failure(lab.cfgadm("-c", "unconfigure", "net:nic0"))
    assert line.startswith(f"cfgadm: {db}: corrupt journal"), line
    assert db.read_bytes() == before
    assert lab.where_are(V4_10) == ["nic0"], lab.snapshot()


@pytest.fixture
def read_only_state(ran_once: Lab) -> Iterator[Path]:
    """The state folder on a read-only file system (a read-only bind mount over itself)."""
    state = ran_once.state_dir
    subprocess.run(["mount", "--bind", str(state), str(state)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(state)], check=True)
        yield state
    finally:
        subprocess.run(["umount", str(state)], check=True)


def test_read_only_state_folder(ran_once: Lab, read_only_state: Path) -> None:
    lab = ran_once
    db = read_only_state / "rcm.db"
    assert not os.access(read_only_state, os.W_OK)
    line = _refused_start(lab)
    assert line.startswith(f"rcmd: {db}: cannot open the journal for writing ("), line
    line = _one_line_failure(lab.cfgadm("-c", "unconfigure", "net:nic0"))
    assert line.startswith(f"cfgadm: {db}: cannot open the journal for writing ("), line
    assert lab.where_are(V4_10) == ["nic0"], lab.snapshot()
    r = lab.cfgadm("-l", "net:nic0")  # listing only reads
    assert r.returncode == 0, r


@pytest.fixture
def immutable_journal(ran_once: Lab) -> Iterator[Path]:
    """rcm.db immutable (chattr +i: not even root may write it)."""
    db = ran_once.state_dir / "rcm.db"
    conn = sqlite3.connect(db)  # no WAL left beside it: the file itself must be written
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    subprocess.run(["chattr", "+i", str(db)], check=True)
    try:
        yield db
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


def test_immutable_journal(ran_once: Lab, immutable_journal: Path) -> None:
    lab, db = ran_once, immutable_journal
    before = db.read_bytes()
    line = _refused_start(lab)
    assert line.startswith(f"rcmd: {db}: cannot open the journal for writing ("), line
    line = _one_line_failure(lab.cfgadm("-c", "unconfigure", "net:nic0"))
    assert line.startswith(f"cfgadm: {db}: cannot open the journal for writing ("), line
    assert lab.where_are(V4_10) == ["nic0"], lab.snapshot()
    assert db.read_bytes() == before
