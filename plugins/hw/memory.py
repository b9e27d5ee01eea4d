"""``mem:memory<N>``: memory blocks (/sys/devices/system/memory/memory<N>).

unconfigure writes ``state`` offline, configure online.  ``removable`` and
``valid_zones`` are shown; whether a block may go is the CPU handler's
question (rcm_cpu vetoes a block that is not removable).  The resource is
``memory/<N>``.
"""

from __future__ import annotations

import re

from rcm.errors import HardwareError
from rcm.model import Action, ApInfo, Condition, Occupant, Receptacle

from .apclass import SysfsApClass

MEMORY = "devices/system/memory"
_BLOCK = re.compile(r"^memory(\d+)$")


class MemoryClass(SysfsApClass):
    prefix = "mem"
    description = "memory blocks"
    actions = frozenset({Action.CONFIGURE, Action.UNCONFIGURE})
    help = (
        "mem:memory<N> (memory blocks, /sys/devices/system/memory):\n"
        "  -c unconfigure   offline the block (state=offline)\n"
        "  -c configure     online it (state=online)\n"
        "  a block that is not removable (in use by the kernel) is refused"
    )

    def _block_size(self) -> int:
        try:
            return int(self.sysfs.read(f"{MEMORY}/block_size_bytes") or "0", 16)
        except ValueError:
            return 0

    def _ap(self, name: str, zones: bool = False, size: int | None = None) -> ApInfo:
        """``zones``: also read ``removable`` and ``valid_zones`` (the kernel
        scans the block's pages to answer them: read for one named ap, not
        for a listing of hundreds; the CPU handler reads ``removable`` when
        it is asked about the block)."""
        rel = f"{MEMORY}/{name}"
        state = self.sysfs.read(f"{rel}/state", "unknown")
        number = int(name[6:])
        size = self._block_size() if size is None else size
        removable = self.sysfs.read(f"{rel}/removable") if zones else None
        valid_zones = self.sysfs.read(f"{rel}/valid_zones") if zones else None
        parts = []
        if size:
            parts.append(f"{size >> 20} MiB at {number * size:#x}")
        if removable is not None:
            parts.append("removable" if removable == "1" else "not removable")
        if valid_zones:
            parts.append(f"zones {valid_zones}")
        return ApInfo(
            self.ap_id(name),
            "memory",
            Receptacle.CONNECTED,
            Occupant.CONFIGURED if state == "online" else Occupant.UNCONFIGURED,
            Condition.OK if state == "online" else Condition.UNKNOWN,
            ", ".join(parts),
            (f"memory/{number}",),
            phys_id=f"/{rel}",
        )

    def _names(self) -> list[str]:
        names = [n for n in self.sysfs.listdir(MEMORY) if _BLOCK.match(n)]
        return sorted(names, key=lambda n: int(n[6:]))

    def list(self) -> list[ApInfo]:
        size = self._block_size()  # one read for hundreds of blocks
        return [self._ap(n, size=size) for n in self._names()]

    def get(self, ap_id: str) -> ApInfo | None:
        name = self.name_of(ap_id)
        if name is None or not _BLOCK.match(name) or not self.sysfs.exists(f"{MEMORY}/{name}"):
            return None
        return self._ap(name, zones=True)

    def _set(self, ap: ApInfo, state: str) -> None:
        name = self.name_of(ap.ap_id) or ""
        self.write(ap.ap_id, f"{MEMORY}/{name}/state", state)
        if self.sysfs.read(f"{MEMORY}/{name}/state") != state:
            raise HardwareError(f"{ap.ap_id}: state did not become {state}")

    def disconnect(self, ap: ApInfo, action: Action) -> None:
        self._set(ap, "offline")

    def connect(self, ap: ApInfo, action: Action) -> None:
        self._set(ap, "online")

    def detached(self, ap_id: str) -> bool:
        return self.sysfs.read(f"{MEMORY}/{self.name_of(ap_id) or ''}/state") == "offline"
