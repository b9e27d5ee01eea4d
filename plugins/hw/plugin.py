"""The hw plugin's hooks: the sysfs ap classes, the graph below a NIC, and
keeping a NIC's bridge membership across its absence.

Configured in rcm.toml's ``[plugins.hw]`` (see :mod:`rcm_hw.roots`)."""

from __future__ import annotations

import threading
from typing import Any

from rcm import hookimpl
from rcm.context import HandlerContext
from rcm.model import Event, Veto

from .apclass import Memory, SysfsApClass
from .cpus import CpuClass
from .memory import MemoryClass
from .pcidev import PciDeviceClass
from .pcislot import PciSlotClass
from .roots import UsesRoots
from .scsi import ScsiClass
from .stack import bridge_of, uppers
from .usb import UsbClass

CLASSES = (PciSlotClass, PciDeviceClass, UsbClass, CpuClass, MemoryClass, ScsiClass)


def _ifname(resource: str) -> str | None:
    if not resource.startswith("net/"):
        return None
    name = resource[4:]
    return name if name and "/" not in name and name not in (".", "..") else None


class HwPlugin(UsesRoots):
    def __init__(self) -> None:
        self._local = threading.local()

    def _netlink(self) -> Any:
        nl = getattr(self._local, "nl", None)
        if nl is None:
            from rcm_netkit.netlink import Netlink

            nl = self._local.nl = Netlink()
        return nl

    @hookimpl
    def rcm_configure(self, ctx: HandlerContext) -> str:
        return self.configure_roots(ctx).describe()

    @hookimpl
    def rcm_ap_backends(self, ctx: HandlerContext) -> list[SysfsApClass]:
        # The classes remember removed devices in this plugin's store; the
        # context is kept for that (its store is read on each call).
        memory = Memory(lambda: ctx.store)
        return [cls(self.sysfs, memory) for cls in CLASSES]

    @hookimpl
    def rcm_notify_event(self, ctx: HandlerContext, event: Event) -> None:
        """udev's device uevents become resource events, as the net plugin
        does for NICs: a disk is ``block/<name>``, a PCI, USB or SCSI device
        its device path.  A ``remove`` no operation announced is a surprise
        removal for the consumers."""
        if event.source != "udev" or event.action not in ("add", "remove"):
            return
        subsystem = event.get("SUBSYSTEM")
        if subsystem == "block":
            name = (
                event.get("DEVNAME").rsplit("/", 1)[-1] or event.get("DEVPATH").rsplit("/", 1)[-1]
            )
            resource = f"block/{name}" if name else ""
        elif subsystem in ("pci", "usb", "scsi"):
            resource = event.get("DEVPATH")
        else:
            return
        if not resource:
            return
        if event.action == "remove":
            ctx.resource_removed(resource)
        else:
            ctx.resource_added(resource)

    @hookimpl
    def rcm_register(self, ctx: HandlerContext) -> list[str]:
        return ["net/*"]

    @hookimpl
    def rcm_dependents(self, ctx: HandlerContext, resource: str) -> list[str] | None:
        name = _ifname(resource)
        if name is None:
            return None
        return [f"net/{u}" for u in uppers(self.sysfs, name)]

    @hookimpl
    def rcm_get_info(self, ctx: HandlerContext, resource: str) -> str | None:
        name = _ifname(resource)
        if name is None:
            return None
        bridge = bridge_of(self.sysfs, name)
        if bridge is not None:
            return f"{name}: port of bridge {bridge}"
        record = ctx.store.get(f"port:{name}")
        if record:
            return f"{name}: returns to bridge {record} when it is back"
        return None

    @hookimpl
    def rcm_request_offline(
        self, ctx: HandlerContext, resource: str, query: bool, force: bool
    ) -> Veto | None:
        name = _ifname(resource)
        if name is None or query:
            return None
        bridge = bridge_of(self.sysfs, name)
        if bridge is not None:
            ctx.store.set(f"port:{name}", bridge)  # durable before acting
            self._netlink().set_master(name, None)
            ctx.message(f"{name}: left bridge {bridge} (it returns with {name})")
        return None

    @hookimpl
    def rcm_notify_online(self, ctx: HandlerContext, resource: str) -> None:
        name = _ifname(resource)
        if name is None:
            return
        bridge = ctx.store.get(f"port:{name}")
        if not bridge:
            return
        nl = self._netlink()
        if nl.link(name) is None or nl.link(bridge) is None:
            return  # not back yet: the record stays for when it is
        if bridge_of(self.sysfs, name) != bridge:
            nl.set_master(name, bridge)
            nl.set_link_up(name, True)
            ctx.message(f"{name}: back in bridge {bridge}")
        ctx.store.delete(f"port:{name}")


plugin = HwPlugin()
