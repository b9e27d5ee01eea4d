"""The engine's side of live reload, reports and offline-in-place: generic,
tested with recording handlers (no networking)."""

from __future__ import annotations

from pathlib import Path

import pytest
from enginekit import Recorder, SlotBackend, SlotPlugin, make_slots, read_log

from rcm import hookimpl
from rcm.coordinator import Coordinator, ResourceAction
from rcm.errors import ConfigError
from rcm.model import Outcome, Veto
from rcm.paths import Paths
from rcm.plugins import make_plugin_manager
from rcm.requests import BadRequest, validate

DEV = "/devices/s1"


class Reloading:
    """Prepares a value (or refuses), commits it, answers reports."""

    def __init__(self, value: str, refuse: bool = False, report_fails: bool = False) -> None:
        self.value = value
        self.in_force = "start"
        self.refuse = refuse
        self.report_fails = report_fails

    @hookimpl
    def rcm_reload_prepare(self, ctx):
        if self.refuse:
            raise ConfigError(ctx.config_dir / "x.toml", "k", "bad value")
        return self.value

    @hookimpl
    def rcm_reload_commit(self, ctx, prepared):
        self.in_force = prepared
        return f"now {prepared}"

    @hookimpl
    def rcm_report(self, ctx, topic):
        if self.report_fails:
            raise RuntimeError("cannot tell")
        return {"in_force": self.in_force} if topic == "mine" else None


def build(tmp_path: Path, handlers: dict[str, object]) -> Coordinator:
    paths = Paths(tmp_path / "etc", tmp_path / "state", tmp_path / "run")
    backend = SlotBackend(make_slots(tmp_path / "sys", "s1"))
    pm = make_plugin_manager(
        load_entry_points=False, extra=[("slots", SlotPlugin(backend)), *handlers.items()]
    )
    coord = Coordinator(paths, pm, settings={"handlers": {"timeout": 5.0}})
    coord.start()
    return coord


def test_reload_is_all_or_nothing(tmp_path: Path) -> None:
    a, b = Reloading("new-a"), Reloading("new-b", refuse=True)
    c = build(tmp_path, {"a": a, "b": b})
    try:
        with pytest.raises(ConfigError, match="k: bad value"):
            c.reload()
        assert (a.in_force, b.in_force) == ("start", "start")  # nobody committed
        b.refuse = False
        assert c.reload() == ["a: now new-a", "b: now new-b"]
        assert (a.in_force, b.in_force) == ("new-a", "new-b")
    finally:
        c.stop()


def test_a_bad_rcm_toml_refuses_the_reload(tmp_path: Path) -> None:
    a = Reloading("new")
    c = build(tmp_path, {"a": a})
    try:
        c.paths.config_dir.mkdir(parents=True, exist_ok=True)
        c.paths.rcm_toml.write_text("[handlers]\ntimeout = 'soon'\n")
        with pytest.raises(ConfigError):
            c.reload()
        assert a.in_force == "start" and c.timeout == 5.0
    finally:
        c.stop()


def test_report_collects_answers_and_errors(tmp_path: Path) -> None:
    c = build(tmp_path, {"a": Reloading("x"), "b": Reloading("y", report_fails=True)})
    try:
        got = c.report("mine")
        assert got["a"] == {"in_force": "start"}
        assert "cannot tell" in got["b"]["error"]
        assert c.report("other") == {"b": got["b"]}  # a has nothing to say
    finally:
        c.stop()


def test_offline_in_place_queries_journals_and_never_removes(tmp_path: Path) -> None:
    logf = tmp_path / "calls.log"
    c = build(tmp_path, {"r": Recorder(logf, [DEV])})
    try:
        op = c.admit_resource(ResourceAction.OFFLINE, DEV)
        result = c.run(op)  # type: ignore[arg-type]
        assert result.outcome is Outcome.DONE
        assert [x[1:] for x in read_log(logf)] == [["query", DEV], ["offline", DEV]]
        assert c.store.for_handler("r").get(f"offline:{DEV}") is True  # still offline
        result = c.run(c.admit_resource(ResourceAction.ONLINE, DEV))  # type: ignore[arg-type]
        assert result.outcome is Outcome.DONE
        assert read_log(logf)[-1][1:] == ["online", DEV]
        assert not any(x[1] == "remove" for x in read_log(logf))
    finally:
        c.stop()


def test_offline_in_place_veto_and_rollback(tmp_path: Path) -> None:
    logf = tmp_path / "calls.log"
    c = build(tmp_path, {"v": Recorder(logf, [DEV], veto=Veto("needed"))})
    try:
        result = c.run(c.admit_resource(ResourceAction.OFFLINE, DEV))  # type: ignore[arg-type]
        assert result.outcome is Outcome.VETOED and result.vetoes[0].reason == "needed"
        assert [x[1] for x in read_log(logf)] == ["query"]
    finally:
        c.stop()
    logf2 = tmp_path / "calls2.log"
    c = build(tmp_path / "2", {"f": Recorder(logf2, [DEV], fail_offline=True)})
    try:
        result = c.run(c.admit_resource(ResourceAction.OFFLINE, DEV))  # type: ignore[arg-type]
        assert result.outcome is Outcome.FAILED and result.rolled_back
        assert [x[1] for x in read_log(logf2)] == ["query", "offline", "online"]
    finally:
        c.stop()


def test_nobody_uses_it(tmp_path: Path) -> None:
    c = build(tmp_path, {})
    try:
        r = c.admit_resource(ResourceAction.OFFLINE, "net/nosuch")
        assert r.outcome is Outcome.NO_SUCH_AP and r.message == "no handler uses net/nosuch"
    finally:
        c.stop()


def test_an_interrupted_offline_in_place_is_rolled_back(tmp_path: Path) -> None:
    logf = tmp_path / "calls.log"
    c = build(tmp_path, {"r": Recorder(logf, [DEV])})
    # as a crash in the offline phase leaves it: begun, one step started
    op_id = c.store.begin("offline", DEV, "offline", [DEV], False)
    c.store.set_phase(op_id, "offline")
    c.store.step(op_id, "offline", "r", DEV, "started")
    try:
        reports = c.recover()
        assert reports == [
            f"recovered operation {op_id} (offline {DEV}, interrupted in phase offline):"
            " rolled back; the previous configuration was restored"
        ]
        assert read_log(logf)[-1][1:] == ["online", DEV]
    finally:
        c.stop()


def test_request_schemas() -> None:
    assert validate({"op": "report", "topic": "ipmp"}) == ("report", {"topic": "ipmp"})
    assert validate({"op": "reload"}) == ("reload", {})
    with pytest.raises(BadRequest, match="topic is missing"):
        validate({"op": "report"})
    with pytest.raises(BadRequest, match="resource must be a string"):
        validate({"op": "resource_state", "action": "offline", "resource": 1})
