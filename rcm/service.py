"""What cfgadm asks of rcm, whether rcmd answers over its socket or the
engine runs in cfgadm's own process (no rcmd running).

Both implementations (:class:`rcm.client.RemoteService`,
:class:`rcm.local.LocalService`) speak this protocol, so cfgadm is one code
path either way.
"""

from __future__ import annotations

from typing import Protocol

from rcm.model import Action, Listing, Result


class Service(Protocol):
    """cfgadm's one view of rcm: list aps, change one ap's state."""

    def list_aps(self, ap_ids: list[str], verbose: bool, dynamic: bool = False) -> Listing:
        """List every ap (``ap_ids`` empty) or the named ones (an ap_type
        names a whole class); ``dynamic`` adds the dynamic aps (``-a``)."""
        ...

    def hardware_function(self, ap_id: str, function: str) -> Result:
        """Run a class function (``cfgadm -x name[=value] ap_id``)."""
        ...

    def class_help(self, ap_types: list[str]) -> dict[str, str]:
        """Each named ap class's help (``cfgadm -h ap_type``), by prefix."""
        ...

    def change_state(
        self,
        action: Action,
        ap_id: str,
        force: bool,
        query_only: bool = False,
        options: str = "",
        confirmed: bool = False,
    ) -> Result:
        """Run cfgadm ``-c action`` on one ap.  ``query_only`` runs the query
        phase alone and reports the vetoes and the plan (to confirm a forced
        detach; ``--dry-run``).  ``options`` are ``-o``'s, for the ap class.
        ``confirmed``: the admin said yes to the class's question (without
        it, a class that asks answers ``Outcome.UNCONFIRMED``)."""
        ...

    def test_ap(self, ap_id: str, options: str = "") -> Result:
        """Run cfgadm ``-t`` on one ap: its class's test function, if any."""
        ...

    def close(self) -> None: ...
