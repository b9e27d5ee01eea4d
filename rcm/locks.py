"""Resource locks: one operation at a time on a resource and its relatives.

Resource names are paths (``/devices/pci0000:00/0000:00:03.0``,
``net/nic0``, ``net:nic0`` for an ap).  A request conflicts with an operation
that holds the same name, an ancestor or a descendant of it, and fails at once
("Resource is busy") instead of queueing behind it: an admin must know.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from rcm.errors import BusyError


def related(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` are the same resource, or one contains the other."""
    if a == b:
        return True
    return b.startswith(a.rstrip("/") + "/") or a.startswith(b.rstrip("/") + "/")


class LockTable:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held: dict[str, tuple[int, str]] = {}  # name -> (op id, description)

    def acquire(self, names: Iterable[str], op_id: int, description: str) -> None:
        """Take every name for ``op_id`` or none; raise BusyError on conflict."""
        names = list(names)
        with self._mutex:
            for name in names:
                for held, (holder, desc) in self._held.items():
                    if holder != op_id and related(name, held):
                        raise BusyError(
                            f"Resource is busy: {name} is in operation {holder} ({desc})"
                        )
            for name in names:
                self._held.setdefault(name, (op_id, description))

    def release(self, op_id: int) -> None:
        with self._mutex:
            for name in [n for n, (holder, _) in self._held.items() if holder == op_id]:
                del self._held[name]

    def holder(self, name: str) -> int | None:
        with self._mutex:
            for held, (holder, _) in self._held.items():
                if related(name, held):
                    return holder
        return None
