"""The engine in cfgadm's own process, for when no rcmd is running.

Same coordinator, same handlers, same journal; state changes happen under the
system lock that rcmd would hold, so the two can never act at once.  Listing
needs no privilege: without root the state is read, never written.
"""

from __future__ import annotations

import os

from rcm.coordinator import Coordinator
from rcm.model import Action, Listing, Result
from rcm.paths import Paths
from rcm.plugins import make_plugin_manager
from rcm.store import Store
from rcm.syslock import SystemLock


class LocalService:
    def __init__(self, paths: Paths, need_write: bool) -> None:
        self.lock: SystemLock | None = None
        if need_write:
            self.lock = SystemLock(paths.lock)
            self.lock.acquire("cfgadm")
        try:
            readonly = not need_write and (
                os.geteuid() != 0 or not os.access(paths.state_dir, os.W_OK)
            )
            store = Store(paths.database, readonly=readonly)
            self.coordinator = Coordinator(paths, make_plugin_manager(), store=store)
            if need_write:
                self.coordinator.start(reconcile=False)
            else:
                self.coordinator.configure()
        except BaseException:
            self.close()
            raise

    def list_aps(self, ap_ids: list[str], verbose: bool) -> Listing:
        return self.coordinator.list_aps(ap_ids, verbose)

    def change_state(
        self, action: Action, ap_id: str, force: bool, query_only: bool = False
    ) -> Result:
        return self.coordinator.change_state(action, ap_id, force, query_only)

    def close(self) -> None:
        coordinator = getattr(self, "coordinator", None)
        if coordinator is not None:
            coordinator.stop()
        if self.lock is not None:
            self.lock.release()
            self.lock = None
