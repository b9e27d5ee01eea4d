"""The vocabulary shared by the engine, the daemon, cfgadm and every handler.

Plain, immutable data so that it can cross the control socket as JSON and be
compared in tests.  Nothing here knows about networks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Impact(StrEnum):
    """How hard a veto blocks (HP-UX critical resource analysis).

    ``warning`` is shown and the operation proceeds; ``data`` blocks unless the
    admin forces (``cfgadm -f``); ``system`` is never overridden.
    """

    WARNING = "warning"
    DATA = "data"
    SYSTEM = "system"


@dataclass(frozen=True)
class Veto:
    """A handler's "no, because …" for taking a resource offline.

    Handlers return one from ``rcm_request_offline`` (a bare string is read as
    a ``data`` veto).  ``handler`` and ``resource`` are filled in by the
    coordinator when the handler leaves them empty.
    """

    reason: str
    impact: Impact = Impact.DATA
    resource: str = ""
    handler: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "impact": self.impact.value}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Veto:
        return cls(d["reason"], Impact(d["impact"]), d.get("resource", ""), d.get("handler", ""))


@dataclass(frozen=True)
class Usage:
    """One line of ``cfgadm -lv`` / the RCM "Resource Information" table."""

    resource: str
    info: str
    handler: str = ""


class Receptacle(StrEnum):
    EMPTY = "empty"
    DISCONNECTED = "disconnected"
    CONNECTED = "connected"


class Occupant(StrEnum):
    CONFIGURED = "configured"
    UNCONFIGURED = "unconfigured"


class Condition(StrEnum):
    OK = "ok"
    FAILING = "failing"
    FAILED = "failed"
    UNUSABLE = "unusable"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ApInfo:
    """An attachment point as cfgadm lists it.

    ``resources`` are the RCM resource names its occupant carries (for
    ``net:nic0``: ``["net/nic0"]``); the coordinator queries their consumers
    before the hardware step.
    """

    ap_id: str
    type: str
    receptacle: Receptacle
    occupant: Occupant
    condition: Condition
    info: str = ""
    resources: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "ap_id": self.ap_id,
            "type": self.type,
            "receptacle": self.receptacle.value,
            "occupant": self.occupant.value,
            "condition": self.condition.value,
            "info": self.info,
            "resources": list(self.resources),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ApInfo:
        return cls(
            d["ap_id"],
            d["type"],
            Receptacle(d["receptacle"]),
            Occupant(d["occupant"]),
            Condition(d["condition"]),
            d.get("info", ""),
            tuple(d.get("resources", ())),
        )


@dataclass
class Listing:
    """The answer to ``cfgadm -l``: aps in order, usage lines per ap_id when
    verbose, and the requested ap_ids that do not exist."""

    aps: list[ApInfo]
    usage: dict[str, list[Usage]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "aps": [a.to_dict() for a in self.aps],
            "usage": {k: [asdict(u) for u in v] for k, v in self.usage.items()},
            "missing": list(self.missing),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Listing:
        return cls(
            [ApInfo.from_dict(a) for a in d["aps"]],
            {k: [Usage(**u) for u in v] for k, v in d.get("usage", {}).items()},
            list(d.get("missing", [])),
        )


class Action(StrEnum):
    """cfgadm's state-change functions (``-c``)."""

    CONFIGURE = "configure"
    UNCONFIGURE = "unconfigure"
    CONNECT = "connect"
    DISCONNECT = "disconnect"

    @property
    def detaches(self) -> bool:
        return self in (Action.UNCONFIGURE, Action.DISCONNECT)


@dataclass(frozen=True)
class Event:
    """Something that happened to the system, from udev, netlink or a plugin.

    ``source`` names the listener (``udev``, ``netlink``, …); ``action`` is its
    verb (``add``, ``remove``, ``move``, ``change``, ``link``, ``rescan``);
    ``properties`` are the listener's key/value pairs (for udev, the uevent
    environment: ``SUBSYSTEM``, ``INTERFACE``, ``DEVPATH`` …).
    """

    source: str
    action: str
    properties: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        return self.properties.get(key, default)


class Outcome(StrEnum):
    DONE = "done"
    VETOED = "vetoed"
    FAILED = "failed"  # a phase failed; the previous configuration was restored
    BUSY = "busy"
    NOT_SUPPORTED = "not_supported"
    NO_SUCH_AP = "no_such_ap"
    DENIED = "denied"


@dataclass
class Result:
    """What one cfgadm request came to; crosses the control socket as JSON.

    ``exit_status`` follows cfgadm(1M): 0 ok, 1 failed or vetoed, 2 not
    supported, 3 usage error.
    """

    outcome: Outcome
    ap_id: str = ""
    message: str = ""
    vetoes: list[Veto] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    rolled_back: bool = False
    operation: int | None = None

    @property
    def exit_status(self) -> int:
        if self.outcome is Outcome.DONE:
            return 0
        if self.outcome is Outcome.NOT_SUPPORTED:
            return 2
        return 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "ap_id": self.ap_id,
            "message": self.message,
            "vetoes": [v.to_dict() for v in self.vetoes],
            "usage": [asdict(u) for u in self.usage],
            "messages": list(self.messages),
            "rolled_back": self.rolled_back,
            "operation": self.operation,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        return cls(
            Outcome(d["outcome"]),
            d.get("ap_id", ""),
            d.get("message", ""),
            [Veto.from_dict(v) for v in d.get("vetoes", [])],
            [Usage(**u) for u in d.get("usage", [])],
            list(d.get("messages", [])),
            bool(d.get("rolled_back", False)),
            d.get("operation"),
        )
