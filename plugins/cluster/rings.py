"""Which rings a NIC carries, and what taking it away does to the node.

Pure functions over what the handler observed (:class:`Nic`: a NIC's state and
addresses), so that the rule is tested without a kernel.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from rcm.model import Impact, Veto

from .corosync import Node, Ring

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class Nic(NamedTuple):
    name: str
    working: bool
    """Up, with carrier: a ring bound here can carry traffic."""
    ips: frozenset[IP]


def local_node(nodes: Iterable[Node], nics: Mapping[str, Nic], hostname: str) -> Node | None:
    """This machine's node: the one with a ring address on one of our NICs
    (as corosync itself decides), else the one named like this host."""
    ours = frozenset().union(*(n.ips for n in nics.values()))
    nodes = list(nodes)
    for node in nodes:
        if any(r.ip is not None and r.ip in ours for r in node.rings):
            return node
    short = hostname.split(".", 1)[0]
    for node in nodes:
        if node.name and node.name in (hostname, short):
            return node
    return None


def carrier(ring: Ring, nics: Mapping[str, Nic]) -> Nic | None:
    """The NIC holding the ring's address (None for a name or an address on no NIC)."""
    ip = ring.ip
    if ip is None:
        return None
    return next((nic for nic in nics.values() if ip in nic.ips), None)


def rings_on(ifname: str, node: Node, nics: Mapping[str, Nic]) -> list[Ring]:
    return [r for r in node.rings if (c := carrier(r, nics)) is not None and c.name == ifname]


def _listed(rings: list[Ring]) -> str:
    if len(rings) == 1:
        return str(rings[0])
    numbers = ", ".join(f"{r.number} ({r.address})" for r in rings[:-1])
    return f"rings {numbers} and {rings[-1].number} ({rings[-1].address})"


def judge(ifname: str, node: Node, nics: Mapping[str, Nic]) -> Veto | None:
    """The answer to "may ``ifname`` go?" for a running node.

    - it carries no ring, or its rings are not working anyway (link down): None;
    - another ring works on another NIC: a warning naming what survives;
    - another ring's address is a host name, which rcm does not resolve: a
      ``data`` veto (cannot tell; ``-f`` may override);
    - else a ``system`` veto: the node would lose its last working ring.
    """
    nic = nics.get(ifname)
    here = rings_on(ifname, node, nics)
    if nic is None or not nic.working or not here:
        return None
    carried = f"corosync {_listed(here)} {'is' if len(here) == 1 else 'are'} on {ifname}"
    surviving = [
        (r, c.name)
        for r in node.rings
        if (c := carrier(r, nics)) is not None and c.name != ifname and c.working
    ]
    if surviving:
        shown = ", ".join(f"{r} on {name}" for r, name in surviving)
        verb = "survives" if len(surviving) == 1 else "survive"
        return Veto(f"{carried}; {shown} {verb}", Impact.WARNING)
    names = [r for r in node.rings if r.ip is None]
    if names:
        shown = ", ".join(str(r) for r in names)
        return Veto(
            f"{carried}; {shown}: a host name, which rcm does not resolve (no DNS from rcmd),"
            " so it cannot tell whether that ring survives",
            Impact.DATA,
        )
    only = "the node's only working ring" + ("s" if len(here) > 1 else "")
    return Veto(f"{carried}, {only}", Impact.SYSTEM)
