"""The storage handler's hooks.

Resources are ``block/<name>`` (``block/sda``, ``block/sda1``, ``block/dm-0``,
``block/md0``); the ap classes name a controller's disks, and this handler
names what is built on each (``rcm_dependents``: partitions, then holders),
so the coordinator asks about all of it, deepest first.
"""

from __future__ import annotations

from rcm_hw.roots import UsesRoots

from rcm import hookimpl
from rcm.context import HandlerContext
from rcm.model import Impact, Veto

from .mounts import SYSTEM_MOUNTS, Mount, read_mounts, read_swaps

BLOCK = "class/block"


def _name(resource: str) -> str | None:
    if not resource.startswith("block/"):
        return None
    name = resource[6:]
    return name if name and "/" not in name and name not in (".", "..") else None


class StoragePlugin(UsesRoots):
    @hookimpl
    def rcm_configure(self, ctx: HandlerContext) -> str:
        roots = self.configure_roots(ctx)
        return f"mounts from {roots.mountinfo}, swap from {roots.swaps}"

    @hookimpl
    def rcm_register(self, ctx: HandlerContext) -> list[str]:
        return ["block/*"]

    # -- the graph -------------------------------------------------------------
    def _partitions(self, name: str) -> list[str]:
        return [
            p
            for p in self.sysfs.listdir(f"{BLOCK}/{name}")
            if self.sysfs.exists(f"{BLOCK}/{name}/{p}/partition")
        ]

    @hookimpl
    def rcm_dependents(self, ctx: HandlerContext, resource: str) -> list[str] | None:
        name = _name(resource)
        if name is None or not self.sysfs.exists(f"{BLOCK}/{name}"):
            return None
        holders = self.sysfs.listdir(f"{BLOCK}/{name}/holders")
        return [f"block/{n}" for n in (*self._partitions(name), *holders)]

    # -- what is on a device -----------------------------------------------------
    def _label(self, name: str) -> str:
        dm = self.sysfs.read(f"{BLOCK}/{name}/dm/name")
        return f"{name} ({dm})" if dm else name

    def _mounts(self, name: str) -> list[Mount]:
        assert self.roots is not None
        dev = self.sysfs.read(f"{BLOCK}/{name}/dev")
        if not dev:
            return []
        return [m for m in read_mounts(self.roots.mountinfo) if m.dev == dev]

    def _swap(self, name: str) -> bool:
        assert self.roots is not None
        names = {f"/dev/{name}"}
        dm = self.sysfs.read(f"{BLOCK}/{name}/dm/name")
        if dm:
            names.add(f"/dev/mapper/{dm}")
        return any(s in names for s in read_swaps(self.roots.swaps))

    @hookimpl
    def rcm_get_info(self, ctx: HandlerContext, resource: str) -> str | None:
        name = _name(resource)
        if name is None:
            return None
        parts = [f"{m.point} ({m.fstype})" for m in self._mounts(name)]
        what = f"{self._label(name)}: mounted on {', '.join(parts)}" if parts else ""
        if self._swap(name):
            what = f"{what}; active swap" if what else f"{self._label(name)}: active swap"
        return what or None

    @hookimpl
    def rcm_request_offline(
        self, ctx: HandlerContext, resource: str, query: bool, force: bool
    ) -> Veto | None:
        """Vetoes only: nothing is ever unmounted (``-f`` or not)."""
        name = _name(resource)
        if name is None or not query:
            return None
        label = self._label(name)
        mounts = self._mounts(name)
        system = [m.point for m in mounts if m.point in SYSTEM_MOUNTS]
        if system:
            return Veto(
                f"{label}: mounted filesystem {', '.join(system)}: the system runs from it",
                Impact.SYSTEM,
            )
        if self._swap(name):
            return Veto(f"{label}: active swap", Impact.SYSTEM)
        if mounts:
            points = ", ".join(m.point for m in mounts)
            return Veto(f"{label}: mounted filesystem {points}", Impact.DATA)
        return None


plugin = StoragePlugin()
