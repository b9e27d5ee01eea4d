"""``pcidev:<address>``: PCI functions (/sys/bus/pci/devices/<address>).

unconfigure writes the function's ``remove`` (the kernel unbinds the driver
and removes the folder, and with it the NIC or disk it carried); configure
writes ``bus/pci/rescan``.  A removed function is remembered so that it can
be named again.  The receptacle is the bus: always connected.
"""

from __future__ import annotations

from rcm.errors import HardwareError
from rcm.model import Action, ApInfo, Condition, Occupant, Receptacle

from .apclass import SysfsApClass, pci_class_name
from .devices import resources_of

DEVICES = "bus/pci/devices"


class PciDeviceClass(SysfsApClass):
    prefix = "pcidev"
    description = "PCI functions"
    actions = frozenset({Action.CONFIGURE, Action.UNCONFIGURE})
    help = (
        "pcidev:<domain:bus:dev.fn> (PCI functions, /sys/bus/pci/devices):\n"
        "  -c unconfigure   write the function's remove (its NICs and disks leave with it)\n"
        "  -c configure     rescan the PCI bus (bus/pci/rescan)"
    )

    def _ap(self, address: str) -> ApInfo:
        rel = f"{DEVICES}/{address}"
        device = self.sysfs.device_path(rel) or f"/{rel}"
        vendor = (self.sysfs.read(f"{rel}/vendor") or "0x?")[2:]
        model = (self.sysfs.read(f"{rel}/device") or "0x?")[2:]
        kind = pci_class_name(self.sysfs.read(f"{rel}/class"))
        driver = self.sysfs.device_path(f"{rel}/driver")
        info = f"{vendor}:{model} {kind}"
        if driver:
            info += f", driver {driver.rsplit('/', 1)[-1]}"
        return ApInfo(
            self.ap_id(address),
            kind,
            Receptacle.CONNECTED,
            Occupant.CONFIGURED,
            Condition.OK,
            info,
            resources_of(self.sysfs, device),
            phys_id=device,
        )

    def list(self) -> list[ApInfo]:
        present = self.sysfs.listdir(DEVICES)
        aps = [self._ap(a) for a in present]
        for key in self.memory.keys(f"gone:{self.prefix}:"):
            ap_id = key.removeprefix("gone:")
            if self.name_of(ap_id) not in present:
                record = self.remembered(ap_id)
                if record is not None:
                    aps.append(self.gone_ap(ap_id, record))
        return sorted(aps, key=lambda a: a.ap_id)

    def get(self, ap_id: str) -> ApInfo | None:
        address = self.name_of(ap_id)
        if address is None:
            return None
        if self.sysfs.exists(f"{DEVICES}/{address}"):
            return self._ap(address)
        record = self.remembered(ap_id)
        return self.gone_ap(ap_id, record) if record is not None else None

    def refuse(self, ap: ApInfo, action: Action) -> tuple[str, str] | None:
        if action is Action.UNCONFIGURE and ap.occupant is Occupant.UNCONFIGURED:
            return ("insufficient_condition", f"{ap.ap_id} is already unconfigured")
        return None

    def disconnect(self, ap: ApInfo, action: Action) -> None:
        address = self.name_of(ap.ap_id) or ""
        if not self.sysfs.exists(f"{DEVICES}/{address}"):
            return  # already gone
        self.remember(ap)
        self.write(ap.ap_id, f"{DEVICES}/{address}/remove", "1")
        if self.sysfs.exists(f"{DEVICES}/{address}"):
            raise HardwareError(f"{ap.ap_id}: the kernel did not remove the function")

    def connect(self, ap: ApInfo, action: Action) -> None:
        address = self.name_of(ap.ap_id) or ""
        if not self.sysfs.exists(f"{DEVICES}/{address}"):
            self.write(ap.ap_id, "bus/pci/rescan", "1")
        if not self.sysfs.exists(f"{DEVICES}/{address}"):
            raise HardwareError(f"{ap.ap_id}: the function did not come back after a bus rescan")
        self.forget(ap.ap_id)

    def detached(self, ap_id: str) -> bool:
        return not self.sysfs.exists(f"{DEVICES}/{self.name_of(ap_id) or ''}")
