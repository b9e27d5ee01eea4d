"""The engine: vetoes, impacts, rollback order, timeouts, locks, dependents."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from enginekit import Recorder, SlotBackend, SlotPlugin, make_slots, read_log

from rcm import hookimpl
from rcm.coordinator import Coordinator
from rcm.errors import BusyError, OperationFenced
from rcm.locks import LockTable
from rcm.model import Action, Impact, Outcome, Veto
from rcm.paths import Paths
from rcm.plugins import make_plugin_manager

DEV = "/devices/s1"


def build(
    tmp_path: Path,
    handlers: dict[str, Recorder],
    fail_disconnect: bool = False,
    timeout: float = 5.0,
) -> Coordinator:
    paths = Paths(tmp_path / "etc", tmp_path / "state", tmp_path / "run")
    backend = SlotBackend(make_slots(tmp_path / "sys", "s1", "s2"), fail_disconnect)
    pm = make_plugin_manager(
        load_entry_points=False, extra=[("slots", SlotPlugin(backend)), *handlers.items()]
    )
    coord = Coordinator(paths, pm, settings={"handlers": {"timeout": timeout}})
    coord.start()
    return coord


@pytest.fixture
def logf(tmp_path: Path) -> Path:
    return tmp_path / "calls.log"


def test_every_veto_is_collected_and_nothing_changes(tmp_path, logf):
    c = build(
        tmp_path,
        {
            "a": Recorder(logf, [DEV], veto="a needs it"),
            "b": Recorder(logf, [DEV], veto=Veto("b needs it too", Impact.DATA)),
        },
    )
    r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
    assert r.outcome is Outcome.VETOED and r.exit_status == 1
    assert {(v.handler, v.reason) for v in r.vetoes} == {
        ("a", "a needs it"),
        ("b", "b needs it too"),
    }
    assert all(call[1] == "query" for call in read_log(logf))  # nobody released
    assert (tmp_path / "sys/s1/present").read_text().strip() == "1"


def test_force_overrides_data_but_never_system(tmp_path, logf):
    c = build(tmp_path, {"a": Recorder(logf, [DEV], veto="data veto")})
    r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=True)
    assert r.outcome is Outcome.DONE
    assert [(v.resource, v.reason) for v in r.forced_past] == [(DEV, "data veto")]
    assert (tmp_path / "sys/s1/present").read_text().strip() == "0"

    c2 = build(
        tmp_path / "2", {"a": Recorder(logf, [DEV], veto=Veto("kernel root", Impact.SYSTEM))}
    )
    r2 = c2.change_state(Action.UNCONFIGURE, "slot:s1", force=True)
    assert r2.outcome is Outcome.VETOED
    assert [v.reason for v in r2.blocking] == ["kernel root"] and not r2.overridable
    assert (tmp_path / "2/sys/s1/present").read_text().strip() == "1"


def test_warning_is_shown_and_proceeds(tmp_path, logf):
    c = build(tmp_path, {"a": Recorder(logf, [DEV], veto=Veto("just so you know", Impact.WARNING))})
    r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
    assert r.outcome is Outcome.DONE
    assert [(v.resource, v.reason) for v in r.warnings] == [(DEV, "just so you know")]


def test_phases_run_in_order_and_remove_follows_hardware(tmp_path, logf):
    c = build(tmp_path, {"a": Recorder(logf, [DEV]), "b": Recorder(logf, [DEV])})
    assert c.change_state(Action.UNCONFIGURE, "slot:s1", force=False).outcome is Outcome.DONE
    assert [x[:2] for x in read_log(logf)] == [
        ["a", "query"],
        ["b", "query"],
        ["a", "offline"],
        ["b", "offline"],
        ["a", "remove"],
        ["b", "remove"],
    ]
    assert c.store.is_removed(DEV)


def test_hardware_failure_rolls_back_in_reverse_order(tmp_path, logf):
    c = build(
        tmp_path, {"a": Recorder(logf, [DEV]), "b": Recorder(logf, [DEV])}, fail_disconnect=True
    )
    r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
    assert r.outcome is Outcome.FAILED and r.rolled_back
    assert "slot power stuck on" in r.message
    tail = [x[:2] for x in read_log(logf)][-2:]
    assert tail == [["b", "online"], ["a", "online"]]
    assert not c.store.is_removed(DEV)
    assert c.store.for_handler("a").get(f"offline:{DEV}") is None  # restored


def test_a_raising_handler_rolls_back_those_that_released(tmp_path, logf):
    c = build(tmp_path, {"a": Recorder(logf, [DEV]), "b": Recorder(logf, [DEV], fail_offline=True)})
    r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
    assert r.outcome is Outcome.FAILED and r.rolled_back
    assert "handler b failed" in r.message and "cannot release" in r.message
    calls = [x[:2] for x in read_log(logf)]
    assert calls[-2:] == [["b", "online"], ["a", "online"]]
    assert (tmp_path / "sys/s1/present").read_text().strip() == "1"


def test_a_hung_handler_times_out_is_fenced_and_rolled_back(tmp_path, logf):
    slow = Recorder(logf, [DEV], sleep_offline=0.45)
    c = build(tmp_path, {"a": Recorder(logf, [DEV]), "slow": slow}, timeout=0.3)
    r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
    assert r.outcome is Outcome.FAILED and r.rolled_back
    assert "timed out after 0.3 s" in r.message
    # rollback waited for the stuck call to end, then restored it
    assert [x[:2] for x in read_log(logf)][-2:] == [["slow", "online"], ["a", "online"]]
    assert isinstance(slow.late_error, OperationFenced)
    assert c.store.for_handler("slow").get("late") is None
    # the engine is still responsive
    assert c.change_state(Action.UNCONFIGURE, "slot:s2", force=False).outcome is Outcome.DONE


def test_a_handler_still_stuck_fails_fast(tmp_path, logf):
    stuck = Recorder(logf, [DEV, "/devices/s2"], sleep_offline=3.0)
    c = build(tmp_path, {"stuck": stuck}, timeout=0.2)
    t0 = time.monotonic()
    r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
    assert r.outcome is Outcome.FAILED
    assert "rollback incomplete" in " ".join(r.messages)
    r2 = c.change_state(Action.UNCONFIGURE, "slot:s2", force=False)
    assert r2.outcome is Outcome.FAILED and "still stuck" in r2.message
    assert time.monotonic() - t0 < 2.5  # neither waited for the 3 s sleep


def test_busy_resource_fails_at_once(tmp_path, logf):
    c = build(tmp_path, {"a": Recorder(logf, [DEV])})
    op = c.admit(Action.UNCONFIGURE, "slot:s1", False)
    r = c.change_state(Action.CONFIGURE, "slot:s1", False)
    assert r.outcome is Outcome.BUSY
    assert r.message == (
        "Resource is busy: slot:s1 is in use by unconfigure slot:s1 (still asking its handlers)"
    )
    assert c.run(op).outcome is Outcome.DONE
    assert c.change_state(Action.CONFIGURE, "slot:s1", False).outcome is Outcome.DONE


class Holding(Recorder):
    """Stops in its offline call until told to go on."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.inside = threading.Event()
        self.go_on = threading.Event()

    @hookimpl
    def rcm_request_offline(self, ctx, resource, query, force):
        if not query:
            self.inside.set()
            self.go_on.wait(10)
        return super().rcm_request_offline(ctx, resource, query, force)


def test_busy_names_the_operation_by_its_journal_id(tmp_path, logf):
    """The admin sees journal ids (recovery reports, logs), never the
    in-memory token the lock table tells operations apart by."""
    holding = Holding(logf, [DEV])
    c = build(tmp_path, {"a": holding})
    c.admit(Action.UNCONFIGURE, "slot:s2", False)  # takes a token, no journal id
    op = c.admit(Action.UNCONFIGURE, "slot:s1", False)
    results = []
    worker = threading.Thread(target=lambda: results.append(c.run(op)))
    worker.start()
    try:
        assert holding.inside.wait(10)
        assert op.id is not None and op.id != op.token
        r = c.change_state(Action.CONFIGURE, "slot:s1", False)
        assert r.outcome is Outcome.BUSY
        assert r.message == (
            f"Resource is busy: slot:s1 is in use by unconfigure slot:s1 (operation {op.id})"
        )
    finally:
        holding.go_on.set()
        worker.join(10)
    assert [r.outcome for r in results] == [Outcome.DONE]


@dataclass
class Held:
    token: int
    id: int | None = None
    description: str = "an operation"


def test_descendant_and_ancestor_conflict(tmp_path):
    t = LockTable()
    one, two, three = Held(1), Held(2), Held(3)
    t.acquire(["/devices/pci0/0000:03.0"], one)
    with pytest.raises(BusyError):
        t.acquire(["/devices/pci0/0000:03.0/net/eth1"], two)
    with pytest.raises(BusyError):
        t.acquire(["/devices/pci0"], two)
    t.acquire(["/devices/pci0/0000:03.01"], two)  # a sibling, not a descendant
    t.release(1)
    with pytest.raises(BusyError):
        t.acquire(["/devices/pci0"], three)  # two still holds a descendant
    assert t.holder("/devices/pci0") is two
    t.release(2)
    t.acquire(["/devices/pci0"], three)


def test_dependents_go_offline_first_and_come_back_first(tmp_path, logf):
    """A device handler asks the coordinator to take net/x offline; rollback
    restores the device before the network consumer, completion order reversed."""
    dev = Recorder(logf, [DEV], dependents={DEV: "net/x"})
    ipmp = Recorder(logf, ["net/x"])
    c = build(tmp_path, {"dev": dev, "ipmp": ipmp}, fail_disconnect=True)
    r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
    assert r.outcome is Outcome.FAILED
    calls = [x[:3] for x in read_log(logf)]
    assert calls == [
        ["dev", "query", DEV],
        ["ipmp", "query", "net/x"],
        ["dev", "offline", DEV],
        ["ipmp", "offline", "net/x"],
        ["dev", "online", DEV],
        ["ipmp", "online", "net/x"],
    ]


def test_dependent_vetoes_reach_the_admin(tmp_path, logf):
    dev = Recorder(logf, [DEV], dependents={DEV: "net/x"})
    ipmp = Recorder(logf, ["net/x"], veto="last member of group g")
    c = build(tmp_path, {"dev": dev, "ipmp": ipmp})
    r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
    assert r.outcome is Outcome.VETOED
    assert [(v.resource, v.handler) for v in r.vetoes] == [("net/x", "ipmp")]


def test_surprise_removal_versus_intended_removal(tmp_path, logf):
    c = build(tmp_path, {"a": Recorder(logf, [DEV, "/devices/s2"])})
    c.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
    n = len(read_log(logf))
    c.resource_removed(DEV)  # the uevent after our own detach: expected
    assert len(read_log(logf)) == n
    c.resource_removed("/devices/s2")  # nobody asked: a surprise
    assert read_log(logf)[-1] == ["a", "remove", "/devices/s2", True]
    c.resource_added("/devices/s2")
    assert read_log(logf)[-1] == ["a", "online", "/devices/s2"]


def test_listing_and_usage(tmp_path, logf):
    c = build(tmp_path, {"a": Recorder(logf, [DEV])})
    listing = c.list_aps([], verbose=True)
    assert [a.ap_id for a in listing.aps] == ["slot:s1", "slot:s2"]
    assert [u.info for u in listing.usage["slot:s1"]] == [f"a uses {DEV}"]
    assert listing.usage["slot:s2"] == []
    assert c.list_aps(["slot:nope"], False).missing == ["slot:nope"]


def test_unknown_ap_and_concurrent_admission_is_thread_safe(tmp_path, logf):
    c = build(tmp_path, {"a": Recorder(logf, [DEV])})
    assert c.change_state(Action.UNCONFIGURE, "slot:zz", False).outcome is Outcome.NO_SUCH_AP
    assert c.change_state(Action.UNCONFIGURE, "nocolon", False).outcome is Outcome.NO_SUCH_AP
    results = []
    ops = []

    def admit():
        ops.append(c.admit(Action.UNCONFIGURE, "slot:s1", False))

    threads = [threading.Thread(target=admit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    admitted = [o for o in ops if not hasattr(o, "outcome")]
    results = [o for o in ops if hasattr(o, "outcome")]
    assert len(admitted) == 1 and all(r.outcome is Outcome.BUSY for r in results)


# -- the order implementations run in: pluggy's, tryfirst/trylast honoured --------
class First(Recorder):
    """A Recorder whose offline request is marked tryfirst."""

    @hookimpl(tryfirst=True)
    def rcm_request_offline(self, ctx, resource, query, force):
        return super().rcm_request_offline(ctx, resource, query, force)


class Last(Recorder):
    """A Recorder whose offline request is marked trylast."""

    @hookimpl(trylast=True)
    def rcm_request_offline(self, ctx, resource, query, force):
        return super().rcm_request_offline(ctx, resource, query, force)


def test_handlers_run_in_name_order_whatever_order_they_are_registered_in(tmp_path, logf):
    c = build(tmp_path, {"b": Recorder(logf, [DEV]), "a": Recorder(logf, [DEV])})
    assert c.implementers("rcm_request_offline") == ["a", "b"]
    assert c.change_state(Action.UNCONFIGURE, "slot:s1", force=False).outcome is Outcome.DONE
    assert [x[:2] for x in read_log(logf)] == [
        ["a", "query"],
        ["b", "query"],
        ["a", "offline"],
        ["b", "offline"],
        ["a", "remove"],
        ["b", "remove"],
    ]


def test_tryfirst_and_trylast_order_query_and_offline_rollback_reverses_completion(tmp_path, logf):
    handlers = {"a": Last(logf, [DEV]), "m": Recorder(logf, [DEV]), "z": First(logf, [DEV])}
    c = build(tmp_path, handlers, fail_disconnect=True)
    assert c.implementers("rcm_request_offline") == ["z", "m", "a"]
    assert c.implementers("rcm_notify_online") == ["a", "m", "z"]  # unmarked: name order
    r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
    assert r.outcome is Outcome.FAILED and r.rolled_back
    assert [x[:2] for x in read_log(logf)] == [
        ["z", "query"],
        ["m", "query"],
        ["a", "query"],
        ["z", "offline"],
        ["m", "offline"],
        ["a", "offline"],
        ["a", "online"],
        ["m", "online"],
        ["z", "online"],
    ]


def test_a_tryfirst_veto_does_not_stop_the_others_being_asked(tmp_path, logf):
    c = build(
        tmp_path,
        {"a": Recorder(logf, [DEV], veto="a needs it"), "z": First(logf, [DEV], veto="z too")},
    )
    r = c.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
    assert r.outcome is Outcome.VETOED
    assert [(v.handler, v.reason) for v in r.vetoes] == [("z", "z too"), ("a", "a needs it")]
    assert [x[:2] for x in read_log(logf)] == [["z", "query"], ["a", "query"]]
