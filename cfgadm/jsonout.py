"""``cfgadm --json``: one JSON document on stdout for every listing and operation.

The schema is stable and versioned (``"schema": "rcm.cfgadm/1"``); fields
are only ever added.  docs/cfgadm.md ("JSON output") describes every field.
A document is printed whenever the request reached rcm, whatever the
outcome; ``exit_status`` in it is cfgadm's.  Errors found before that
(usage, permission) are the usual ``cfgadm: …`` line on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rcm.model import ApInfo, Listing, Result

SCHEMA = "rcm.cfgadm/1"


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False)


def listing_document(listing: Listing, aps: Sequence[ApInfo], status: int) -> dict[str, Any]:
    """``cfgadm -l --json``: ``aps`` are the listing's after ``-s select/sort``."""
    return {
        "schema": SCHEMA,
        "command": "list",
        "aps": [
            {
                "ap_id": ap.ap_id,
                "class": ap.ap_id.partition(":")[0],
                **ap.to_dict(),
                "usage": [u.to_dict() for u in listing.usage.get(ap.ap_id, [])],
            }
            for ap in aps
        ],
        "missing": list(listing.missing),
        "exit_status": status,
    }


def verdict(result: Result) -> dict[str, Any]:
    """Whether the change goes (or would go) ahead, and what ``-f`` changes:
    ``with_force`` is ``"not needed"``, ``"proceeds"`` (only data vetoes
    block) or ``"refused"`` (a system veto, or it failed)."""
    from rcm.model import Impact, Outcome

    proceeds = result.outcome is Outcome.DONE
    if proceeds:
        with_force = "not needed"
    elif result.outcome is Outcome.VETOED and all(
        v.impact is not Impact.SYSTEM for v in result.vetoes
    ):
        with_force = "proceeds"
    else:
        with_force = "refused"
    return {
        "proceeds": proceeds,
        "blocking": [v.to_dict() for v in result.blocking],
        "with_force": with_force,
    }


def change_document(
    function: str,
    results: Sequence[Result],
    *,
    dry_run: bool,
    force: bool,
    options: str,
    status: int,
) -> dict[str, Any]:
    """``cfgadm -c <function> --json`` (and ``--dry-run``): one entry per ap
    handled, in order (cfgadm stops at the first that does not succeed)."""
    return {
        "schema": SCHEMA,
        "command": "change",
        "function": function,
        "dry_run": dry_run,
        "force": force,
        "options": options,
        "results": [{**r.to_dict(), "verdict": verdict(r)} for r in results],
        "exit_status": status,
    }


def test_document(results: Sequence[Result], status: int) -> dict[str, Any]:
    """``cfgadm -t --json``."""
    return {
        "schema": SCHEMA,
        "command": "test",
        "results": [r.to_dict() for r in results],
        "exit_status": status,
    }
