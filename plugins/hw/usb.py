"""``usb:<port path>``: USB devices (/sys/bus/usb/devices/1-1 …).

The occupant is configured while the device is ``authorized``: writing 0
makes the kernel unbind every driver of the device (its NIC or disk leaves),
writing 1 binds them again.  Root hubs (``usb1``) and interfaces
(``1-1:1.0``) are not aps.
"""

from __future__ import annotations

from rcm.errors import HardwareError
from rcm.model import Action, ApInfo, Condition, Occupant, Receptacle

from .apclass import SysfsApClass
from .devices import resources_of

DEVICES = "bus/usb/devices"


def _is_device(name: str) -> bool:
    return ":" not in name and not name.startswith("usb") and "-" in name


class UsbClass(SysfsApClass):
    prefix = "usb"
    description = "USB devices"
    actions = frozenset({Action.CONFIGURE, Action.UNCONFIGURE})
    help = (
        "usb:<bus>-<port>[.<port>…] (USB devices, /sys/bus/usb/devices):\n"
        "  -c unconfigure   deauthorize the device (authorized=0: its drivers are unbound)\n"
        "  -c configure     authorize it again (authorized=1)"
    )

    def _ap(self, name: str) -> ApInfo:
        rel = f"{DEVICES}/{name}"
        device = self.sysfs.device_path(rel) or f"/{rel}"
        authorized = self.sysfs.read(f"{rel}/authorized", "1") != "0"
        product = self.sysfs.read(f"{rel}/product", "") or ""
        maker = self.sysfs.read(f"{rel}/manufacturer", "") or ""
        vendor = self.sysfs.read(f"{rel}/idVendor", "?")
        ids = f"{vendor}:{self.sysfs.read(f'{rel}/idProduct', '?')}"
        info = " ".join(p for p in (maker, product, f"({ids})") if p)
        if not authorized:
            info += ", not authorized"
        return ApInfo(
            self.ap_id(name),
            "usb-device",
            Receptacle.CONNECTED,
            Occupant.CONFIGURED if authorized else Occupant.UNCONFIGURED,
            Condition.OK if authorized else Condition.UNKNOWN,
            info,
            resources_of(self.sysfs, device),
            phys_id=device,
        )

    def list(self) -> list[ApInfo]:
        return [self._ap(n) for n in self.sysfs.listdir(DEVICES) if _is_device(n)]

    def get(self, ap_id: str) -> ApInfo | None:
        name = self.name_of(ap_id)
        if name is None or not _is_device(name) or not self.sysfs.exists(f"{DEVICES}/{name}"):
            return None
        return self._ap(name)

    def refuse(self, ap: ApInfo, action: Action) -> tuple[str, str] | None:
        name = self.name_of(ap.ap_id) or ""
        if not self.sysfs.exists(f"{DEVICES}/{name}/authorized"):
            return ("not_supported", f"{ap.ap_id} has no authorized attribute")
        return None

    def _authorize(self, ap: ApInfo, value: str) -> None:
        name = self.name_of(ap.ap_id) or ""
        self.write(ap.ap_id, f"{DEVICES}/{name}/authorized", value)
        if self.sysfs.read(f"{DEVICES}/{name}/authorized") != value:
            raise HardwareError(f"{ap.ap_id}: authorized did not become {value}")

    def disconnect(self, ap: ApInfo, action: Action) -> None:
        self._authorize(ap, "0")

    def connect(self, ap: ApInfo, action: Action) -> None:
        self._authorize(ap, "1")

    def detached(self, ap_id: str) -> bool:
        name = self.name_of(ap_id) or ""
        return self.sysfs.read(f"{DEVICES}/{name}/authorized", "0") == "0"
