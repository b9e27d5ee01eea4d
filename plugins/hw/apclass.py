"""What every sysfs ap class shares: the optional members of
:class:`rcm.protocols.ApBackend` with their defaults, the memory of devices
the kernel no longer shows, and the ap_id rules.

A device that was removed (``remove``, SCSI ``delete``) vanishes from sysfs;
so that ``cfgadm -c configure`` can still name it, the class remembers it in
the hw plugin's crash-safe store (``gone:<ap_id>``) until it is back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rcm.errors import HardwareError
from rcm.model import Action, ApInfo, Condition, Occupant, Receptacle
from rcm.protocols import FunctionNotSupported

from .sysfs import Sysfs, SysfsError

DYNAMIC_SEP = "::"

PCI_CLASSES = {
    0x01: "storage",
    0x02: "ethernet",
    0x03: "display",
    0x04: "multimedia",
    0x05: "memory",
    0x06: "bridge",
    0x07: "serial",
    0x08: "system",
    0x0C: "serialbus",
    0x0D: "wireless",
}


def pci_class_name(text: str | None) -> str:
    """``0x020000`` → ``ethernet``; unknown classes → ``unknown``."""
    try:
        return PCI_CLASSES.get(int(text or "", 16) >> 16, "unknown")
    except ValueError:
        return "unknown"


class Memory:
    """Where a class remembers devices that left sysfs (the hw plugin's
    store; a plain dict when there is none, in unit tests)."""

    def __init__(self, store: Callable[[], Any] | None = None) -> None:
        self._store = store
        self._dict: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        if self._store is None:
            return self._dict.get(key)
        return self._store().get(key)

    def set(self, key: str, value: Any) -> None:
        if self._store is None:
            self._dict[key] = value
        else:
            self._store().set(key, value)

    def delete(self, key: str) -> None:
        if self._store is None:
            self._dict.pop(key, None)
        else:
            self._store().delete(key)

    def keys(self, prefix: str) -> list[str]:
        if self._store is None:
            return sorted(k for k in self._dict if k.startswith(prefix))
        return [k for k, _ in self._store().items(prefix)]


class SysfsApClass:
    """Base of the sysfs ap classes.  Subclasses set ``prefix`` and
    ``description`` and implement ``list``/``get``/the hardware steps."""

    prefix = ""
    description = ""
    actions: frozenset[Action] = frozenset(Action)
    help = ""

    def __init__(self, sysfs: Sysfs, memory: Memory | None = None) -> None:
        self.sysfs = sysfs
        self.memory = memory or Memory()

    @property
    def ap_type(self) -> str:
        return self.prefix

    # -- the optional ApBackend members, with their defaults -------------------
    def help_text(self) -> str:
        return self.help

    def dynamic(self, ap: ApInfo) -> list[ApInfo]:
        return []

    def functions(self, ap: ApInfo) -> list[str]:
        return []

    def run_function(self, ap: ApInfo, name: str, value: str) -> str:
        raise NotSupported(f"Hardware specific function not supported: {name} on {ap.ap_id}")

    def refuse(self, ap: ApInfo, action: Action) -> tuple[str, str] | None:
        return None

    def supports(self, action: Action) -> bool:
        return action in self.actions

    # -- helpers ---------------------------------------------------------------
    def ap_id(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def name_of(self, ap_id: str) -> str | None:
        prefix, sep, name = ap_id.partition(":")
        if prefix != self.prefix or not sep or not name or "/" in name or name in (".", ".."):
            return None
        return name

    def write(self, ap_id: str, rel: str, value: str) -> None:
        try:
            self.sysfs.write(rel, value)
        except SysfsError as e:
            raise HardwareError(f"{ap_id}: {e.args[-1] if e.args else e}") from None

    def remembered(self, ap_id: str) -> dict[str, Any] | None:
        value = self.memory.get(f"gone:{ap_id}")
        return value if isinstance(value, dict) else None

    def remember(self, ap: ApInfo) -> None:
        self.memory.set(f"gone:{ap.ap_id}", {"type": ap.type, "info": ap.info, "phys": ap.phys_id})

    def forget(self, ap_id: str) -> None:
        self.memory.delete(f"gone:{ap_id}")

    def gone_ap(self, ap_id: str, record: dict[str, Any]) -> ApInfo:
        """A remembered device the kernel no longer shows."""
        return ApInfo(
            ap_id,
            str(record.get("type", "unknown")),
            Receptacle.CONNECTED,
            Occupant.UNCONFIGURED,
            Condition.UNKNOWN,
            f"{record.get('info', '')} (removed)".strip(),
            (),
            phys_id=str(record.get("phys", "")),
        )


class NotSupported(FunctionNotSupported):
    """A function this ap cannot do (cfgadm exit 2)."""
