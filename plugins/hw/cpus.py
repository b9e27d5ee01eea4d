"""``cpu:cpu<N>``: CPUs (/sys/devices/system/cpu/cpu<N>/online).

unconfigure writes ``online`` 0, configure 1.  A CPU without an ``online``
file (usually cpu0) cannot be taken offline by the kernel: cfgadm says so
("Configuration operation not supported").  The resource is ``cpu/<N>``; the
CPU handler (rcm_cpu) vets it.
"""

from __future__ import annotations

import re

from rcm.errors import HardwareError
from rcm.model import Action, ApInfo, Condition, Occupant, Receptacle

from .apclass import SysfsApClass

CPUS = "devices/system/cpu"
_CPU = re.compile(r"^cpu(\d+)$")


class CpuClass(SysfsApClass):
    prefix = "cpu"
    description = "CPUs"
    actions = frozenset({Action.CONFIGURE, Action.UNCONFIGURE})
    help = (
        "cpu:cpu<N> (CPUs, /sys/devices/system/cpu):\n"
        "  -c unconfigure   take the CPU offline (online=0)\n"
        "  -c configure     bring it online (online=1)\n"
        "  a CPU without an online file (often cpu0) cannot be taken offline"
    )

    def _ap(self, name: str) -> ApInfo:
        rel = f"{CPUS}/{name}"
        online_file = self.sysfs.read(f"{rel}/online")
        online = online_file != "0"
        number = name[3:]
        info = f"cpu {number}"
        core = self.sysfs.read(f"{rel}/topology/core_id")
        package = self.sysfs.read(f"{rel}/topology/physical_package_id")
        if core is not None and package is not None:
            info += f", package {package} core {core}"
        if online_file is None:
            info += ", cannot be taken offline (no online file)"
        return ApInfo(
            self.ap_id(name),
            "cpu",
            Receptacle.CONNECTED,
            Occupant.CONFIGURED if online else Occupant.UNCONFIGURED,
            Condition.OK if online else Condition.UNKNOWN,
            info,
            (f"cpu/{number}",),
            phys_id=f"/{rel}",
        )

    def _names(self) -> list[str]:
        names = [n for n in self.sysfs.listdir(CPUS) if _CPU.match(n)]
        return sorted(names, key=lambda n: int(n[3:]))

    def list(self) -> list[ApInfo]:
        return [self._ap(n) for n in self._names()]

    def get(self, ap_id: str) -> ApInfo | None:
        name = self.name_of(ap_id)
        if name is None or not _CPU.match(name) or not self.sysfs.exists(f"{CPUS}/{name}"):
            return None
        return self._ap(name)

    def refuse(self, ap: ApInfo, action: Action) -> tuple[str, str] | None:
        name = self.name_of(ap.ap_id) or ""
        if not self.sysfs.exists(f"{CPUS}/{name}/online"):
            return (
                "not_supported",
                f"{ap.ap_id} cannot be taken offline or online: the kernel gives it no"
                f" online file ({CPUS}/{name}/online)",
            )
        return None

    def _set(self, ap: ApInfo, value: str) -> None:
        name = self.name_of(ap.ap_id) or ""
        self.write(ap.ap_id, f"{CPUS}/{name}/online", value)
        if self.sysfs.read(f"{CPUS}/{name}/online") != value:
            raise HardwareError(f"{ap.ap_id}: online did not become {value}")

    def disconnect(self, ap: ApInfo, action: Action) -> None:
        self._set(ap, "0")

    def connect(self, ap: ApInfo, action: Action) -> None:
        self._set(ap, "1")

    def detached(self, ap_id: str) -> bool:
        return self.sysfs.read(f"{CPUS}/{self.name_of(ap_id) or ''}/online") == "0"
