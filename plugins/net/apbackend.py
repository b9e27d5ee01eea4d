"""The ``net:<ifname>`` attachment points.

Receptacle = the host's network namespace.  A NIC in the host is connected and
configured; one in the holding namespace is disconnected and unconfigured;
one that some handler registered by name (``net/<ifname>``: the IPMP handler
does for each NIC it has a file for) but is nowhere is an empty receptacle.
Which handler, and why, is not this plugin's business: it asks the engine for
the registered names.  Every answer is read from the kernel when asked.

``-o netns=<name>`` (namespaces as attachment points): ``unconfigure`` or
``disconnect`` hands the NIC to the named namespace (a container's) instead
of the holding one, through the same phases and vetoes; ``configure`` brings
it back (the namespace is remembered, so ``-o`` is not needed again).  The
namespace must exist: a mistyped name is refused before anything is asked,
and never created.  Only the holding namespace is rcm's to create.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from rcm_netkit.names import AP_CLASS, RESOURCE_PREFIX, NetApId, NetResource, valid_ifname
from rcm_netkit.netlink import Link, Netlink, NetlinkError
from rcm_netkit.netns import NetnsError, ensure_netns, netns_exists

from rcm.errors import HardwareError
from rcm.model import Action, ApInfo, Condition, Occupant, Receptacle

PREFIX = AP_CLASS
OPTIONS = ("netns",)
_NS_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
HANDED = "handed:"
"""Handler-store key prefix: ``handed:<ifname>`` -> {"netns", "mac"}, a NIC
handed to a named namespace with ``-o netns=``."""


def parse_options(options: str) -> dict[str, str]:
    """``-o`` as getsubopt(3C) reads it: ``key=value[,key=value]``.
    ValueError names the fault."""
    parsed: dict[str, str] = {}
    for item in options.split(","):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if key not in OPTIONS:
            raise ValueError(f"unknown option {key!r} (the net class takes netns=<name>)")
        if not eq or not value:
            raise ValueError(f"{key}= needs a network namespace name")
        if not _NS_NAME.match(value) or value in (".", ".."):
            raise ValueError(
                f"{value!r} is not a network namespace name (letters, digits, '_', '-', '.')"
            )
        parsed[key] = value
    return parsed


def condition_of(link: Link) -> Condition:
    """ok: up with carrier; failed: up without carrier; unknown: admin down."""
    if not link.up:
        return Condition.UNKNOWN
    return Condition.OK if link.carrier else Condition.FAILED


class NetApBackend:
    prefix = PREFIX

    def __init__(
        self,
        holding: str,
        registered: Callable[[str], Iterable[str]],
        records: Callable[[], Any] | None = None,
    ) -> None:
        """``registered(prefix)``: the resource names handlers registered
        explicitly (the handler context's ``registered_resources``);
        ``records()``: the plugin's handler store (where NICs handed to a
        named namespace are remembered), None for none."""
        self.holding = holding
        self._registered = registered
        self._records = records
        self._local = threading.local()

    # -- NICs handed to a named namespace (-o netns=) ---------------------------
    def _handed(self) -> dict[str, str]:
        """ifname -> the named namespace it was handed to."""
        if self._records is None:
            return {}
        return {
            key[len(HANDED) :]: str(value.get("netns", ""))
            for key, value in self._records().items(HANDED)
            if isinstance(value, dict)
        }

    def _handed_link(self, name: str) -> tuple[str, Link] | None:
        """(namespace, link) of a NIC handed away and still there."""
        netns = self._handed().get(name)
        if not netns or not netns_exists(netns):
            return None
        try:
            with Netlink(netns) as nl:
                link = nl.link(name)
        except NetlinkError:
            return None
        return (netns, link) if link is not None else None

    def check_options(self, action: Action, options: str) -> str | None:
        """``-o``: None if good, else what is wrong (nothing has been asked yet)."""
        try:
            parsed = parse_options(options)
        except ValueError as e:
            return str(e)
        netns = parsed.get("netns")
        if netns is not None and not netns_exists(netns):
            return (
                f"network namespace {netns!r} does not exist"
                " (cfgadm hands a NIC only to an existing namespace; it creates none)"
            )
        return None

    def describe(self, ap: ApInfo, action: Action, options: str = "") -> str:
        """The hardware step in words (cfgadm --dry-run)."""
        name = _ifname(ap.ap_id)
        netns = parse_options(options).get("netns") if options else None
        if action.detaches:
            target = netns or self.holding
            kind = "network namespace" if netns else "the holding network namespace"
            return f"move {name} out of the host into {kind} {target}"
        if ap.receptacle is Receptacle.CONNECTED:
            return f"set {name} up (it is in the host)"
        source = netns or self._source(name)
        return f"bring {name} back into the host from network namespace {source} and set it up"

    def _source(self, name: str) -> str:
        """Where a NIC that is not in the host waits: a named namespace it
        was handed to, else the holding namespace."""
        handed = self._handed_link(name)
        return handed[0] if handed is not None else self.holding

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
    def _ap(name: str, link: Link | None, where: str, netns: str = "") -> ApInfo:
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
                f"mac {link.mac}, detached (holding namespace)"
                if not netns
                else f"mac {link.mac}, in network namespace {netns}",
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
        handed = {
            name: found
            for name in self._handed()
            if name not in host and name not in holding
            if (found := self._handed_link(name)) is not None
        }
        names = sorted(set(host) | set(holding) | set(handed) | self._expected_names())
        out = []
        for name in names:
            if name in host:
                out.append(self._ap(name, host[name], "host"))
            elif name in holding:
                out.append(self._ap(name, holding[name], "holding"))
            elif name in handed:
                netns, link = handed[name]
                out.append(self._ap(name, link, "holding", netns))
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
        handed = self._handed_link(name)
        if handed is not None:
            return self._ap(name, handed[1], "holding", handed[0])
        if name in self._expected_names():
            return self._ap(name, None, "empty")
        return None

    def supports(self, action: Action) -> bool:
        return True

    def disconnect(self, ap: ApInfo, action: Action, options: str = "") -> None:
        name = _ifname(ap.ap_id)
        netns = parse_options(options).get("netns") if options else None
        host = self._host().link(name)
        if host is None:
            if netns is None and name in self._holding_links():
                return  # already detached
            raise HardwareError(f"{ap.ap_id}: {name} is not present")
        try:
            if netns is None or netns == self.holding:
                ensure_netns(self.holding)
                self._host().move_link(name, self.holding)
                return
            if not netns_exists(netns):  # removed since check_options: never created
                raise HardwareError(f"{ap.ap_id}: network namespace {netns!r} does not exist")
            if self._records is not None:  # remembered first, so configure finds it
                self._records().set(f"{HANDED}{name}", {"netns": netns, "mac": host.mac})
            try:
                self._host().move_link(name, netns)
            except NetlinkError:
                if self._records is not None:
                    self._records().delete(f"{HANDED}{name}")
                raise
        except (NetlinkError, NetnsError) as e:
            raise HardwareError(f"{ap.ap_id}: {e}") from e

    def connect(self, ap: ApInfo, action: Action, options: str = "") -> None:
        name = _ifname(ap.ap_id)
        netns = parse_options(options).get("netns") if options else None
        try:
            if self._host().link(name) is None:
                source = netns or self._source(name)
                if source == self.holding and name not in self._holding_links():
                    raise HardwareError(f"{ap.ap_id}: receptacle is empty ({name} is not present)")
                self._host().pull_link(name, source)
            if self._records is not None and name in self._handed():
                self._records().delete(f"{HANDED}{name}")
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
