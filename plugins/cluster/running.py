"""Is corosync running on this node?  Its pid file, else a process named corosync.

Read from /proc, which rcmd shares with every process of the machine whatever
its network namespace.  A pid file is trusted only if the process it names
is alive and is corosync (a stale pid file may name a reused pid).
"""

from __future__ import annotations

import os
from pathlib import Path

PROCESS = "corosync"


def _comm(pid: int | str, proc: Path) -> str | None:
    try:
        return (proc / str(pid) / "comm").read_text().strip()
    except OSError:
        return None


def corosync_pid(pid_file: Path, proc: Path = Path("/proc")) -> int | None:
    """The pid of a running corosync, or None.

    The pid file first (corosync writes its pid there); else the first
    process whose ``comm`` is ``corosync`` (a corosync started without one).
    """
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pid = None
    if pid is not None and _comm(pid, proc) == PROCESS:
        return pid
    try:
        entries = os.listdir(proc)
    except OSError:
        return None
    for entry in entries:
        if entry.isdigit() and _comm(entry, proc) == PROCESS:
            return int(entry)
    return None
