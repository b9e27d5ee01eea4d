"""Copies an interrupted move leaves behind are cleaned up, all of them.

A move adds an address on the new NIC before deleting it from the old one, so
rcmd killed in between leaves the address on both.  The next reconcile keeps
the copy on the right NIC and deletes the others (one delete per NIC, however
many addresses: the kernel's list is read once per call).
"""

from __future__ import annotations

import ipaddress
import subprocess
from typing import Any

import pytest
from rcm_lab import Lab

pytestmark = pytest.mark.lab

N = 200


def _extra(n: int) -> list[str]:
    first = int(ipaddress.IPv4Address("198.18.0.10"))
    return [f"{ipaddress.IPv4Address(first + i)}/15" for i in range(n)]


def test_copies_left_on_the_other_member_are_deleted_at_start(lab: None) -> None:
    extra = _extra(N)
    interfaces: dict[str, Any] = {
        "nic0": {
            "group": "g",
            "addresses": ["192.0.2.10/24", *extra],
            "test_addresses": [],
            "standby": False,
        },
        "nic1": {
            "group": "g",
            "addresses": ["192.0.2.11/24"],
            "test_addresses": [],
            "standby": False,
        },
    }
    with Lab(interfaces=interfaces) as lab:
        # What a move from nic1 back home to nic0, cut short, leaves: each
        # address on both NICs.
        everything = ["192.0.2.10/24", *extra]
        batch = "".join(f"addr add {a} dev {n}\n" for a in everything for n in ("nic0", "nic1"))
        done = subprocess.run(
            ["ip", "-n", lab.ns["host"], "-batch", "-"], input=batch, text=True, capture_output=True
        )
        assert done.returncode == 0, done.stderr
        assert "192.0.2.10/24" in lab.addresses("nic1")

        lab.start_rcmd()
        ends = ["192.0.2.10/24", extra[0], extra[-1]]
        assert lab.wait_for_addresses("nic1", ends, timeout=20, present=False), lab.snapshot()
        on_nic0 = set(lab.addresses("nic0"))
        on_nic1 = set(lab.addresses("nic1"))
        assert {"192.0.2.10/24", *extra} <= on_nic0, lab.snapshot()
        assert not ({"192.0.2.10/24", *extra} & on_nic1), lab.snapshot()
        assert "192.0.2.11/24" in on_nic1, lab.snapshot()
