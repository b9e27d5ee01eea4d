"""A fake PCI card whose NIC is a real veth of the namespace lab, and cfgadm
run next to its fake kernel.  Shared by the lab tests that detach a NIC
through its PCI device (tests/test_lab_hw.py, tests/test_lab_cluster.py).

The card is a fake sysfs tree built in the lab's own ``[plugins.hw] sysfs``
folder (read exactly as /sys is read): PCI function 0000:00:03.0 in slot 3,
whose ``net/<ifname>`` child names the lab's real NIC.  Its fake kernel lives
in tests/hw_lab_driver.py, which runs cfgadm in its own process (the
in-process engine, every installed plugin): when the card is removed the real
veth moves to the holding namespace, and back when the bus is rescanned.  So
rcmd must not be running while :func:`driver` runs (it would answer cfgadm
instead, without the fake kernel).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rcm_hw.faketree import FakeSysfs
from rcm_lab import Lab

DRIVER = Path(__file__).resolve().parent / "hw_lab_driver.py"
ADDRESS = "0000:00:03.0"
CARD = f"pcidev:{ADDRESS}"
SLOT = "pci:3"


def add_card(made: Lab, ifname: str = "nic0") -> None:
    """The fake card (and its slot 3) carrying the lab's ``ifname``."""
    assert made.tmp is not None, "build the lab first"
    FakeSysfs(made.tmp / "sys").pci_device(ADDRESS, net=[ifname], slot="3")


def card_removed(made: Lab) -> bool:
    """Whether the fake kernel removed the card (it keeps removed devices in its stash)."""
    assert made.tmp is not None
    gone = made.tmp / "stash" / "gone.json"
    return not (made.tmp / "sys" / "bus/pci/devices" / ADDRESS).exists() or (
        gone.exists() and ADDRESS in gone.read_text()
    )


def driver(made: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    """``cfgadm args…`` in the lab's host namespace, next to the fake kernel."""
    assert made.tmp is not None
    argv = [
        sys.executable,
        str(DRIVER),
        str(made.tmp / "sys"),
        str(made.tmp / "stash"),
        made.ns["holding"],
        made.ns["host"],
        "--",
        *args,
    ]
    return subprocess.run(
        made.exec_argv("host", argv),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=made.env(),
        timeout=120,
    )
