"""The names of network things, as typed values: one place that spells them.

rcm speaks of a NIC in three vocabularies, and each used to be split by hand
wherever it was read:

- the **resource** a handler registers and is asked about: ``net/<ifname>``
  (:class:`NetResource`);
- the **attachment point** cfgadm names: ``net:<ifname>`` (:class:`NetApId`);
- the **link event** the link monitor posts (:class:`LinkEvent`): the fields
  of an rcm :class:`rcm.model.Event` with ``source="netlink"``,
  ``action="link"``.

Parsing is strict: an interface name is what the kernel accepts (1-15 bytes,
no ``/``, ``:`` or white space, not ``.`` or ``..``: :func:`ifname_fault`), so
a value that parses can be handed to netlink or used as a path component
without further checks.
Anything else parses to None (from a handler's point of view, a resource that
is not a NIC is simply not its business).
"""

from __future__ import annotations

from dataclasses import dataclass

from rcm.model import Event

RESOURCE_PREFIX = "net/"
AP_CLASS = "net"
IFNAMSIZ = 16
"""The kernel's buffer for an interface name, NUL included: 15 usable bytes."""


def ifname_fault(name: str) -> str | None:
    """Why ``name`` cannot be a Linux interface name, or None if it can.

    The kernel's rule (``dev_valid_name``): 1 to 15 bytes, not ``.`` or
    ``..``, no ``/``, ``:``, white space or NUL.  The one rule every part of
    rcm applies (the IPMP handler's file names, resources, ap ids, events);
    the text names the fault for an admin's error message.
    """
    if not name:
        return "an interface name cannot be empty"
    try:
        size = len(name.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return f"interface name {name!r} is not valid text"
    if size >= IFNAMSIZ:
        return f"interface name {name!r} is longer than {IFNAMSIZ - 1} bytes"
    if name in (".", ".."):
        return f"{name!r} is not a valid interface name"
    for ch in name:
        if ch in "/:\0" or ch.isspace():
            return f"interface name {name!r} contains {ch!r}"
    return None


def valid_ifname(name: str) -> bool:
    """True if the kernel would accept ``name`` as an interface name."""
    return ifname_fault(name) is None


@dataclass(frozen=True, order=True)
class NetResource:
    """``net/<ifname>``: a network interface as an RCM resource."""

    ifname: str

    def __post_init__(self) -> None:
        if not valid_ifname(self.ifname):
            raise ValueError(f"{self.ifname!r} is not an interface name")

    def __str__(self) -> str:
        return RESOURCE_PREFIX + self.ifname

    @classmethod
    def parse(cls, resource: str) -> NetResource | None:
        """The NIC a resource name stands for, or None if it is not ``net/<ifname>``."""
        if not resource.startswith(RESOURCE_PREFIX):
            return None
        name = resource[len(RESOURCE_PREFIX) :]
        return cls(name) if valid_ifname(name) else None

    @property
    def ap_id(self) -> NetApId:
        return NetApId(self.ifname)


@dataclass(frozen=True, order=True)
class NetApId:
    """``net:<ifname>``: a NIC as a cfgadm attachment point."""

    ifname: str

    def __post_init__(self) -> None:
        if not valid_ifname(self.ifname):
            raise ValueError(f"{self.ifname!r} is not an interface name")

    def __str__(self) -> str:
        return f"{AP_CLASS}:{self.ifname}"

    @classmethod
    def parse(cls, ap_id: str) -> NetApId | None:
        """The NIC an ap_id names, or None if it is not ``net:<ifname>``."""
        prefix, sep, name = ap_id.partition(":")
        if prefix != AP_CLASS or not sep or not valid_ifname(name):
            return None
        return cls(name)

    @property
    def resource(self) -> NetResource:
        return NetResource(self.ifname)


@dataclass(frozen=True)
class LinkEvent:
    """A link appeared, changed or vanished (RTM_NEWLINK / RTM_DELLINK).

    Crosses the coordinator's event queue as an :class:`rcm.model.Event`
    (``source="netlink"``, ``action="link"``); :meth:`to_event` and
    :meth:`from_event` are the only code that knows its property names.
    """

    ifname: str
    index: int
    deleted: bool  # RTM_DELLINK: the link left this namespace (or was destroyed)
    up: bool  # IFF_UP
    carrier: bool  # IFF_LOWER_UP
    operstate: str  # 'UP', 'DOWN', 'LOWERLAYERDOWN', 'UNKNOWN' …
    mac: str

    SOURCE = "netlink"
    ACTION = "link"

    @property
    def usable(self) -> bool:
        """Present, administratively up and with carrier: fit to carry traffic."""
        return not self.deleted and self.up and self.carrier

    def to_event(self) -> Event:
        return Event(
            source=self.SOURCE,
            action=self.ACTION,
            properties={
                "IFNAME": self.ifname,
                "IFINDEX": str(self.index),
                "EVENT": "del" if self.deleted else "new",
                "UP": "1" if self.up else "0",
                "CARRIER": "1" if self.carrier else "0",
                "OPERSTATE": self.operstate,
                "MAC": self.mac,
            },
        )

    @classmethod
    def from_event(cls, event: Event) -> LinkEvent | None:
        """The link event an Event carries, or None if it is not one."""
        if event.source != cls.SOURCE or event.action != cls.ACTION:
            return None
        name = event.get("IFNAME")
        if not valid_ifname(name):
            return None
        try:
            index = int(event.get("IFINDEX", "0"))
        except ValueError:
            index = 0
        return cls(
            ifname=name,
            index=index,
            deleted=event.get("EVENT") == "del",
            up=event.get("UP") == "1",
            carrier=event.get("CARRIER") == "1",
            operstate=event.get("OPERSTATE", "UNKNOWN"),
            mac=event.get("MAC"),
        )
