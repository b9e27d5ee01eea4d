"""Crash recovery says only what it saw (issue 9, fault 1 b/c), on the engine alone.

The lab tests (tests/test_lab_recovery.py, tests/test_lab_recovery_scale.py) check the same
against the kernel; these check the coordinator's part with a handler that hangs on cue.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from enginekit import Recorder, SlotBackend, SlotPlugin, make_slots

from rcm import hookimpl
from rcm.coordinator import Coordinator
from rcm.model import Event
from rcm.paths import Paths
from rcm.plugins import make_plugin_manager
from rcm.store import Store

DEV = "/devices/s1"


class SlowOnline(Recorder):
    """Takes ``sleep_online`` seconds to bring a resource back."""

    def __init__(self, log: Path, sleep_online: float) -> None:
        super().__init__(log, [DEV])
        self.sleep_online = sleep_online
        self.returned = threading.Event()

    @hookimpl
    def rcm_notify_online(self, ctx, resource):
        time.sleep(self.sleep_online)
        self.returned.set()


def interrupted(tmp_path: Path, handler: Recorder, timeout: float) -> Coordinator:
    """A coordinator started over a journal holding a detach interrupted while ``handler``
    was releasing DEV (the slot still present: recovery rolls back)."""
    paths = Paths(tmp_path / "etc", tmp_path / "state", tmp_path / "run")
    paths.state_dir.mkdir(parents=True)
    store = Store(paths.database)
    op = store.begin("detach", "slot:s1", "unconfigure", [DEV], False)
    store.set_phase(op, "offline")
    store.step(op, "offline", "h", DEV, "started")
    store.close()
    backend = SlotBackend(make_slots(tmp_path / "sys", "s1"), False)
    pm = make_plugin_manager(
        load_entry_points=False, extra=[("slots", SlotPlugin(backend)), ("h", handler)]
    )
    return Coordinator(paths, pm, settings={"handlers": {"timeout": timeout}})


def state_of(c: Coordinator) -> str:
    return c.store._conn().execute("SELECT state FROM operations").fetchone()[0]


def test_a_rollback_every_handler_finished_is_reported_restored(tmp_path):
    c = interrupted(tmp_path, SlowOnline(tmp_path / "log", 0.0), timeout=5)
    c.configure()
    (report,) = c.recover()
    assert "rolled back; the previous configuration was restored" in report
    assert state_of(c) == "rolled_back"
    c.stop()


def test_a_handler_past_its_timeout_in_recovery_is_not_reported_restored(tmp_path):
    slow = SlowOnline(tmp_path / "log", 0.6)
    c = interrupted(tmp_path, slow, timeout=0.2)
    events: list[Event] = []
    c.event_sink = events.append
    c.configure()
    (report,) = c.recover()
    assert "restored" not in report.replace("not verified as restored", "")
    assert "marked failed" in report and "timed out after 0.2 s" in report
    assert "slot:s1's occupant is attached" in report
    assert "rcmd reconciles when handler h returns" in report
    assert state_of(c) == "failed" and c.store.running() == []
    steps = c.store._conn().execute("SELECT phase, handler, status FROM steps ORDER BY seq")
    assert steps.fetchall()[-1] == ("online", "h", "failed")
    # The late call returns: a reconcile is posted for the worker, once.
    assert slow.returned.wait(5)
    deadline = time.monotonic() + 5
    while not events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [(e.source, e.action) for e in events] == [("rcm", "reconcile")]
    assert "handler h returned from a call that had timed out" in events[0].get("REASON")
    c.stop()


def test_in_process_recovery_posts_nothing_when_a_late_call_returns(tmp_path):
    """cfgadm without rcmd has no worker to reconcile on; rcmd's next start reconciles."""
    slow = SlowOnline(tmp_path / "log", 0.4)
    c = interrupted(tmp_path, slow, timeout=0.1)
    c.configure()
    (report,) = c.recover()
    assert "marked failed" in report and "reconciles" not in report
    assert slow.returned.wait(5)
    c.stop()


class SlowReconcile(Recorder):
    def __init__(self, log: Path, sleep: float) -> None:
        super().__init__(log, [DEV])
        self.sleep = sleep
        self.returned = threading.Event()

    @hookimpl
    def rcm_reconcile(self, ctx, reason):
        time.sleep(self.sleep)
        self.returned.set()


def test_a_late_reconcile_is_not_followed_by_another(tmp_path):
    """A reconcile that ran past the timeout was the look at the system, only late: posting
    another would loop for as long as the timeout is too short for one."""
    slow = SlowReconcile(tmp_path / "log", 0.4)
    c = interrupted(tmp_path, slow, timeout=0.1)
    events: list[Event] = []
    c.event_sink = events.append
    c.configure()
    c.recover()
    c.reconcile("start")
    assert slow.returned.wait(5)
    time.sleep(0.2)
    assert events == []
    c.stop()
