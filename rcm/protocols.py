"""Interfaces that plugins implement besides hooks: ap backends and event sources."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from rcm.model import Action, ApInfo, Event


@runtime_checkable
class ApBackend(Protocol):
    """One class of attachment points (``net:``, ``pci:`` …), as cfgadm sees it.

    ``prefix`` is the ap_id prefix before the colon.  The backend reads the
    system (the kernel, or a sysfs root) every time it is asked: it keeps no
    copy of state that the kernel holds.
    """

    prefix: str

    def list(self) -> list[ApInfo]:
        """Every ap of this class, present or remembered (empty receptacle)."""
        ...

    def get(self, ap_id: str) -> ApInfo | None:
        """One ap, or None if there is no such ap."""
        ...

    def supports(self, action: Action) -> bool:
        """Whether ``cfgadm -c action`` applies to this class (else exit 2)."""
        ...

    def disconnect(self, ap: ApInfo, action: Action) -> None:
        """The hardware step of a detach (unconfigure / disconnect).

        Called after every consumer released the occupant's resources.  Raise
        :class:`rcm.errors.HardwareError` on failure: the coordinator then
        brings every consumer back online.
        """
        ...

    def connect(self, ap: ApInfo, action: Action) -> None:
        """The hardware step of an attach (configure / connect)."""
        ...

    def detached(self, ap_id: str) -> bool:
        """True if the ap's occupant is away from the system now.

        Journal recovery asks this after a crash during the hardware step: the
        kernel, not the journal, says whether the step happened.
        """
        ...


class EventSource(Protocol):
    """A listener that rcmd runs in a thread of its own for a plugin."""

    name: str

    def run(self, post: Callable[[Event], None], stop: threading.Event) -> None:
        """Listen until ``stop`` is set, handing each event to ``post``.

        Must return within about a second of ``stop`` being set.
        """
        ...
