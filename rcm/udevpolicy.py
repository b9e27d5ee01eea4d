"""The admin's policy, written in udev's language and read from its database.

A udev rule may set, on any device:

- ``ENV{RCM_IGNORE}="1"``: rcm neither lists the device's attachment point
  nor acts on it, and drops its uevents;
- ``ENV{RCM_PROTECT}="data"`` or ``"system"`` (with ``ENV{RCM_REASON}="…"``):
  a detach of the device, or of anything it sits under in the device tree
  (the PCI device a protected NIC is on), is vetoed at that level with that
  reason, as a handler's veto would be (``data``: ``-f`` overrides it;
  ``system``: nothing does).

The engine applies it itself (not a plugin that could be uninstalled): a
policy the admin wrote must hold whatever handlers are installed.  Resources
are mapped to sysfs devices by name: ``net/<ifname>`` is
``<sysfs>/class/net/<ifname>``, a device path ``/devices/…`` is
``<sysfs>/devices/…``; other resources have no udev device and no policy.

The folders come from rcm.toml: ``[udev] database`` (default
``/run/udev/data``) and ``[udev] sysfs`` (default ``/sys``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from rcm.model import Impact, Usage, Veto
from rcm.udevdb import DEFAULT_DATABASE, DEFAULT_SYSFS, UdevDatabase, parse_db

log = logging.getLogger("rcm.udevpolicy")

HANDLER = "udev"
"""The name the policy's vetoes and usage lines carry (the Handler column)."""
LEVELS = {"data": Impact.DATA, "system": Impact.SYSTEM}


class Protection:
    """One protected device: where, at which level, why."""

    __slots__ = ("device", "impact", "reason", "ident")

    def __init__(self, device: Path, impact: Impact, reason: str, ident: str) -> None:
        self.device = device
        self.impact = impact
        self.reason = reason
        self.ident = ident


def _protection(device: Path, ident: str, props: dict[str, str]) -> Protection | None:
    level = props.get("RCM_PROTECT", "").strip().lower()
    if not level:
        return None
    reason = props.get("RCM_REASON", "").strip() or "protected by a udev rule"
    impact = LEVELS.get(level)
    if impact is None:
        # A policy we cannot read must not protect less than the admin meant.
        impact = Impact.SYSTEM
        reason += f"; RCM_PROTECT={level!r} is not data or system: read as system"
    return Protection(device, impact, reason, ident)


class UdevPolicy:
    def __init__(self, db: UdevDatabase) -> None:
        self.db = db

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> UdevPolicy:
        udev = settings.get("udev", {})
        return cls(
            UdevDatabase(
                Path(udev.get("database", DEFAULT_DATABASE)), Path(udev.get("sysfs", DEFAULT_SYSFS))
            )
        )

    def device_of(self, resource: str) -> Path | None:
        """The sysfs device folder (real path) a resource names, if it exists now."""
        sysfs = self.db.sysfs
        if resource.startswith("net/"):
            path = sysfs / "class" / "net" / resource[4:]
        elif resource.startswith("/devices/"):
            path = sysfs / resource.lstrip("/")
        else:
            return None
        if ".." in path.parts or not path.exists():
            return None
        return Path(os.path.realpath(path))

    def active(self) -> bool:
        """Whether there is a udev database to read at all (none without
        udevd): one stat instead of every device's lookups."""
        return self.db.database.is_dir()

    def ignored(self, resource: str) -> bool:
        """RCM_IGNORE=1 on the resource's device.  Asked for every ap of a
        listing, so a NIC's database file is found from its ifindex alone
        (a net device has no device node): two reads, no path resolution."""
        if resource.startswith("net/"):
            name = resource[4:]
            if not name or "/" in name or name in (".", ".."):
                return False
            try:
                ifindex = (self.db.sysfs / "class" / "net" / name / "ifindex").read_text()
            except OSError:
                return False
            path = self.db.database / f"n{ifindex.strip()}"
            try:
                props = parse_db(path.read_text(errors="replace"))
            except OSError:
                return False
        else:
            device = self.device_of(resource)
            if device is None:
                return False
            props = self.db.properties(device)
        return props.get("RCM_IGNORE", "").strip() == "1"

    def protected_entries(self) -> list[tuple[str, dict[str, str]]]:
        """Every database entry that sets RCM_PROTECT (read once per question)."""
        return [(i, p) for i, p in self.db.entries() if "RCM_PROTECT" in p]

    def protections(
        self, resource: str, entries: list[tuple[str, dict[str, str]]] | None = None
    ) -> list[Protection]:
        """The protected devices a detach of ``resource`` would take away: the
        device itself and every device under it in sysfs."""
        if entries is None:
            entries = self.protected_entries()
        if not entries:  # the usual case: no protection anywhere, nothing to resolve
            return []
        device = self.device_of(resource)
        if device is None:
            return []
        found: list[Protection] = []
        own = self.db.file_of(device)
        for ident, props in entries:
            if own is not None and ident == own.name:
                where: Path | None = device
            else:
                where = self.db.device_of_id(ident)
            if where is None or not (where == device or device in where.parents):
                continue
            protection = _protection(where, ident, props)
            if protection is not None:
                found.append(protection)
        return found

    def vetoes(self, resource: str) -> list[Veto]:
        vetoes: list[Veto] = []
        found = self.protections(resource)
        device = self.device_of(resource) if found else None
        for p in found:
            under = "" if p.device == device else f" ({p.device.name} is under it)"
            vetoes.append(Veto(f"{p.reason}{under}", p.impact, resource, HANDLER))
        return vetoes

    def usage(
        self, resource: str, entries: list[tuple[str, dict[str, str]]] | None = None
    ) -> list[Usage]:
        found = self.protections(resource, entries)
        device = self.device_of(resource) if found else None
        out = []
        for p in found:
            what = resource if p.device == device else p.device.name
            out.append(
                Usage(
                    resource,
                    f"{what}: protected by udev rule (RCM_PROTECT={p.impact.value}): {p.reason}",
                    HANDLER,
                )
            )
        return out
