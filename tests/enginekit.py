"""A tiny world for engine tests: slots that can be detached, and handlers
that record what they are told.

The coordinator is generic; its tests need an ap class whose hardware step
cannot fail by accident and whose state survives a process being killed, so
the slot backend keeps each slot's state in a file under a fake sysfs-like
folder (``<root>/<slot>/present``), read exactly as a real backend reads the
kernel.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rcm import hookimpl
from rcm.errors import HardwareError
from rcm.model import Action, ApInfo, Condition, Impact, Occupant, Receptacle, Veto


class SlotBackend:
    prefix = "slot"

    def __init__(self, root: Path, fail_disconnect: bool = False) -> None:
        self.root = root
        self.fail_disconnect = fail_disconnect

    def _present(self, name: str) -> bool:
        return (self.root / name / "present").read_text().strip() == "1"

    def list(self) -> list[ApInfo]:
        return [a for a in (self.get(f"slot:{p.name}") for p in sorted(self.root.iterdir())) if a]

    def get(self, ap_id: str) -> ApInfo | None:
        name = ap_id.partition(":")[2]
        if not (self.root / name).is_dir():
            return None
        present = self._present(name)
        return ApInfo(
            ap_id,
            "slot",
            Receptacle.CONNECTED if present else Receptacle.DISCONNECTED,
            Occupant.CONFIGURED if present else Occupant.UNCONFIGURED,
            Condition.OK if present else Condition.UNKNOWN,
            resources=(f"/devices/{name}",),
        )

    def supports(self, action: Action) -> bool:
        return True

    def disconnect(self, ap: ApInfo, action: Action) -> None:
        if self.fail_disconnect:
            raise HardwareError(f"{ap.ap_id}: slot power stuck on")
        (self.root / ap.ap_id.partition(":")[2] / "present").write_text("0\n")

    def connect(self, ap: ApInfo, action: Action) -> None:
        (self.root / ap.ap_id.partition(":")[2] / "present").write_text("1\n")

    def detached(self, ap_id: str) -> bool:
        return not self._present(ap_id.partition(":")[2])


def make_slots(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "present").write_text("1\n")
    return root


class SlotPlugin:
    def __init__(self, backend: SlotBackend) -> None:
        self.backend = backend

    @hookimpl
    def rcm_ap_backends(self):
        return [self.backend]


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
