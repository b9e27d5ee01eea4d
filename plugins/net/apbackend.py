"""The ``net:<ifname>`` attachment points.

Receptacle = the host's network namespace.  A NIC in the host is connected and
configured; one in the holding namespace is disconnected and unconfigured;
one that has an interface file in $RCM_CONFIG_DIR/interfaces but is nowhere
is an empty receptacle.  Every answer is read from the kernel when asked.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rcm_netkit.netlink import Link, Netlink, NetlinkError
from rcm_netkit.netns import NetnsError, ensure_netns, netns_exists

from rcm.errors import HardwareError
from rcm.model import Action, ApInfo, Condition, Occupant, Receptacle

PREFIX = "net"


def condition_of(link: Link) -> Condition:
    """ok: up with carrier; failed: up without carrier; unknown: admin down."""
    if not link.up:
        return Condition.UNKNOWN
    return Condition.OK if link.carrier else Condition.FAILED


class NetApBackend:
    prefix = PREFIX

    def __init__(self, holding: str, config_dir: Path) -> None:
        self.holding = holding
        self.config_dir = config_dir
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
                return {link.name: link for link in nl.links() if link.name != "lo"}
        except NetlinkError:
            return {}

    def _configured_names(self) -> list[str]:
        folder = self.config_dir / "interfaces"
        try:
            return sorted(p.stem for p in folder.glob("*.toml"))
        except OSError:
            return []

    @staticmethod
    def _ap(name: str, link: Link | None, where: str) -> ApInfo:
        resources = (f"net/{name}",)
        if where == "host" and link is not None:
            return ApInfo(
                f"{PREFIX}:{name}",
                link.kind or "ethernet",
                Receptacle.CONNECTED,
                Occupant.CONFIGURED,
                condition_of(link),
                f"mac {link.mac}",
                resources,
            )
        if where == "holding" and link is not None:
            return ApInfo(
                f"{PREFIX}:{name}",
                link.kind or "ethernet",
                Receptacle.DISCONNECTED,
                Occupant.UNCONFIGURED,
                Condition.UNKNOWN,
                f"mac {link.mac}, detached (holding namespace)",
                resources,
            )
        return ApInfo(
            f"{PREFIX}:{name}",
            "unknown",
            Receptacle.EMPTY,
            Occupant.UNCONFIGURED,
            Condition.UNKNOWN,
            "configured but not present",
            resources,
        )

    def list(self) -> list[ApInfo]:
        host = {link.name: link for link in self._host().links() if link.name != "lo"}
        holding = self._holding_links()
        names = sorted(set(host) | set(holding) | set(self._configured_names()))
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
        prefix, _, name = ap_id.partition(":")
        if prefix != PREFIX or not name or name == "lo":
            return None
        link = self._host().link(name)
        if link is not None:
            return self._ap(name, link, "host")
        held = self._holding_links().get(name)
        if held is not None:
            return self._ap(name, held, "holding")
        if name in self._configured_names():
            return self._ap(name, None, "empty")
        return None

    def supports(self, action: Action) -> bool:
        return True

    def disconnect(self, ap: ApInfo, action: Action) -> None:
        name = ap.ap_id.partition(":")[2]
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
        name = ap.ap_id.partition(":")[2]
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
        name = ap_id.partition(":")[2]
        return self._host().link(name) is None
