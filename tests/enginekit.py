"""A tiny world for engine tests: slots that can be detached, and handlers
that record what they are told.

The coordinator is generic; its tests need an ap class whose hardware step
cannot fail by accident and whose state survives a process being killed, so
the slot backend keeps each slot's state in a file under a fake sysfs-like
folder (``<root>/<slot>/present``), read exactly as a real backend reads the
kernel.  That backend is product (plugin authors test against it), so it
lives in :mod:`rcm.testing`; it is re-exported here for the engine's tests.
The Recorder stays here: it logs to a file so that a test can read the log
after a crash, which plugin authors rarely need (rcm.testing's CallLog is
in memory).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rcm import hookimpl
from rcm.model import Impact, Veto
from rcm.testing import SlotBackend, SlotPlugin, make_slots


class Recorder:
    """A handler that consumes given resources, logs every call to a file
    (so a test can read it after a crash) and can be told to veto, raise or
    hang."""

    def __init__(
        self,
        log: Path,
        resources: list[str],
        veto: Veto | str | None = None,
        fail_offline: bool = False,
        sleep_offline: float = 0.0,
        dependents: dict[str, str] | None = None,
    ) -> None:
        self.log = log
        self.resources = resources
        self.veto = veto
        self.fail_offline = fail_offline
        self.sleep_offline = sleep_offline
        self.dependents = dependents or {}
        self.late_error: Exception | None = None

    def _write(self, ctx, *what: object) -> None:
        with self.log.open("a") as f:
            f.write(json.dumps([ctx.name, *what]) + "\n")

    @hookimpl
    def rcm_register(self, ctx):
        return self.resources

    @hookimpl
    def rcm_get_info(self, ctx, resource):
        return f"{ctx.name} uses {resource}"

    @hookimpl
    def rcm_request_offline(self, ctx, resource, query, force):
        self._write(ctx, "query" if query else "offline", resource)
        dep = self.dependents.get(resource)
        if dep:
            ctx.request_offline(dep, query=query, force=force)
        if query:
            return self.veto
        if self.sleep_offline:
            time.sleep(self.sleep_offline)
            try:
                ctx.store.set("late", resource)
            except Exception as e:  # the fence
                self.late_error = e
        if self.fail_offline:
            raise RuntimeError("cannot release")
        ctx.store.set(f"offline:{resource}", True)
        return None

    @hookimpl
    def rcm_notify_online(self, ctx, resource):
        self._write(ctx, "online", resource)
        ctx.store.delete(f"offline:{resource}")

    @hookimpl
    def rcm_notify_remove(self, ctx, resource, surprise):
        self._write(ctx, "remove", resource, surprise)


def read_log(path: Path) -> list[list]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


__all__ = ["Impact", "Recorder", "SlotBackend", "SlotPlugin", "make_slots", "read_log"]
