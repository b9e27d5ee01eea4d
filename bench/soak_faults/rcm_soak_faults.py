"""A third-party rcm handler that misbehaves on request, for bench/soak.py.

Never install this on a real system.  It loads the way any third-party handler
loads: ``rcm_soak_faults-0.1.dist-info/entry_points.txt`` beside this file
declares it in the ``rcm.plugins`` entry-point group, so putting this folder
on rcmd's ``PYTHONPATH`` installs it (the plugin ownership check applies to it
like to any other).

It registers ``net/*`` and, on every hook call, looks for an *arm file* (the
path is ``[plugins.soakfault] arm`` in rcm.toml).  The file holds one JSON
object ``{"hook": "rcm_request_offline", "kind": "raise"|"hang"|"garbage",
"seconds": 5.5, "query": false}``; the first call of that hook (and, for
``rcm_request_offline``, with that ``query``) claims it by renaming it (so a
fault fires once) and then:

- ``raise``: raises RuntimeError;
- ``hang``: sleeps ``seconds`` (the soak picks a time past the handler
  timeout but short of twice it, so the rollback sees the call end), then
  returns normally;
- ``garbage``: returns a value of the wrong type for the hook.

Each firing is appended, one JSON line, to ``<arm>.fired``, so the soak knows
which of its faults were reached.  Without an arm file the handler agrees to
everything and changes nothing.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pluggy

from rcm.errors import ConfigError

hookimpl = pluggy.HookimplMarker("rcm")

NAME = "soakfault"

GARBAGE: dict[str, Any] = {
    "rcm_request_offline": 42,  # neither None, a string nor a Veto
    "rcm_get_info": {"not": "a line"},
    "rcm_register": 42,  # not a list of names
}


class SoakFaults:
    """The handler object the entry point names (``rcm_soak_faults:plugin``)."""

    def __init__(self) -> None:
        self.arm: str | None = None

    def _fault(self, hook: str, query: bool | None = None) -> Any:
        """Fire the armed fault if it is for this call; the value to return."""
        if self.arm is None:
            return None
        try:
            with open(self.arm, encoding="utf-8") as f:
                spec = json.load(f)
        except (OSError, ValueError):
            return None
        if spec.get("hook") != hook:
            return None
        if query is not None and spec.get("query", query) != query:
            return None
        try:  # claim it: of two racing calls, one renames, the other finds nothing
            os.rename(self.arm, self.arm + ".claimed")
        except OSError:
            return None
        with open(self.arm + ".fired", "a", encoding="utf-8") as f:
            f.write(json.dumps({**spec, "at": time.time()}) + "\n")
        kind = spec.get("kind")
        if kind == "raise":
            raise RuntimeError(f"soak fault injected into {hook}")
        if kind == "hang":
            time.sleep(float(spec.get("seconds", 1.0)))
            return None
        if kind == "garbage":
            return GARBAGE.get(hook, object())
        return None

    @hookimpl
    def rcm_configure(self, ctx: Any) -> str | None:
        section = ctx.settings.get("plugins", {}).get(NAME, {})
        arm = section.get("arm")
        if arm is not None and not isinstance(arm, str):
            raise ConfigError(ctx.config_dir / "rcm.toml", f"plugins.{NAME}.arm", "must be a path")
        self.arm = arm
        return f"fault injection armed by {arm}" if arm else "no arm file: inert"

    @hookimpl
    def rcm_register(self, ctx: Any) -> Any:
        garbage = self._fault("rcm_register")
        return garbage if garbage is not None else ["net/*"]

    @hookimpl
    def rcm_get_info(self, ctx: Any, resource: str) -> Any:
        return self._fault("rcm_get_info")

    @hookimpl
    def rcm_request_offline(self, ctx: Any, resource: str, query: bool, force: bool) -> Any:
        return self._fault("rcm_request_offline", query)

    @hookimpl
    def rcm_notify_online(self, ctx: Any, resource: str) -> None:
        self._fault("rcm_notify_online")

    @hookimpl
    def rcm_notify_remove(self, ctx: Any, resource: str, surprise: bool) -> None:
        self._fault("rcm_notify_remove")

    @hookimpl
    def rcm_notify_event(self, ctx: Any, event: Any) -> None:
        self._fault("rcm_notify_event")

    @hookimpl
    def rcm_reconcile(self, ctx: Any, reason: str) -> None:
        self._fault("rcm_reconcile")


plugin = SoakFaults()
