"""``scsi:host<N>``: SCSI controllers, and their devices as dynamic aps
(``scsi:host<N>::<h:c:t:l>``, shown by ``cfgadm -a``).

A device is unconfigured by writing its ``delete`` (the kernel detaches the
disk: ``block/sda`` leaves with it) and configured again by a scan of its
host (``class/scsi_host/host<N>/scan`` ← ``- - -``).  Unconfiguring a host
deletes every device on it; configuring it scans it.  A deleted device is
remembered so that it can be named again.
"""

from __future__ import annotations

from rcm.errors import HardwareError
from rcm.model import Action, ApInfo, Condition, Occupant, Receptacle

from .apclass import DYNAMIC_SEP, SysfsApClass
from .devices import resources_of

HOSTS = "class/scsi_host"
DEVICES = "class/scsi_device"
TYPES = {"0": "disk", "1": "tape", "5": "cd/dvd", "12": "raid", "13": "enclosure"}


class ScsiClass(SysfsApClass):
    prefix = "scsi"
    description = "SCSI controllers and devices"
    actions = frozenset({Action.CONFIGURE, Action.UNCONFIGURE})
    help = (
        "scsi:host<N>[::<h:c:t:l>] (SCSI controllers; their devices with -a):\n"
        "  -c unconfigure scsi:hostN::h:c:t:l   delete the device (its disk leaves)\n"
        "  -c configure   scsi:hostN[::…]       scan the host (scan ← '- - -')\n"
        "  -c unconfigure scsi:hostN            delete every device of the host"
    )

    def _devices(self, host: str) -> list[str]:
        number = host.removeprefix("host")
        return [d for d in self.sysfs.listdir(DEVICES) if d.split(":")[0] == number]

    def _device_ap(self, host: str, hctl: str) -> ApInfo:
        rel = f"{DEVICES}/{hctl}/device"
        device = self.sysfs.device_path(rel) or f"/{rel}"
        kind = TYPES.get(self.sysfs.read(f"{rel}/type", "") or "", "unknown")
        vendor = self.sysfs.read(f"{rel}/vendor", "") or ""
        model = self.sysfs.read(f"{rel}/model", "") or ""
        state = self.sysfs.read(f"{rel}/state", "running")
        resources = resources_of(self.sysfs, device)
        disks = [r.removeprefix("block/") for r in resources if r.startswith("block/")]
        info = " ".join(p for p in (vendor, model) if p)
        if disks:
            info += f" ({', '.join(disks)})"
        return ApInfo(
            f"{self.ap_id(host)}{DYNAMIC_SEP}{hctl}",
            kind,
            Receptacle.CONNECTED,
            Occupant.CONFIGURED,
            Condition.OK if state == "running" else Condition.FAILING,
            info,
            resources,
            phys_id=device,
        )

    def _host_ap(self, host: str) -> ApInfo:
        devices = [self._device_ap(host, d) for d in self._devices(host)]
        resources: list[str] = []
        for d in devices:
            resources.extend(d.resources)
        phys = self.sysfs.device_path(f"{HOSTS}/{host}/device") or f"/{HOSTS}/{host}"
        driver = self.sysfs.read(f"{HOSTS}/{host}/proc_name", "") or ""
        info = f"{len(devices)} device(s)" + (f", driver {driver}" if driver else "")
        return ApInfo(
            self.ap_id(host),
            "scsi-bus",
            Receptacle.CONNECTED,
            Occupant.CONFIGURED if devices else Occupant.UNCONFIGURED,
            Condition.OK if devices else Condition.UNKNOWN,
            info,
            tuple(resources),
            phys_id=phys,
        )

    def list(self) -> list[ApInfo]:
        hosts = self.sysfs.listdir(HOSTS)
        return [self._host_ap(h) for h in sorted(hosts, key=lambda h: int(h[4:] or 0))]

    def dynamic(self, ap: ApInfo) -> list[ApInfo]:
        host = self.name_of(ap.ap_id) or ""
        present = self._devices(host)
        out = [self._device_ap(host, d) for d in present]
        for key in self.memory.keys(f"gone:{ap.ap_id}{DYNAMIC_SEP}"):
            ap_id = key.removeprefix("gone:")
            if ap_id.rpartition(DYNAMIC_SEP)[2] not in present:
                record = self.remembered(ap_id)
                if record is not None:
                    out.append(self.gone_ap(ap_id, record))
        return sorted(out, key=lambda a: a.ap_id)

    def get(self, ap_id: str) -> ApInfo | None:
        base, sep, hctl = ap_id.partition(DYNAMIC_SEP)
        host = self.name_of(base)
        if host is None or not self.sysfs.exists(f"{HOSTS}/{host}"):
            return None
        if not sep:
            return self._host_ap(host)
        if hctl in self._devices(host):
            return self._device_ap(host, hctl)
        record = self.remembered(ap_id)
        return self.gone_ap(ap_id, record) if record is not None else None

    def refuse(self, ap: ApInfo, action: Action) -> tuple[str, str] | None:
        if action is Action.UNCONFIGURE and ap.occupant is Occupant.UNCONFIGURED:
            return ("insufficient_condition", f"{ap.ap_id} is already unconfigured")
        return None

    def _delete(self, ap: ApInfo) -> None:
        hctl = ap.ap_id.partition(DYNAMIC_SEP)[2]
        self.remember(ap)
        self.write(ap.ap_id, f"{DEVICES}/{hctl}/device/delete", "1")
        if self.sysfs.exists(f"{DEVICES}/{hctl}"):
            raise HardwareError(f"{ap.ap_id}: the kernel did not delete the device")

    def disconnect(self, ap: ApInfo, action: Action) -> None:
        if DYNAMIC_SEP in ap.ap_id:
            self._delete(ap)
            return
        for device in self.dynamic(ap):
            if device.occupant is Occupant.CONFIGURED:
                self._delete(device)

    def connect(self, ap: ApInfo, action: Action) -> None:
        base, sep, hctl = ap.ap_id.partition(DYNAMIC_SEP)
        host = self.name_of(base) or ""
        self.write(ap.ap_id, f"{HOSTS}/{host}/scan", "- - -")
        if sep:
            if hctl not in self._devices(host):
                raise HardwareError(f"{ap.ap_id}: the device did not come back after a scan")
            self.forget(ap.ap_id)
        else:
            for key in self.memory.keys(f"gone:{base}{DYNAMIC_SEP}"):
                if key.rpartition(DYNAMIC_SEP)[2] in self._devices(host):
                    self.memory.delete(key)

    def detached(self, ap_id: str) -> bool:
        base, sep, hctl = ap_id.partition(DYNAMIC_SEP)
        host = self.name_of(base) or ""
        return hctl not in self._devices(host) if sep else not self._devices(host)
