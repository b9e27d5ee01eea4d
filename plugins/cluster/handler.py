"""The cluster-ring handler's hooks.

Configured in its own section of rcm.toml (every key optional)::

    [plugins.cluster]
    config = "/etc/corosync/corosync.conf"   # corosync's configuration
    pid_file = "/run/corosync.pid"           # how "running" is told (running = "auto")
    running = "auto"                         # or true / false: say so instead of looking

It registers every NIC (``net/*``) and answers for ``net/<ifname>``, which is
also what a PCI NIC's ap carries.  corosync.conf is read at start (a file that
does not parse stops the start, one line naming the file and line) and again
whenever it changes; an absent file means this machine is no cluster node.
Nothing is resolved: a ring address that is a host name is never looked up
(rcmd does no DNS), so the handler cannot tell which NIC carries it.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcm import hookimpl
from rcm.context import HandlerContext
from rcm.errors import ConfigError
from rcm.model import Veto

if TYPE_CHECKING:
    # Imported when first needed: on a machine with no corosync.conf (most),
    # every engine start (cfgadm's too) pays for this module alone.
    from .corosync import Node
    from .rings import IP, Nic

DEFAULT_CONFIG = Path("/etc/corosync/corosync.conf")
DEFAULT_PID_FILE = Path("/run/corosync.pid")
KEYS = ("config", "pid_file", "running")
RESOURCE_PREFIX = "net/"


def _kernel_nics() -> dict[str, Nic]:
    """Every NIC of rcmd's network namespace, read now over netlink."""
    from .rings import Nic

    nl = _netlink()
    links = nl.links()
    ips: dict[str, set[IP]] = {}
    for addr in nl.addresses(links=links):
        ips.setdefault(addr.ifname, set()).add(ipaddress.ip_address(addr.address))
    return {
        link.name: Nic(link.name, link.up and link.carrier, frozenset(ips.get(link.name, ())))
        for link in links
        if link.name != "lo"
    }


_local = threading.local()


def _netlink() -> Any:
    """One Netlink per thread (pyroute2 objects stay on the thread that made them)."""
    nl = getattr(_local, "nl", None)
    if nl is None:
        from rcm_netkit.netlink import Netlink  # pyroute2 on first use only

        nl = _local.nl = Netlink()
    return nl


class ClusterHandler:
    def __init__(self, observe: Callable[[], Mapping[str, Nic]] = _kernel_nics) -> None:
        self.observe = observe
        """What the NICs are now; tests give a stand-in, rcmd reads the kernel."""
        self.config = DEFAULT_CONFIG
        self.pid_file = DEFAULT_PID_FILE
        self.running: bool | None = None  # None: look (pid file, process)
        self._read: tuple[tuple[int, int] | None, list[Node]] = (None, [])

    # -- configuration -----------------------------------------------------------
    @hookimpl
    def rcm_configure(self, ctx: HandlerContext) -> str:
        section = ctx.plugin_settings(KEYS)
        path = ctx.config_dir / "rcm.toml"
        where = f"plugins.{ctx.name}"
        for key in ("config", "pid_file"):
            value = section.get(key)
            if value is not None and (not isinstance(value, str) or not value.startswith("/")):
                raise ConfigError(path, f"{where}.{key}", "must be an absolute path")
        running = section.get("running", "auto")
        if running not in ("auto", True, False):
            raise ConfigError(path, f"{where}.running", 'must be "auto", true or false')
        self.config = Path(section.get("config", DEFAULT_CONFIG))
        self.pid_file = Path(section.get("pid_file", DEFAULT_PID_FILE))
        self.running = None if running == "auto" else running
        self._read = (None, [])
        nodes = self._nodes()  # a corosync.conf that does not parse stops the start
        if not self.config.exists():
            return f"no corosync configuration ({self.config}): not a cluster node"
        mode = {None: f"if {self.pid_file} or a corosync process says so", True: "yes"}
        running = mode.get(self.running, "no")
        plural = "" if len(nodes) == 1 else "s"
        return f"{len(nodes)} corosync node{plural} in {self.config}; running: {running}"

    def _nodes(self) -> list[Node]:
        """The nodelist, read again only when the file changed."""
        try:
            st = self.config.stat()
        except FileNotFoundError:
            self._read = (None, [])
            return []
        except OSError as e:
            raise ConfigError(self.config, "", f"cannot read: {e.strerror}") from None
        stamp = (st.st_mtime_ns, st.st_size)
        if self._read[0] != stamp:
            from .corosync import load

            self._read = (stamp, load(self.config))
        return self._read[1]

    def _is_running(self) -> bool:
        if self.running is not None:
            return self.running
        from .running import corosync_pid

        return corosync_pid(self.pid_file) is not None

    def _node_and_nics(self) -> tuple[Node, Mapping[str, Nic]] | None:
        nodes = self._nodes()
        if not nodes:
            return None
        from .rings import local_node

        nics = self.observe()
        node = local_node(nodes, nics, socket.gethostname())
        return None if node is None else (node, nics)

    # -- hooks ---------------------------------------------------------------------
    @hookimpl
    def rcm_register(self, ctx: HandlerContext) -> list[str]:
        # Every NIC: which one carries a ring changes with its addresses.
        return [RESOURCE_PREFIX + "*"]

    @hookimpl
    def rcm_get_info(self, ctx: HandlerContext, resource: str) -> str | None:
        ifname = resource.removeprefix(RESOURCE_PREFIX)
        if not resource.startswith(RESOURCE_PREFIX) or "/" in ifname:
            return None
        found = self._node_and_nics()
        if found is None:
            return None
        node, nics = found
        from .rings import rings_on

        here = rings_on(ifname, node, nics)
        if not here:
            return None
        state = "running" if self._is_running() else "not running"
        rings = ", ".join(str(r) for r in here)
        return f"{ifname}: carries corosync {rings} of node {node.name or node.nodeid} ({state})"

    @hookimpl
    def rcm_request_offline(
        self, ctx: HandlerContext, resource: str, query: bool, force: bool
    ) -> Veto | None:
        ifname = resource.removeprefix(RESOURCE_PREFIX)
        if not query or not resource.startswith(RESOURCE_PREFIX) or "/" in ifname:
            return None  # nothing to release: corosync sees the link go itself
        if not self._nodes() or not self._is_running():
            return None
        found = self._node_and_nics()
        if found is None:
            return None
        node, nics = found
        from .rings import judge

        return judge(ifname, node, nics)
