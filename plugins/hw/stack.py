"""Interfaces stacked on a NIC: its dependents in the resource graph.

The kernel says what sits on a NIC in sysfs: ``class/net/<nic>/upper_<x>``
for every interface built on it (a macvlan, a vlan, the bridge or bond it is
a port of) and ``class/net/<nic>/master`` for the bridge or bond it is
enslaved to.  Those uppers are the NIC's dependents: the coordinator asks
their consumers before the NIC's own (an upper carrying addresses in no IPMP
group vetoes, naming the upper), and takes them offline first.

Offlining a bridge port takes it out of its bridge (recorded, crash-safe, in
the hw plugin's store) before the device leaves; online (a rollback, or the
NIC coming back) puts it back in.  A macvlan or vlan is not re-created when
its NIC comes back from a real removal (the kernel deleted it): that needs
its configuration, which rcm does not own (docs/hardware.md).
"""

from __future__ import annotations

from .sysfs import Sysfs

NET = "class/net"


def uppers(sysfs: Sysfs, ifname: str) -> list[str]:
    """The interfaces stacked directly on ``ifname``, sorted."""
    return [
        entry.removeprefix("upper_")
        for entry in sysfs.listdir(f"{NET}/{ifname}")
        if entry.startswith("upper_")
    ]


def bridge_of(sysfs: Sysfs, ifname: str) -> str | None:
    """The bridge ``ifname`` is a port of, or None."""
    master = sysfs.device_path(f"{NET}/{ifname}/master")
    if master is None:
        return None
    name = master.rsplit("/", 1)[-1]
    return name if sysfs.exists(f"{NET}/{name}/bridge") else None
