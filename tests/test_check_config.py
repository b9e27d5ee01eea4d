"""What ``rcmd --check-config`` reports: the engine collects each handler's
one-line summary from ``rcm_configure`` and the daemon prints it beside the
folders, the handlers (name and module) and the ap classes.

(tests/test_control.py runs the real ``rcmd --check-config``; these use
handlers of their own, which no installed plugin is.)
"""

from __future__ import annotations

from pathlib import Path

from rcm import hookimpl
from rcm.coordinator import Coordinator
from rcm.daemon import describe_configuration
from rcm.paths import Paths
from rcm.plugins import make_plugin_manager
from rcm.store import Store
from rcm.testing import SlotBackend, SlotPlugin, make_slots


class Summarizer:
    def __init__(self, summary: object) -> None:
        self.summary = summary

    @hookimpl
    def rcm_configure(self, ctx):
        return self.summary


def coordinator(tmp_path: Path, **handlers: object) -> Coordinator:
    paths = Paths(tmp_path / "etc", tmp_path / "state", tmp_path / "run")
    backend = SlotBackend(make_slots(tmp_path / "sys", "s1"), False)
    pm = make_plugin_manager(
        load_entry_points=False, extra=[("slots", SlotPlugin(backend)), *handlers.items()]
    )
    return Coordinator(paths, pm, settings={}, store=Store(paths.database, readonly=True))


def test_configure_collects_summaries(tmp_path: Path) -> None:
    c = coordinator(
        tmp_path,
        guard=Summarizer("protects 2 resources\n  (from rcm.toml)"),
        quiet=Summarizer(None),
    )
    try:
        c.configure()
        # One line each; a handler with nothing to say is not listed.
        assert c.summaries == {"guard": "protects 2 resources (from rcm.toml)"}
        lines = describe_configuration(c.paths, c)
    finally:
        c.stop()
    assert lines[0] == f"config folder:  {tmp_path / 'etc'} (missing)"
    assert lines[2:4] == [
        f"state folder:   {tmp_path / 'state'}",
        f"runtime folder: {tmp_path / 'run'}",
    ]
    assert lines[4] == "handlers:       3"
    handlers = [line.split(None, 2) for line in lines[5:8]]
    assert handlers[0] == ["guard", __name__ + ":", "protects 2 resources (from rcm.toml)"]
    assert handlers[1] == ["quiet", __name__]
    assert handlers[2][:2] == ["slots", "rcm.testing"]
    assert lines[-1] == "ap classes:     slot (slots)"
    assert not (tmp_path / "state").exists()


def test_a_summary_that_is_no_string_is_reported_not_fatal(tmp_path: Path) -> None:
    c = coordinator(tmp_path, odd=Summarizer(["not", "a", "line"]))
    try:
        c.configure()
        assert c.summaries == {
            "odd": "(rcm_configure returned list; expected None or a one-line summary)"
        }
    finally:
        c.stop()
