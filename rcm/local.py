"""The engine in cfgadm's own process, for when no rcmd is running.

Same coordinator, same handlers, same journal; state changes happen under the
system lock that rcmd would hold, so the two can never act at once.  Listing
needs no privilege: the state is read, never written.

Nothing is created until a change is certain: the engine starts on a
read-only store, and only when a request has passed the lookup (the ap
exists and its class supports the function) does cfgadm take the system lock
(creating the runtime folder), open the journal for writing (creating the
state folder and the database), and complete or roll back whatever a crash
left in flight.  A mistyped ap_id leaves nothing behind.
"""

from __future__ import annotations

from rcm.coordinator import Coordinator
from rcm.errors import RcmError
from rcm.model import Action, Listing, Result
from rcm.paths import Paths
from rcm.plugins import make_plugin_manager
from rcm.store import Store
from rcm.syslock import SystemLock


class LocalService:
    def __init__(self, paths: Paths, need_write: bool) -> None:
        self.paths = paths
        self.need_write = need_write
        self.lock: SystemLock | None = None
        try:
            store = Store(paths.database, readonly=True)
            self.coordinator = Coordinator(paths, make_plugin_manager(), store=store)
            self.coordinator.configure()
        except BaseException:
            self.close()
            raise

    def list_aps(self, ap_ids: list[str], verbose: bool, dynamic: bool = False) -> Listing:
        return self.coordinator.list_aps(ap_ids, verbose, dynamic)

    def hardware_function(self, ap_id: str, function: str) -> Result:
        # A class function writes to the hardware: under the system lock, as a change.
        if self.coordinator._backend_for(ap_id) is not None:
            self._become_writer()
        return self.coordinator.hardware_function(ap_id, function)

    def class_help(self, ap_types: list[str]) -> dict[str, str]:
        return self.coordinator.class_help(ap_types)

    def change_state(
        self,
        action: Action,
        ap_id: str,
        force: bool,
        query_only: bool = False,
        options: str = "",
        confirmed: bool = False,
    ) -> Result:
        admitted = self.coordinator.admit(action, ap_id, force, query_only, options, confirmed)
        if isinstance(admitted, Result):  # no such ap, not supported, busy
            return admitted
        # A query changes nothing, unless a crash left an operation to finish first.
        if not query_only or self.coordinator.store.running():
            try:
                self._become_writer()
            except BaseException:
                self.coordinator.locks.release(admitted.token)
                raise
        return self.coordinator.run(admitted)

    def test_ap(self, ap_id: str, options: str = "") -> Result:
        return self.coordinator.test_ap(ap_id, options)

    def _become_writer(self) -> None:
        """Take the system lock, open the journal for writing, and recover."""
        if self.lock is not None:
            return
        if not self.need_write:
            raise RcmError("internal error: a read-only cfgadm session asked for a change")
        lock = SystemLock(self.paths.lock)
        lock.acquire("cfgadm")
        self.lock = lock
        self.coordinator.store.make_writable()
        self.coordinator.recover()

    def close(self) -> None:
        coordinator = getattr(self, "coordinator", None)
        if coordinator is not None:
            coordinator.stop()
        if self.lock is not None:
            self.lock.release()
            self.lock = None
