"""The CPU handler's hooks, over ``cpu/<N>`` and ``memory/<N>``."""

from __future__ import annotations

import os

from rcm_hw.roots import UsesRoots

from rcm import hookimpl
from rcm.context import HandlerContext
from rcm.model import Impact, Veto

CPUS = "devices/system/cpu"
MEMORY = "devices/system/memory"
MAX_NAMED = 5
"""Pinned processes named in a warning; the rest are counted."""


def parse_cpu_list(text: str) -> set[int]:
    """``0-3,8`` → {0, 1, 2, 3, 8}; anything unreadable → empty."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            cpus.update(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            return set()
    return cpus


def _number(resource: str, kind: str) -> int | None:
    if not resource.startswith(kind + "/"):
        return None
    tail = resource[len(kind) + 1 :]
    return int(tail) if tail.isdigit() else None


class CpuPlugin(UsesRoots):
    @hookimpl
    def rcm_configure(self, ctx: HandlerContext) -> str:
        return f"processes from {self.configure_roots(ctx).proc}"

    @hookimpl
    def rcm_register(self, ctx: HandlerContext) -> list[str]:
        return ["cpu/*", "memory/*"]

    # -- what the system says ------------------------------------------------------
    def _online_cpus(self) -> set[int]:
        out = set()
        for name in self.sysfs.listdir(CPUS):
            if name.startswith("cpu") and name[3:].isdigit():
                if self.sysfs.read(f"{CPUS}/{name}/online", "1") != "0":
                    out.add(int(name[3:]))
        return out

    def pinned_to(self, cpu: int) -> list[tuple[int, str]]:
        """(pid, name) of every process whose only allowed CPU is ``cpu``."""
        assert self.roots is not None
        found = []
        try:
            pids = sorted(int(p) for p in os.listdir(self.roots.proc) if p.isdigit())
        except OSError:
            return []
        for pid in pids:
            try:
                status = (self.roots.proc / str(pid) / "status").read_text()
            except OSError:
                continue  # gone meanwhile
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            allowed = parse_cpu_list(fields.get("Cpus_allowed_list", ""))
            if allowed == {cpu}:
                found.append((pid, fields.get("Name", "?").strip()))
        return found

    # -- hooks -------------------------------------------------------------------
    @hookimpl
    def rcm_get_info(self, ctx: HandlerContext, resource: str) -> str | None:
        cpu = _number(resource, "cpu")
        if cpu is not None:
            pinned = self.pinned_to(cpu)
            online = "online" if cpu in self._online_cpus() else "offline"
            tail = f", {len(pinned)} process(es) pinned to it alone" if pinned else ""
            return f"cpu {cpu}: {online}{tail}"
        block = _number(resource, "memory")
        if block is not None:
            removable = self.sysfs.read(f"{MEMORY}/memory{block}/removable")
            if removable == "0":
                return f"memory block {block}: in use by the kernel (not removable)"
        return None

    @hookimpl
    def rcm_request_offline(
        self, ctx: HandlerContext, resource: str, query: bool, force: bool
    ) -> Veto | None:
        if not query:
            return None
        cpu = _number(resource, "cpu")
        if cpu is not None:
            online = self._online_cpus()
            if cpu in online and not online - {cpu}:
                return Veto(f"cpu {cpu} is the last online CPU", Impact.SYSTEM)
            pinned = self.pinned_to(cpu)
            if pinned:
                names = ", ".join(f"{pid} ({name})" for pid, name in pinned[:MAX_NAMED])
                more = f" and {len(pinned) - MAX_NAMED} more" if len(pinned) > MAX_NAMED else ""
                return Veto(
                    f"cpu {cpu}: processes pinned to it alone: {names}{more}"
                    " (the kernel will move them to other CPUs)",
                    Impact.WARNING,
                )
            return None
        block = _number(resource, "memory")
        if block is not None:
            if self.sysfs.read(f"{MEMORY}/memory{block}/removable") == "0":
                return Veto(
                    f"memory block {block} is in use by the kernel (not removable)",
                    Impact.SYSTEM,
                )
        return None


plugin = CpuPlugin()
