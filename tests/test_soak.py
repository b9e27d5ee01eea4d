"""The soak (bench/soak.py), short and seeded, and what it found.

The short run is the one CI affords: 40 seeded random steps in the lab (detach and attach with
and without -f, surprise removal and return, carrier flaps, SIGKILL of rcmd, concurrent clients,
an unprivileged flood, faults injected through a third-party handler), the invariant checked
after each.  The long run is the README's command; docs/reliability.md has its last result.

Each finding of the soak stays here as a regression test, at the level where it was wrong.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from enginekit import Recorder, SlotBackend, SlotPlugin, make_slots

from rcm import hookimpl
from rcm.coordinator import Coordinator
from rcm.model import Action, Outcome
from rcm.paths import Paths
from rcm.plugins import make_plugin_manager

REPO = Path(__file__).resolve().parents[1]
DEV = "/devices/s1"


@pytest.mark.lab
def test_short_seeded_soak_finds_no_violation(lab: None, tmp_path: Path) -> None:
    result = tmp_path / "soak.json"
    r = subprocess.run(
        [sys.executable, str(REPO / "bench" / "soak.py"), "--seed", "7", "--ops", "40"]
        + ["--json", str(result)],
        capture_output=True,
        text=True,
        timeout=900,
        start_new_session=True,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    got = json.loads(result.read_text())
    assert got["violations"] == 0 and got["steps_done"] == 40, got
    # The run did what it says: state changes happened, and some were refused.
    outcomes = got["outcomes"]
    assert any(k.endswith("exit 0") and k.split(":")[0] in ("attach", "detach") for k in outcomes)
    assert sum(got["steps"].values()) == 40, got


# -- findings -------------------------------------------------------------------------------


class GarbageRegister(Recorder):
    """Registers DEV once, then answers rcm_register with something that is not a list of
    names (soak, seed 1, step 15: an int; the attach's re-registration died with a traceback
    in rcmd's worker and the attach failed as "internal error")."""

    def __init__(self, log: Path, garbage: object) -> None:
        super().__init__(log, [DEV])
        self.garbage = garbage
        self.calls = 0

    @hookimpl
    def rcm_register(self, ctx):
        self.calls += 1
        return [DEV] if self.calls == 1 else self.garbage


@pytest.mark.parametrize("garbage", [42, "net/*", [DEV, 7], {"a": 1}], ids=repr)
def test_a_garbage_registration_keeps_the_previous_one(
    tmp_path: Path, garbage: object, caplog: pytest.LogCaptureFixture
) -> None:
    paths = Paths(tmp_path / "etc", tmp_path / "state", tmp_path / "run")
    backend = SlotBackend(make_slots(tmp_path / "sys", "s1"))
    handler = GarbageRegister(tmp_path / "calls.log", garbage)
    pm = make_plugin_manager(
        load_entry_points=False, extra=[("slots", SlotPlugin(backend)), ("bad", handler)]
    )
    coord = Coordinator(paths, pm, settings={"handlers": {"timeout": 5.0}})
    coord.start()
    try:
        assert coord.handlers_for(DEV) == ["bad"]
        r = coord.change_state(Action.UNCONFIGURE, "slot:s1", force=False)
        assert r.outcome is Outcome.DONE, r
        with caplog.at_level(logging.ERROR):
            r = coord.change_state(Action.CONFIGURE, "slot:s1", force=False)  # re-registers
        assert r.outcome is Outcome.DONE, r
        assert handler.calls >= 2
        assert coord.handlers_for(DEV) == ["bad"]  # the previous registration, not "n", "e" …
        assert "handler bad returned" in caplog.text and "rcm_register" in caplog.text
    finally:
        coord.stop()
