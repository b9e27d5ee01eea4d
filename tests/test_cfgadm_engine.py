"""What the engine gives cfgadm's full option set: -o options to the ap class, the class's
question (-y/-n), -t, and the query's answers, plans and tree (--dry-run, --json).

Against the coordinator with the fake slot class (rcm.testing) and recording handlers.
"""

from __future__ import annotations

from pathlib import Path

from enginekit import Recorder, SlotBackend, SlotPlugin, make_slots, read_log

from rcm import hookimpl
from rcm.coordinator import Coordinator
from rcm.errors import HardwareError
from rcm.model import Action, ApInfo, Outcome
from rcm.paths import Paths
from rcm.plugins import make_plugin_manager


class OptionSlots(SlotBackend):
    """The slot class with every optional member: options, a question, a test."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.seen: list[tuple[str, str, str]] = []

    def check_options(self, action: Action, options: str) -> str | None:
        return None if options in ("speed=fast", "speed=slow") else f"bad option {options!r}"

    def disconnect(self, ap: ApInfo, action: Action, options: str = "") -> None:
        self.seen.append(("disconnect", ap.ap_id, options))
        super().disconnect(ap, action)

    def connect(self, ap: ApInfo, action: Action, options: str = "") -> None:
        self.seen.append(("connect", ap.ap_id, options))
        super().connect(ap, action)

    def describe(self, ap: ApInfo, action: Action, options: str = "") -> str:
        return f"power {ap.ap_id} {'off' if action.detaches else 'on'} ({options or 'default'})"

    def confirm(self, ap: ApInfo, action: Action, options: str = "") -> str | None:
        if action is Action.DISCONNECT:
            return f"This operation will suspend activity on {ap.ap_id}"
        return None

    def test(self, ap: ApInfo, options: str = "") -> str:
        if ap.ap_id == "slot:s2":
            raise HardwareError("slot:s2: self-test failed")
        return f"{ap.ap_id}: self-test passed"


class Planner(Recorder):
    """A recording handler that says what it would do when queried."""

    @hookimpl
    def rcm_request_offline(self, ctx, resource, query, force):
        if query:
            ctx.plan(f"{ctx.name} would release {resource}")
        else:
            ctx.message(f"{ctx.name} released {resource}")
        return super().rcm_request_offline(ctx, resource, query, force)


def build(tmp_path: Path, handlers: dict, backend: SlotBackend | None = None) -> Coordinator:
    paths = Paths(tmp_path / "etc", tmp_path / "state", tmp_path / "run")
    backend = backend or OptionSlots(make_slots(tmp_path / "sys", "s1", "s2"))
    pm = make_plugin_manager(
        load_entry_points=False, extra=[("slots", SlotPlugin(backend)), *handlers.items()]
    )
    coord = Coordinator(paths, pm, settings={"handlers": {"timeout": 5.0}})
    coord.start()
    return coord


def test_options_reach_the_hardware_step(tmp_path: Path) -> None:
    backend = OptionSlots(make_slots(tmp_path / "sys", "s1", "s2"))
    c = build(tmp_path, {}, backend)
    try:
        r = c.change_state(Action.UNCONFIGURE, "slot:s1", False, options="speed=slow")
        assert r.outcome is Outcome.DONE
        assert r.hardware == "power slot:s1 off (speed=slow)"
        r = c.change_state(Action.CONFIGURE, "slot:s1", False)
        assert r.outcome is Outcome.DONE
        assert backend.seen == [("disconnect", "slot:s1", "speed=slow"), ("connect", "slot:s1", "")]
    finally:
        c.stop()


def test_a_bad_option_is_refused_before_anyone_is_asked(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    c = build(tmp_path, {"a": Recorder(log, ["/devices/s1"])})
    try:
        r = c.change_state(Action.UNCONFIGURE, "slot:s1", False, options="speed=warp")
        assert r.outcome is Outcome.FAILED and r.exit_status == 1
        assert r.message == "slot:s1: bad option 'speed=warp'"
        assert read_log(log) == []
        assert (tmp_path / "sys/s1/present").read_text().strip() == "1"
    finally:
        c.stop()


def test_a_class_without_options_says_not_supported(tmp_path: Path) -> None:
    c = build(tmp_path, {}, SlotBackend(make_slots(tmp_path / "sys", "s1")))
    try:
        r = c.change_state(Action.UNCONFIGURE, "slot:s1", False, options="x=1")
        assert r.outcome is Outcome.NOT_SUPPORTED and r.exit_status == 2
        assert "Hardware specific options not supported by ap class slot: x=1" in r.message
        assert c.test_ap("slot:s1").outcome is Outcome.NOT_SUPPORTED
    finally:
        c.stop()


def test_the_class_question_until_confirmed(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    c = build(tmp_path, {"a": Recorder(log, ["/devices/s1"])})
    try:
        r = c.change_state(Action.DISCONNECT, "slot:s1", False)
        assert r.outcome is Outcome.UNCONFIRMED and r.exit_status == 1
        assert r.message == "This operation will suspend activity on slot:s1"
        assert read_log(log) == [] and (tmp_path / "sys/s1/present").read_text().strip() == "1"
        # a dry run is not asked; the confirmed request goes through
        assert c.change_state(Action.DISCONNECT, "slot:s1", False, True).outcome is Outcome.DONE
        r = c.change_state(Action.DISCONNECT, "slot:s1", False, confirmed=True)
        assert r.outcome is Outcome.DONE
        assert (tmp_path / "sys/s1/present").read_text().strip() == "0"
    finally:
        c.stop()


def test_t_runs_the_class_test(tmp_path: Path) -> None:
    c = build(tmp_path, {})
    try:
        r = c.test_ap("slot:s1")
        assert r.outcome is Outcome.DONE and r.messages == ["slot:s1: self-test passed"]
        r = c.test_ap("slot:s2")
        assert r.outcome is Outcome.FAILED and "self-test failed" in r.message
        assert c.test_ap("slot:s9").outcome is Outcome.NO_SUCH_AP
    finally:
        c.stop()


def test_query_answers_plans_and_tree_in_order(tmp_path: Path) -> None:
    """A dry run (query only): each handler's answer, what it would do, and the dependents
    a handler named under the resource it named them for; nothing released."""
    log = tmp_path / "calls.log"
    c = build(
        tmp_path,
        {
            "dev": Planner(log, ["/devices/s1"], dependents={"/devices/s1": "net/eth1"}),
            "ipmp": Planner(log, ["net/eth1"]),
        },
    )
    try:
        r = c.change_state(Action.UNCONFIGURE, "slot:s1", False, query_only=True)
        assert r.outcome is Outcome.DONE
        assert r.tree == [
            {"resource": "/devices/s1", "parent": None},
            {"resource": "net/eth1", "parent": "/devices/s1"},
        ]
        assert [(a["handler"], a["resource"], a["plan"]) for a in r.answers] == [
            ("dev", "/devices/s1", ["dev would release /devices/s1"]),
            ("ipmp", "net/eth1", ["ipmp would release net/eth1"]),
        ]
        assert [u.info for u in r.usage] == ["dev uses /devices/s1"]
        assert r.messages == [] and all(call[1] == "query" for call in read_log(log))
        assert r.hardware == "power slot:s1 off (default)"

        r = c.change_state(Action.UNCONFIGURE, "slot:s1", False)
        offline = [a for a in r.answers if a["phase"] == "offline"]
        assert [(a["handler"], a["status"], a["messages"]) for a in offline] == [
            ("dev", "done", ["dev released /devices/s1"]),
            ("ipmp", "done", ["ipmp released net/eth1"]),
        ]
        assert r.messages == ["dev released /devices/s1", "ipmp released net/eth1"]
    finally:
        c.stop()
