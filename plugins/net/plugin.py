"""The network plugin's hooks: ap backend, uevent mapping, link monitor."""

from __future__ import annotations

import re

from rcm_netkit.linkmonitor import LinkMonitor

from rcm import hookimpl
from rcm.context import HandlerContext
from rcm.errors import ConfigError
from rcm.model import Event

from .apbackend import NetApBackend

DEFAULT_HOLDING = "rcm-holding"
_NS_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class NetPlugin:
    def __init__(self) -> None:
        self.holding = DEFAULT_HOLDING

    @hookimpl
    def rcm_configure(self, ctx: HandlerContext) -> None:
        table = ctx.settings.get("netns", {})
        path = ctx.config_dir / "rcm.toml"
        for key in table:
            if key != "holding":
                raise ConfigError(path, f"netns.{key}", "unknown key (known: holding)")
        holding = table.get("holding", DEFAULT_HOLDING)
        if not isinstance(holding, str) or not _NS_NAME.match(holding) or holding in (".", ".."):
            raise ConfigError(
                path,
                "netns.holding",
                f"{holding!r} is not a namespace name (letters, digits, '_', '-', '.'; 1-64)",
            )
        self.holding = holding

    @hookimpl
    def rcm_ap_backends(self, ctx: HandlerContext) -> list[NetApBackend]:
        return [NetApBackend(self.holding, ctx.config_dir)]

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
        if not name or name == "lo":
            return
        if event.action == "remove":
            ctx.resource_removed(f"net/{name}")
        elif event.action == "add":
            ctx.resource_added(f"net/{name}")
        elif event.action == "move":
            old = event.get("DEVPATH_OLD").rsplit("/", 1)[-1]
            if old and old != name:
                ctx.resource_removed(f"net/{old}")
            ctx.resource_added(f"net/{name}")


plugin = NetPlugin()
