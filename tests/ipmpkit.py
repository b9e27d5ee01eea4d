"""Helpers shared by the ipmpstat / if_mpadm / standby / reload lab tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

V4_10, V6_10 = "192.0.2.10/24", "2001:db8::10/64"
V4_11, V6_11 = "192.0.2.11/24", "2001:db8::11/64"


def tool(
    lab: Any, name: str, *args: str, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one of the product's console scripts in the lab's host namespace
    (as ``user``, a uid, when given: ``setpriv``)."""
    argv = [str(Path(sys.executable).with_name(name)), *args]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    return subprocess.run(
        lab.exec_argv("host", argv),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=lab.env(),
        timeout=60,
    )


def show(r: subprocess.CompletedProcess[str], lab: Any) -> str:
    return (
        f"$ {' '.join(map(str, r.args))}\nexit {r.returncode}\n--- stdout ---\n{r.stdout}"
        f"--- stderr ---\n{r.stderr}\n{lab.snapshot()}"
    )


def start(lab: Any, homes: dict[str, list[str]] | None = None) -> Any:
    """Start rcmd and wait until each NIC carries its data addresses."""
    lab.start_rcmd()
    homes = {"nic0": [V4_10, V6_10], "nic1": [V4_11, V6_11]} if homes is None else homes
    for nic, addrs in homes.items():
        assert lab.wait_for_addresses(nic, addrs), "rcmd did not place\n" + lab.snapshot()
    return lab


def open_to_all(lab: Any) -> None:
    """Let other users reach rcmd's socket, as under /run/rcm: the lab's
    temporary folder is made 0700."""
    for folder in (lab.tmp, lab.runtime_dir):
        folder.chmod(0o755)
