"""The network plugin's hooks: ap backend, uevent mapping, link monitor.

Configured like any third-party plugin, in its own section of rcm.toml::

    [plugins.net]
    holding = "rcm-holding"   # the namespace detached net: NICs wait in
"""

from __future__ import annotations

import re

from rcm_netkit.linkmonitor import LinkMonitor
from rcm_netkit.names import NetResource, valid_ifname

from rcm import hookimpl
from rcm.context import HandlerContext
from rcm.errors import ConfigError
from rcm.model import Event

from .apbackend import NetApBackend

DEFAULT_HOLDING = "rcm-holding"
KEYS = ("holding",)
_NS_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _resource(ifname: str) -> str | None:
    """``net/<ifname>`` for a NIC udev names, or None (loopback, not a name)."""
    if ifname == "lo" or not valid_ifname(ifname):
        return None
    return str(NetResource(ifname))


class NetPlugin:
    def __init__(self) -> None:
        self.holding = DEFAULT_HOLDING

    @hookimpl
    def rcm_configure(self, ctx: HandlerContext) -> str:
        section = ctx.plugin_settings(KEYS)
        path = ctx.config_dir / "rcm.toml"
        where = f"plugins.{ctx.name}"
        holding = section.get("holding", DEFAULT_HOLDING)
        if not isinstance(holding, str) or not _NS_NAME.match(holding) or holding in (".", ".."):
            raise ConfigError(
                path,
                f"{where}.holding",
                f"{holding!r} is not a namespace name (letters, digits, '_', '-', '.'; 1-64)",
            )
        self.holding = holding
        return f"holding namespace {holding}"  # rcmd --check-config names the plugin

    @hookimpl
    def rcm_ap_backends(self, ctx: HandlerContext) -> list[NetApBackend]:
        # The backend keeps the context to ask, on each listing, which NICs
        # handlers registered by name (the empty receptacles).
        # Its handler store remembers NICs handed to a named namespace (-o netns=).
        return [NetApBackend(self.holding, ctx.registered_resources, lambda: ctx.store)]

    @hookimpl
    def rcm_event_sources(self, ctx: HandlerContext) -> list[LinkMonitor]:
        return [LinkMonitor()]

    @hookimpl
    def rcm_notify_event(self, ctx: HandlerContext, event: Event) -> None:
        """udev net uevents become resource events: a NIC is a ``net/<ifname>``.

        ``move`` is a rename (DEVPATH_OLD names the old one): the old name is
        gone and the new one has appeared.
        """
        if event.source != "udev" or event.get("SUBSYSTEM") != "net":
            return
        name = event.get("INTERFACE")
        resource = _resource(name)
        if resource is None:
            return
        if event.action == "remove":
            ctx.resource_removed(resource)
        elif event.action == "add":
            ctx.resource_added(resource)
        elif event.action == "move":
            old = event.get("DEVPATH_OLD").rsplit("/", 1)[-1]
            old_resource = _resource(old) if old != name else None
            if old_resource is not None:
                ctx.resource_removed(old_resource)
            ctx.resource_added(resource)


plugin = NetPlugin()
