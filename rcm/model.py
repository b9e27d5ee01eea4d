"""The vocabulary shared by the engine, the daemon, cfgadm and every handler.

Plain, immutable data so that it can cross the control socket as JSON and be
compared in tests.  Nothing here knows about networks.

The records are written out by hand (``__slots__``, an ``__init__``, value
equality from :class:`Record`) rather than as dataclasses: cfgadm imports
this module on every run, and Python 3.11 builds each dataclass by compiling
generated source for each of its methods, which measured 2-5 ms a frozen
dataclass here, ~10 ms for this module: half of what the start-up goal
(``cfgadm -l`` within 1.2x of ``import click``) leaves for all of cfgadm.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Record:
    """Value semantics from ``__slots__``: equality, repr; the frozen kind
    (:class:`FrozenRecord`) also hashes and refuses assignment."""

    __slots__ = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class FrozenRecord(Record):
    __slots__ = ()

    def _init(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name}")

    def __hash__(self) -> int:
        return hash(self._values())


class Impact(StrEnum):
    """How hard a veto blocks (HP-UX critical resource analysis).

    ``warning`` is shown and the operation proceeds; ``data`` blocks unless the
    admin forces (``cfgadm -f``); ``system`` is never overridden.
    """

    WARNING = "warning"
    DATA = "data"
    SYSTEM = "system"

    def blocks(self, force: bool) -> bool:
        """The veto policy, in this one place: whether a veto of this impact
        stops an operation requested with (``force``) or without ``-f``."""
        return self is Impact.SYSTEM or (self is Impact.DATA and not force)


class Veto(FrozenRecord):
    """A handler's "no, because …" for taking a resource offline.

    Handlers return one from ``rcm_request_offline`` (a bare string is read as
    a ``data`` veto).  ``handler`` and ``resource`` are filled in by the
    coordinator when the handler leaves them empty.
    """

    __slots__ = ("reason", "impact", "resource", "handler")
    reason: str
    impact: Impact
    resource: str
    handler: str

    def __init__(
        self, reason: str, impact: Impact = Impact.DATA, resource: str = "", handler: str = ""
    ) -> None:
        self._init(reason=reason, impact=impact, resource=resource, handler=handler)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "impact": self.impact.value,
            "resource": self.resource,
            "handler": self.handler,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Veto:
        return cls(d["reason"], Impact(d["impact"]), d.get("resource", ""), d.get("handler", ""))


class Usage(FrozenRecord):
    """One line of ``cfgadm -lv`` / the RCM "Resource Information" table."""

    __slots__ = ("resource", "info", "handler")
    resource: str
    info: str
    handler: str

    def __init__(self, resource: str, info: str, handler: str = "") -> None:
        self._init(resource=resource, info=info, handler=handler)

    def to_dict(self) -> dict[str, str]:
        return {"resource": self.resource, "info": self.info, "handler": self.handler}


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


class ApInfo(FrozenRecord):
    """An attachment point as cfgadm lists it.

    ``resources`` are the RCM resource names its occupant carries (for
    ``net:nic0``: ``["net/nic0"]``); the coordinator queries their consumers
    before the hardware step.  ``phys_id`` is cfgadm's Phys_Id (the device's
    sysfs path for hardware classes); ``busy`` is cfgadm's Busy, set by the
    coordinator while an operation holds the ap.
    """

    __slots__ = (
        "ap_id",
        "type",
        "receptacle",
        "occupant",
        "condition",
        "info",
        "resources",
        "phys_id",
        "busy",
    )
    ap_id: str
    type: str
    receptacle: Receptacle
    occupant: Occupant
    condition: Condition
    info: str
    resources: tuple[str, ...]
    phys_id: str
    busy: bool

    def __init__(
        self,
        ap_id: str,
        type: str,
        receptacle: Receptacle,
        occupant: Occupant,
        condition: Condition,
        info: str = "",
        resources: tuple[str, ...] = (),
        phys_id: str = "",
        busy: bool = False,
    ) -> None:
        self._init(
            ap_id=ap_id,
            type=type,
            receptacle=receptacle,
            occupant=occupant,
            condition=condition,
            info=info,
            resources=tuple(resources),
            phys_id=phys_id,
            busy=busy,
        )

    def replace(self, **changes: Any) -> ApInfo:
        """A copy with some fields changed."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return ApInfo(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ap_id": self.ap_id,
            "type": self.type,
            "receptacle": self.receptacle.value,
            "occupant": self.occupant.value,
            "condition": self.condition.value,
            "info": self.info,
            "resources": list(self.resources),
            "phys_id": self.phys_id,
            "busy": self.busy,
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
            str(d.get("phys_id", "")),
            bool(d.get("busy", False)),
        )


class Listing(Record):
    """The answer to ``cfgadm -l``: aps in order, usage lines per ap_id when
    verbose, and the requested ap_ids that do not exist."""

    __slots__ = ("aps", "usage", "missing", "tree")

    def __init__(
        self,
        aps: list[ApInfo],
        usage: dict[str, list[Usage]] | None = None,
        missing: list[str] | None = None,
        tree: dict[str, list[tuple[str, int]]] | None = None,
    ) -> None:
        self.aps = aps
        self.usage: dict[str, list[Usage]] = {} if usage is None else usage
        self.missing: list[str] = [] if missing is None else missing
        self.tree: dict[str, list[tuple[str, int]]] = {} if tree is None else tree
        """With ``-v``, for an ap with dependents below its resources: every
        resource of its graph and its depth (``rcm_dependents``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "aps": [a.to_dict() for a in self.aps],
            "usage": {k: [u.to_dict() for u in v] for k, v in self.usage.items()},
            "missing": list(self.missing),
            "tree": {k: [[r, depth] for r, depth in v] for k, v in self.tree.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Listing:
        return cls(
            [ApInfo.from_dict(a) for a in d["aps"]],
            {k: [Usage(**u) for u in v] for k, v in d.get("usage", {}).items()},
            list(d.get("missing", [])),
            {k: [(str(r), int(depth)) for r, depth in v] for k, v in d.get("tree", {}).items()},
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


class Event(FrozenRecord):
    """Something that happened to the system, from udev, netlink or a plugin.

    ``source`` names the listener (``udev``, ``netlink``, …); ``action`` is its
    verb (``add``, ``remove``, ``move``, ``change``, ``link``, ``rescan``);
    ``properties`` are the listener's key/value pairs (for udev, the uevent
    environment: ``SUBSYSTEM``, ``INTERFACE``, ``DEVPATH`` …).
    """

    __slots__ = ("source", "action", "properties")
    source: str
    action: str
    properties: dict[str, str]

    def __init__(self, source: str, action: str, properties: dict[str, str] | None = None) -> None:
        self._init(
            source=source, action=action, properties={} if properties is None else properties
        )

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
    UNCONFIRMED = "unconfirmed"  # the ap class asks the admin first (message: its question)


class Result(Record):
    """What one cfgadm request came to; crosses the control socket as JSON.

    The engine decides and cfgadm only prints: ``vetoes`` are every veto the
    handlers returned, ``force`` whether the request said ``-f``, and the
    properties below apply the policy of :meth:`Impact.blocks` to them, so
    that what blocks, what ``-f`` overrode and the exit status are worked out
    in one place.  A query (``query_only``) says the same of the change it
    stands for: ``forced_past`` is then what ``-f`` *would* override.

    ``usage`` are the usage lines of the ap's resources, filled when the
    result reports vetoes (the "Resource Information" table beside them), and
    always for a query.

    For ``cfgadm --json`` and ``--dry-run`` (plain JSON-ready values, so
    that they cross the socket as they are):

    - ``answers``: each handler's answer, in the order the engine asked:
      ``{"phase", "handler", "resource", "veto", "plan", "messages",
      "status"}`` (``veto`` a Veto dict or None; ``plan`` what the handler
      said it would do, during a query; ``messages`` what it said it did);
    - ``tree``: every resource the operation reached, ``{"resource",
      "parent"}``, the ap's own with parent None, dependents under the
      resource whose handler asked for them;
    - ``hardware``: what the ap class's hardware step does (or would do).
    """

    __slots__ = (
        "outcome",
        "ap_id",
        "message",
        "vetoes",
        "usage",
        "messages",
        "rolled_back",
        "operation",
        "force",
        "answers",
        "tree",
        "hardware",
    )

    def __init__(
        self,
        outcome: Outcome,
        ap_id: str = "",
        message: str = "",
        vetoes: list[Veto] | None = None,
        usage: list[Usage] | None = None,
        messages: list[str] | None = None,
        rolled_back: bool = False,
        operation: int | None = None,
        force: bool = False,
        answers: list[dict[str, Any]] | None = None,
        tree: list[dict[str, Any]] | None = None,
        hardware: str = "",
    ) -> None:
        self.outcome = outcome
        self.ap_id = ap_id
        self.message = message
        self.vetoes: list[Veto] = [] if vetoes is None else vetoes
        self.usage: list[Usage] = [] if usage is None else usage
        self.messages: list[str] = [] if messages is None else messages
        self.rolled_back = rolled_back
        self.operation = operation
        self.force = force
        self.answers: list[dict[str, Any]] = [] if answers is None else answers
        self.tree: list[dict[str, Any]] = [] if tree is None else tree
        self.hardware = hardware

    @property
    def blocking(self) -> list[Veto]:
        """The vetoes that stop the operation (empty unless it was vetoed)."""
        if self.outcome is not Outcome.VETOED:
            return []
        return [v for v in self.vetoes if v.impact.blocks(self.force)]

    @property
    def forced_past(self) -> list[Veto]:
        """The ``data`` vetoes that ``-f`` overrode (or, for a query, would)."""
        if not self.force or self.outcome is Outcome.VETOED:
            return []
        return [v for v in self.vetoes if v.impact is Impact.DATA]

    @property
    def warnings(self) -> list[Veto]:
        """``warning`` vetoes: reported, never blocking."""
        return [v for v in self.vetoes if v.impact is Impact.WARNING]

    @property
    def overridable(self) -> bool:
        """Vetoed, and ``-f`` would let it through: every blocking veto is a
        ``data`` veto and the request was not forced already."""
        blocking = self.blocking
        return bool(blocking) and all(v.impact is Impact.DATA for v in blocking)

    @property
    def exit_status(self) -> int:
        """cfgadm(1M)'s exit status: 0 ok, 1 failed, vetoed, busy, denied or no
        such ap, 2 not supported (3, a usage error, never reaches the engine)."""
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
            "usage": [u.to_dict() for u in self.usage],
            "messages": list(self.messages),
            "rolled_back": self.rolled_back,
            "operation": self.operation,
            "force": self.force,
            "exit_status": self.exit_status,  # for readers of the JSON; derived
            "answers": list(self.answers),
            "tree": list(self.tree),
            "hardware": self.hardware,
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
            bool(d.get("force", False)),
            list(d.get("answers", [])),
            list(d.get("tree", [])),
            str(d.get("hardware", "")),
        )
