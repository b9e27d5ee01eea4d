"""The ``net:<ifname>`` attachment points.

Receptacle = the host's network namespace.  A NIC in the host is connected and
configured; one in the holding namespace is disconnected and unconfigured;
one that some handler registered by name (``net/<ifname>``: the IPMP handler
does for each NIC it has a file for) but is nowhere is an empty receptacle.
Which handler, and why, is not this plugin's business: it asks the engine for
the registered names.  Every answer is read from the kernel when asked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from rcm_netkit.names import AP_CLASS, RESOURCE_PREFIX, NetApId, NetResource, valid_ifname
from rcm_netkit.netlink import Link, Netlink, NetlinkError
from rcm_netkit.netns import NetnsError, ensure_netns, netns_exists

from rcm.errors import HardwareError
from rcm.model import Action, ApInfo, Condition, Occupant, Receptacle

PREFIX = AP_CLASS


def condition_of(link: Link) -> Condition:
    """ok: up with carrier; failed: up without carrier; unknown: admin down."""
    if not link.up:
        return Condition.UNKNOWN
    return Condition.OK if link.carrier else Condition.FAILED


class NetApBackend:
    prefix = PREFIX

    def __init__(self, holding: str, registered: Callable[[str], Iterable[str]]) -> None:
        """``registered(prefix)``: the resource names handlers registered
        explicitly (the handler context's ``registered_resources``)."""
        self.holding = holding
        self._registered = registered
        self._local = threading.local()

    # Netlink sockets are per thread; the coordinator calls a backend on its
    # handler's own thread, so in practice there is one.
    def _host(self) -> Netlink:
        nl = getattr(self._local, "host", None)
        if nl is None:
            nl = self._local.host = Netlink()
        return nl

    def _holding_links(self) -> dict[str, Link]:
        if not netns_exists(self.holding):
            return {}
        try:
            with Netlink(self.holding) as nl:
                return _nics(nl.links())
        except NetlinkError:
            return {}

    def _host_links(self) -> dict[str, Link]:
        return _nics(self._host().links())

    def _expected_names(self) -> set[str]:
        """NICs some handler registered by name: shown even when absent."""
        names = set()
        for resource in self._registered(RESOURCE_PREFIX):
            nic = NetResource.parse(resource)
            if nic is not None and nic.ifname != "lo":
                names.add(nic.ifname)
        return names

    @staticmethod
    def _ap(name: str, link: Link | None, where: str) -> ApInfo:
        ap_id = str(NetApId(name))
        resources = (str(NetResource(name)),)
        if where == "host" and link is not None:
            return ApInfo(
                ap_id,
                link.kind or "ethernet",
                Receptacle.CONNECTED,
                Occupant.CONFIGURED,
                condition_of(link),
                f"mac {link.mac}",
                resources,
            )
        if where == "holding" and link is not None:
            return ApInfo(
                ap_id,
                link.kind or "ethernet",
                Receptacle.DISCONNECTED,
                Occupant.UNCONFIGURED,
                Condition.UNKNOWN,
                f"mac {link.mac}, detached (holding namespace)",
                resources,
            )
        return ApInfo(
            ap_id,
            "unknown",
            Receptacle.EMPTY,
            Occupant.UNCONFIGURED,
            Condition.UNKNOWN,
            "configured but not present",
            resources,
        )

    def list(self) -> list[ApInfo]:
        host = self._host_links()
        holding = self._holding_links()
        names = sorted(set(host) | set(holding) | self._expected_names())
        out = []
        for name in names:
            if name in host:
                out.append(self._ap(name, host[name], "host"))
            elif name in holding:
                out.append(self._ap(name, holding[name], "holding"))
            else:
                out.append(self._ap(name, None, "empty"))
        return out

    def get(self, ap_id: str) -> ApInfo | None:
        parsed = NetApId.parse(ap_id)
        if parsed is None or parsed.ifname == "lo":
            return None
        name = parsed.ifname
        link = self._host().link(name)
        if link is not None:
            return self._ap(name, link, "host")
        held = self._holding_links().get(name)
        if held is not None:
            return self._ap(name, held, "holding")
        if name in self._expected_names():
            return self._ap(name, None, "empty")
        return None

    def supports(self, action: Action) -> bool:
        return True

    def disconnect(self, ap: ApInfo, action: Action) -> None:
        name = _ifname(ap.ap_id)
        if self._host().link(name) is None:
            if name in self._holding_links():
                return  # already detached
            raise HardwareError(f"{ap.ap_id}: {name} is not present")
        try:
            ensure_netns(self.holding)
            self._host().move_link(name, self.holding)
        except (NetlinkError, NetnsError) as e:
            raise HardwareError(f"{ap.ap_id}: {e}") from e

    def connect(self, ap: ApInfo, action: Action) -> None:
        name = _ifname(ap.ap_id)
        try:
            if self._host().link(name) is None:
                if name not in self._holding_links():
                    raise HardwareError(f"{ap.ap_id}: receptacle is empty ({name} is not present)")
                self._host().pull_link(name, self.holding)
            # "RCM only performs plumbing": the link is up; consumers configure it.
            self._host().set_link_up(name, True)
        except NetlinkError as e:
            raise HardwareError(f"{ap.ap_id}: {e}") from e

    def detached(self, ap_id: str) -> bool:
        name = _ifname(ap_id)
        return self._host().link(name) is None


def _nics(links: Iterable[Link]) -> dict[str, Link]:
    """Links by name, loopback left out (and any name rcm could not spell as
    ``net:<ifname>``: the kernel's white-space rule is narrower than ours)."""
    return {link.name: link for link in links if link.name != "lo" and valid_ifname(link.name)}


def _ifname(ap_id: str) -> str:
    parsed = NetApId.parse(ap_id)
    if parsed is None:
        raise HardwareError(f"{ap_id}: not a {PREFIX}:<ifname> attachment point")
    return parsed.ifname
