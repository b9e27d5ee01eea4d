"""Interfaces that plugins implement besides hooks: ap backends and event sources."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from rcm.errors import HardwareError
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


class FunctionNotSupported(HardwareError):
    """Raised by an ap class's ``run_function`` for a function it does not
    have, or one this ap cannot do (cfgadm prints it, exit 2)."""


OPTIONAL_AP_MEMBERS = (
    "ap_type",
    "help_text",
    "dynamic",
    "functions",
    "run_function",
    "refuse",
)
"""Members an :class:`ApBackend` may have; the coordinator reads each with
``getattr`` and a default, so a backend written before them keeps working:

- ``ap_type: str``: the name ``cfgadm -l <ap_type>`` and ``cfgadm -h
  <ap_type>`` select the class by (default: ``prefix``).
- ``help_text() -> str``: the class's lines for ``cfgadm -h [ap_type]``.
- ``dynamic(ap) -> list[ApInfo]``: the dynamic aps below a base ap
  (``base::dynamic``), listed by ``cfgadm -a``; ``get`` must answer their ids.
- ``functions(ap) -> list[str]``: the ``-x`` functions the ap offers, as
  usage text (``led=attention,on|off|blink``).
- ``run_function(ap, name, value) -> str``: ``cfgadm -x name=value ap``; the
  answer is a line for the admin; raise :class:`FunctionNotSupported` (exit 2)
  or :class:`rcm.errors.HardwareError` (exit 1).
- ``refuse(ap, action) -> tuple[str, str] | None``: this ap cannot do
  ``action`` now, said before any handler is asked: ``("not_supported",
  detail)`` becomes "Configuration operation not supported: detail" (exit 2),
  ``("insufficient_condition", detail)`` "Insufficient condition: detail"
  (exit 1).
"""
