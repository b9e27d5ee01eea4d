"""Resource locks: one operation at a time on a resource and its relatives.

Resource names are paths (``/devices/pci0000:00/0000:00:03.0``,
``net/nic0``, ``net:nic0`` for an ap).  A request conflicts with an operation
that holds the same name, an ancestor or a descendant of it, and fails at once
("Resource is busy") instead of queueing behind it: an admin must know.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Protocol

from rcm.errors import BusyError


class Holder(Protocol):
    """An operation as the lock table sees it (:class:`rcm.coordinator.Operation`).

    ``token`` tells operations apart inside this process; the admin never sees
    it.  A conflict is reported with what the admin can relate to: the
    ``description`` (``unconfigure net:nic0``) and the journal ``id`` once the
    operation has one (``cfgadm`` and the logs name operations by it).
    """

    @property
    def token(self) -> int: ...

    @property
    def id(self) -> int | None: ...

    @property
    def description(self) -> str: ...


def related(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` are the same resource, or one contains the other."""
    if a == b:
        return True
    return b.startswith(a.rstrip("/") + "/") or a.startswith(b.rstrip("/") + "/")


def busy_message(name: str, holder: Holder) -> str:
    """``Resource is busy: net/nic0 is in use by unconfigure net:nic0 (operation 12)``."""
    which = f"operation {holder.id}" if holder.id is not None else "still asking its handlers"
    return f"Resource is busy: {name} is in use by {holder.description} ({which})"


class LockTable:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held: dict[str, Holder] = {}

    def acquire(self, names: Iterable[str], holder: Holder) -> None:
        """Take every name for ``holder`` or none; raise BusyError on conflict."""
        names = list(names)
        with self._mutex:
            for name in names:
                for held, other in self._held.items():
                    if other.token != holder.token and related(name, held):
                        raise BusyError(busy_message(name, other))
            for name in names:
                self._held.setdefault(name, holder)

    def release(self, token: int) -> None:
        """Release every name the operation ``token`` holds."""
        with self._mutex:
            for name in [n for n, h in self._held.items() if h.token == token]:
                del self._held[name]

    def holder(self, name: str) -> Holder | None:
        """The operation holding ``name``, an ancestor or a descendant of it."""
        with self._mutex:
            for held, other in self._held.items():
                if related(name, held):
                    return other
        return None
