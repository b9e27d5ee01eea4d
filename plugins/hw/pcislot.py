"""``pci:<slot>``: PCI hotplug slots (/sys/bus/pci/slots/<slot>).

The receptacle is the slot: ``adapter`` 0 is an empty slot, ``power`` 0 a
disconnected one.  The occupant is configured when the kernel has the card's
functions (``bus/pci/devices/<address>.<fn>``).  connect/disconnect write
``power``; configure rescans the bus (``bus/pci/rescan``), unconfigure
writes each function's ``remove``.  ``-x led=attention,on|off|blink`` drives
the attention indicator where the slot has one.  The NICs of a slot are its
dynamic aps (``pci:<slot>::<ifname>``, shown by ``cfgadm -a``).
"""

from __future__ import annotations

from rcm.errors import HardwareError
from rcm.model import Action, ApInfo, Condition, Occupant, Receptacle

from .apclass import DYNAMIC_SEP, NotSupported, SysfsApClass, pci_class_name
from .devices import interfaces_below, resources_of

SLOTS = "bus/pci/slots"
DEVICES = "bus/pci/devices"
LED_MODES = {"off": "0", "on": "1", "blink": "2"}


class PciSlotClass(SysfsApClass):
    prefix = "pci"
    description = "PCI hotplug slots"
    help = (
        "pci:<slot> (PCI hotplug slots, /sys/bus/pci/slots):\n"
        "  -c connect|disconnect       power the slot on or off\n"
        "  -c configure|unconfigure    rescan the bus / remove the card's functions\n"
        "  -x led=attention,on|off|blink   the slot's attention indicator\n"
        "  -a                          list the NICs of each slot (pci:<slot>::<ifname>)"
    )

    def _functions(self, slot: str) -> list[str]:
        """The card's functions in the kernel now (``0000:00:03.0`` …)."""
        address = self.sysfs.read(f"{SLOTS}/{slot}/address")
        if not address:
            return []
        return [d for d in self.sysfs.listdir(DEVICES) if d.rpartition(".")[0] == address]

    def _ap(self, slot: str) -> ApInfo:
        base = f"{SLOTS}/{slot}"
        functions = self._functions(slot)
        power = self.sysfs.read(f"{base}/power", "1")
        adapter = self.sysfs.read(f"{base}/adapter")
        if adapter == "0" and not functions:
            receptacle = Receptacle.EMPTY
        elif power == "0":
            receptacle = Receptacle.DISCONNECTED
        else:
            receptacle = Receptacle.CONNECTED
        occupant = Occupant.CONFIGURED if functions else Occupant.UNCONFIGURED
        if functions:
            condition = Condition.OK
            kind = pci_class_name(self.sysfs.read(f"{DEVICES}/{functions[0]}/class"))
        else:
            condition = Condition.UNKNOWN
            kind = ""
        resources: list[str] = []
        phys = ""
        for fn in functions:
            device = self.sysfs.device_path(f"{DEVICES}/{fn}")
            if device:
                phys = phys or device
                resources.extend(r for r in resources_of(self.sysfs, device) if r not in resources)
        address = self.sysfs.read(f"{base}/address", "?")
        info = f"slot {slot}, address {address}"
        if functions:
            vendor = (self.sysfs.read(f"{DEVICES}/{functions[0]}/vendor") or "?")[2:]
            model = (self.sysfs.read(f"{DEVICES}/{functions[0]}/device") or "?")[2:]
            info += f", card {vendor}:{model}"
        return ApInfo(
            self.ap_id(slot),
            f"{kind}/hp" if kind else "unknown",
            receptacle,
            occupant,
            condition,
            info,
            tuple(resources),
            phys_id=phys or f"/bus/pci/slots/{slot}",
        )

    def list(self) -> list[ApInfo]:
        return [self._ap(s) for s in self.sysfs.listdir(SLOTS)]

    def get(self, ap_id: str) -> ApInfo | None:
        base, sep, dyn = ap_id.partition(DYNAMIC_SEP)
        slot = self.name_of(base)
        if slot is None or not self.sysfs.exists(f"{SLOTS}/{slot}"):
            return None
        ap = self._ap(slot)
        if not sep:
            return ap
        return next((d for d in self.dynamic(ap) if d.ap_id == ap_id), None)

    def dynamic(self, ap: ApInfo) -> list[ApInfo]:
        slot = self.name_of(ap.ap_id.partition(DYNAMIC_SEP)[0]) or ""
        out = []
        for fn in self._functions(slot):
            device = self.sysfs.device_path(f"{DEVICES}/{fn}") or ""
            for name in interfaces_below(self.sysfs, device):
                out.append(
                    ApInfo(
                        f"{ap.ap_id}{DYNAMIC_SEP}{name}",
                        "net",
                        Receptacle.CONNECTED,
                        Occupant.CONFIGURED,
                        Condition.OK,
                        f"interface {name} of {fn}",
                        (f"net/{name}",),
                        phys_id=f"{device}/net/{name}",
                    )
                )
        return out

    def refuse(self, ap: ApInfo, action: Action) -> tuple[str, str] | None:
        if DYNAMIC_SEP in ap.ap_id:
            return ("not_supported", f"{ap.ap_id} is a dynamic ap: act on its slot")
        if not action.detaches and ap.receptacle is Receptacle.EMPTY:
            return ("insufficient_condition", f"{ap.ap_id}: the slot is empty")
        return None

    def disconnect(self, ap: ApInfo, action: Action) -> None:
        slot = self.name_of(ap.ap_id) or ""
        for fn in self._functions(slot):
            self.write(ap.ap_id, f"{DEVICES}/{fn}/remove", "1")
        if action is Action.DISCONNECT:
            self.write(ap.ap_id, f"{SLOTS}/{slot}/power", "0")
        if self._functions(slot):
            raise HardwareError(f"{ap.ap_id}: the card's functions are still present")

    def connect(self, ap: ApInfo, action: Action) -> None:
        slot = self.name_of(ap.ap_id) or ""
        if self.sysfs.read(f"{SLOTS}/{slot}/power", "1") == "0":
            self.write(ap.ap_id, f"{SLOTS}/{slot}/power", "1")
        if action is Action.CONFIGURE and not self._functions(slot):
            self.write(ap.ap_id, "bus/pci/rescan", "1")
            if not self._functions(slot):
                raise HardwareError(f"{ap.ap_id}: no card function appeared after a rescan")

    def detached(self, ap_id: str) -> bool:
        return not self._functions(self.name_of(ap_id) or "")

    def functions(self, ap: ApInfo) -> list[str]:
        slot = self.name_of(ap.ap_id) or ""
        if self.sysfs.exists(f"{SLOTS}/{slot}/attention"):
            return ["led=attention,on|off|blink"]
        return []

    def run_function(self, ap: ApInfo, name: str, value: str) -> str:
        slot = self.name_of(ap.ap_id) or ""
        if name != "led" or DYNAMIC_SEP in ap.ap_id:
            raise NotSupported(f"Hardware specific function not supported: {name} on {ap.ap_id}")
        led, _, mode = value.partition(",")
        if led != "attention" or mode not in LED_MODES:
            raise NotSupported(
                f"Hardware specific function not supported: led={value}"
                " (led=attention,on|off|blink)"
            )
        if not self.sysfs.exists(f"{SLOTS}/{slot}/attention"):
            raise NotSupported(f"{ap.ap_id}: the slot has no attention indicator")
        self.write(ap.ap_id, f"{SLOTS}/{slot}/attention", LED_MODES[mode])
        return f"{ap.ap_id}: attention indicator {mode}"
