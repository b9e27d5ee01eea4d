"""What cfgadm asks of rcm, whether rcmd answers over its socket or the
engine runs in cfgadm's own process (no rcmd running).

Both implementations (:class:`rcm.client.RemoteService`,
:class:`rcm.local.LocalService`) speak this protocol, so cfgadm is one code
path either way.
"""

from __future__ import annotations

from typing import Any, Protocol

from rcm.model import Action, ApInfo, Record, Result, Usage


class Listing(Record):
    """The answer to ``cfgadm -l``: aps in order, usage lines per ap_id when
    verbose, and the requested ap_ids that do not exist.  (Not a dataclass,
    for cfgadm's start-up time: see rcm.model.)"""

    __slots__ = ("aps", "usage", "missing")

    def __init__(
        self,
        aps: list[ApInfo],
        usage: dict[str, list[Usage]] | None = None,
        missing: list[str] | None = None,
    ) -> None:
        self.aps = aps
        self.usage: dict[str, list[Usage]] = {} if usage is None else usage
        self.missing: list[str] = [] if missing is None else missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "aps": [a.to_dict() for a in self.aps],
            "usage": {k: [u.to_dict() for u in v] for k, v in self.usage.items()},
            "missing": list(self.missing),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Listing:
        return cls(
            [ApInfo.from_dict(a) for a in d["aps"]],
            {k: [Usage(**u) for u in v] for k, v in d.get("usage", {}).items()},
            list(d.get("missing", [])),
        )


class Service(Protocol):
    def list_aps(self, ap_ids: list[str], verbose: bool) -> Listing:
        """List every ap (``ap_ids`` empty) or the named ones."""
        ...

    def change_state(
        self, action: Action, ap_id: str, force: bool, query_only: bool = False
    ) -> Result:
        """Run cfgadm ``-c action`` on one ap.  ``query_only`` runs the query
        phase alone and reports the vetoes (used to confirm a forced detach)."""
        ...

    def close(self) -> None: ...
