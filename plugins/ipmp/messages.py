"""What the IPMP handler tells the admin: addresses in one order, what moved, what it read.

Pure functions of the plan and the configuration, shared by every hook that
prints (usage lines, vetoes, messages) so that the same state always reads the
same.  The failover lines Solaris printed live beside the plan, in
:func:`rcm_ipmp.placement.failover_messages`.
"""

from __future__ import annotations

import socket
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from .config import GROUPS_FILE, INTERFACES_DIR, IPInterface, IpmpConfig
from .placement import Plan

MOVED_LISTED = 8  # addresses named in one "moving addresses" line; the rest are counted
SUMMARY_LISTED = 8  # NIC or group names named in the configuration summary


def _order_key(address: str | IPInterface) -> tuple[int, int, int]:
    """(IP version, address as a number, prefix length).  Strings (the kernel's
    ``addr/prefix``) are read with inet_pton: ipaddress takes ~11 µs an
    address here, and a group may hold thousands."""
    if isinstance(address, str):
        host, _, prefix = address.partition("/")
        v6 = ":" in host
        packed = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, host)
        return (6 if v6 else 4, int.from_bytes(packed), int(prefix or 0))
    return (address.version, int(address), address.network.prefixlen)  # int(): its IP


def in_order(addresses: Iterable[str | IPInterface]) -> list[str]:
    """Addresses as every message prints them: IPv4 first, then IPv6, each in
    numeric order (``192.0.2.9/24`` before ``192.0.2.10/24``), so the same
    state always reads the same."""
    return [str(a) for a in sorted(addresses, key=_order_key)]


def listed(addresses: Iterable[str | IPInterface], limit: int = MOVED_LISTED) -> str:
    """``a, b, c``, in order; past ``limit`` the rest are counted, not named."""
    ordered = sorted(addresses, key=_order_key)
    shown = ", ".join(str(a) for a in ordered[:limit])
    return shown if len(ordered) <= limit else f"{shown} and {len(ordered) - limit} more"


def moved_messages(plan: Plan, config: IpmpConfig) -> list[str]:
    """What a planned detach moved: one line per NIC the addresses left (and
    per NIC they went to), in the words Solaris' IPMP used::

        moving addresses from nic0 to nic1: 192.0.2.10/24, 2001:db8::10/64

    An address that was on no NIC is reported as moving from its home (a
    NIC that is missing), or as restored when it goes to its home.
    """
    by_pair: dict[tuple[str, str], list[IPInterface]] = defaultdict(list)
    for move in plan.moves:
        src = move.src or config.home_of(move.address) or move.dst
        by_pair[(src, move.dst)].append(move.address)
    return [
        f"moving addresses from {src} to {dst}: {listed(addresses)}"
        if src != dst
        else f"restoring addresses on {dst}: {listed(addresses)}"
        for (src, dst), addresses in sorted(by_pair.items())
    ]


def _names(names: list[str]) -> str:
    shown = names[:SUMMARY_LISTED]
    more = f", … {len(names) - len(shown)} more" if len(names) > len(shown) else ""
    return f"({', '.join(shown)}{more})"


def config_summary(config: IpmpConfig, config_dir: Path) -> str:
    """What the configuration read held, in one line for ``rcmd --check-config``
    (which prefixes the handler's name)."""
    folder = config_dir / INTERFACES_DIR
    nics = sorted(config.interfaces)
    if nics:
        files = "file" if len(nics) == 1 else "files"
        read = f"{len(nics)} interface {files} {_names(nics)} in {folder}"
    else:
        read = f"no interface files in {folder}"
    groups_file = config_dir / GROUPS_FILE
    groups = sorted(config.groups)
    if groups:
        word = "group" if len(groups) == 1 else "groups"
        read += f", {len(groups)} {word} {_names(groups)} from {groups_file}"
    elif groups_file.exists():
        read += f", no groups in {groups_file}"
    else:
        read += f", no groups (no {groups_file})"
    return read


# -- in.mpathd's words (rcmd's log; an admin greps for these) -------------------


def nic_failure(ifname: str, group: str) -> str:
    return f"NIC failure detected on {ifname} of group {group}"


def failed_over(ifname: str, to: str) -> str:
    return f"Successfully failed over from NIC {ifname} to NIC {to}"


def nic_repair(ifname: str, group: str) -> str:
    return f"NIC repair detected on {ifname} of group {group}"


def failed_back(ifname: str) -> str:
    return f"Successfully failed back to NIC {ifname}"


def all_failed(group: str) -> str:
    return f"All Interfaces in group {group} have failed"


def group_repaired(ifname: str, group: str) -> str:
    return f"At least 1 interface ({ifname}) of group {group} has repaired"
