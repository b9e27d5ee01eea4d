"""RCM scripts (rcm_scripts): real shell scripts through every phase and every exit code.

Each test writes /bin/sh scripts into a temporary config folder (``<root>/etc/scripts``, mode
0755, owned by the user running the tests: root in CI) and drives them through the real
coordinator with :class:`rcm.testing.Harness`: a slot ``slot:s1`` carrying ``/devices/s1``.
The scripts append one line per call to a file, ``<command> <resource> force=<RCM_ENV_FORCE>``,
which is what most tests assert on.  ``[plugins.scripts] dirs`` points at a temporary folder,
so /usr/lib/rcm/scripts is never read.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rcm_scripts.plugin import ScriptsPlugin
from rcm_scripts.process import SAFE_PATH, environment, run

from rcm.context import HandlerContext
from rcm.errors import ConfigError
from rcm.model import Impact, Outcome
from rcm.testing import Harness

DEV = "/devices/s1"
INFO = "echo rcm_script_version=1; echo rcm_script_func_info=test script"


def script_text(calls: Path, cases: dict[str, str], names: tuple[str, ...] = (DEV,)) -> str:
    """A /bin/sh RCM script: logs each call to ``calls``, answers ``scriptinfo`` and
    ``register`` (unless ``cases`` says otherwise), runs ``cases[command]``, else exits 2."""
    cases = dict(cases)
    cases.setdefault("scriptinfo", INFO)
    cases.setdefault("register", "; ".join(f"echo 'rcm_resource_name={n}'" for n in names))
    arms = "\n".join(f"{cmd})\n{body}\n;;" for cmd, body in cases.items())
    return (
        "#!/bin/sh\n"
        f'echo "$1 $2 force=${{RCM_ENV_FORCE-unset}}" >> {calls}\n'
        f'case "$1" in\n{arms}\n*) exit 2 ;;\nesac\n'
    )


class Rig:
    """The folders of one test: scripts go in ``scripts``, their calls land in ``calls``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scripts = root / "etc" / "scripts"
        self.scripts.mkdir(parents=True)
        self.other = root / "usr-lib-rcm-scripts"  # stands for /usr/lib/rcm/scripts
        self.other.mkdir()
        self.calls = root / "calls"
        self.toml = f'[plugins.scripts]\ndirs = ["{self.other}"]\n'

    def add(
        self, name: str, cases: dict[str, str], folder: Path | None = None, **kw: object
    ) -> Path:
        path = (folder or self.scripts) / name
        path.write_text(script_text(self.calls, cases, **kw))  # type: ignore[arg-type]
        path.chmod(0o755)
        return path

    def called(self) -> list[str]:
        if not self.calls.exists():
            return []
        return [" ".join(line.split()) for line in self.calls.read_text().splitlines()]

    def harness(
        self, slots: object = ("s1",), plugin: ScriptsPlugin | None = None, extra: str = ""
    ) -> Harness:
        return Harness(
            self.root,
            plugins={"scripts": plugin or ScriptsPlugin(kill_grace=0.5)},
            slots=list(slots) if isinstance(slots, tuple) else slots,  # type: ignore[arg-type]
            rcm_toml=self.toml + extra,
            timeout=5,
        )


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- the phases -----------------------------------------------------------------------------


def test_every_phase_runs_its_command_with_the_resource_as_argument(rig: Rig) -> None:
    rig.add(
        "guard", {c: "exit 0" for c in ("queryremove", "preremove", "postremove", "undoremove")}
    )
    with rig.harness() as h:
        assert rig.called() == ["scriptinfo force=unset", "register force=unset"]
        assert h.handlers_for(DEV) == ["scripts"]
        assert h.detach("slot:s1").outcome is Outcome.DONE
        assert h.attach("slot:s1").outcome is Outcome.DONE
    assert rig.called()[2:] == [
        f"queryremove {DEV} force=FALSE",
        f"preremove {DEV} force=FALSE",
        f"postremove {DEV} force=unset",
        "register force=unset",  # the attach re-registers; scriptinfo is asked once per file
        f"undoremove {DEV} force=unset",
    ]


def test_a_rollback_sends_undoremove_to_every_script_whose_preremove_ran(rig: Rig) -> None:
    rig.add("a_ok", {"preremove": "exit 0", "undoremove": "exit 0"})
    rig.add("b_fails", {"preremove": "echo rcm_failure_reason=app will not stop; exit 1"})
    with rig.harness() as h:
        result = h.detach("slot:s1")
        assert result.outcome is Outcome.FAILED and result.rolled_back, result
        assert "script b_fails: preremove /devices/s1 failed: app will not stop" in result.message
        assert h.present("s1")  # the hardware step never ran
        assert h.store("scripts").items() == []  # every undo succeeded: nothing left to undo
    calls = rig.called()
    assert calls.count(f"undoremove {DEV} force=unset") == 2  # the failing one is undone too
    assert not any(c.startswith("postremove") for c in calls)


def test_undoremove_reaches_the_script_after_a_restart(rig: Rig) -> None:
    # What preremove ran on is in the store, not in memory: a fresh process still undoes it.
    rig.add("guard", {"preremove": "exit 0", "undoremove": "exit 0"})
    with rig.harness() as h:
        assert h.detach("slot:s1").outcome is Outcome.DONE
        assert h.store("scripts").items() == [("released:/devices/s1", ["guard"])]
        h.restart(plugins={"scripts": ScriptsPlugin()})
        assert h.attach("slot:s1").outcome is Outcome.DONE
        assert h.store("scripts").items() == []
    assert rig.called()[-1] == f"undoremove {DEV} force=unset"


def test_a_failed_undoremove_is_asked_again_at_the_next_online(rig: Rig) -> None:
    flag = rig.root / "fail"
    flag.touch()
    rig.add("guard", {"undoremove": f"[ -e {flag} ] && exit 1; exit 0"})
    with rig.harness() as h:
        h.detach("slot:s1")
        result = h.attach("slot:s1")
        assert result.outcome is Outcome.FAILED
        assert "script guard: undoremove /devices/s1 failed" in result.message
        assert h.store("scripts").items() == [("released:/devices/s1", ["guard"])]
        flag.unlink()
        h.hot_add("/devices/s1")  # the device "appears" again: online once more
        assert h.store("scripts").items() == []
    assert [c for c in rig.called() if c.startswith("undoremove")] == [
        f"undoremove {DEV} force=unset"
    ] * 2


def test_an_attach_of_something_never_detached_undoes_nothing(rig: Rig) -> None:
    rig.add("guard", {"undoremove": "exit 0"})
    with rig.harness() as h:
        h.surprise_remove("slot:s1")
        assert h.attach("slot:s1").outcome is Outcome.DONE
    assert not any(c.startswith("undoremove") for c in rig.called())


# -- exit codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level_line", "impact", "forced"),
    [
        ("", Impact.DATA, Outcome.DONE),
        ("echo rcm_veto_level=data;", Impact.DATA, Outcome.DONE),
        ("echo rcm_veto_level=system;", Impact.SYSTEM, Outcome.VETOED),
        ("echo rcm_veto_level=warning;", Impact.WARNING, Outcome.DONE),
    ],
)
def test_exit_3_in_queryremove_is_a_veto_at_the_level_the_script_names(
    rig: Rig, level_line: str, impact: Impact, forced: Outcome
) -> None:
    rig.add("nfs", {"queryremove": f"{level_line} echo 'rcm_failure_reason=exports /srv'; exit 3"})
    with rig.harness() as h:
        result = h.detach("slot:s1")
        veto = result.vetoes[0]
        assert (veto.reason, veto.impact, veto.resource, veto.handler) == (
            "nfs: exports /srv",
            impact,
            DEV,
            "scripts",
        )
        assert result.outcome is (Outcome.DONE if impact is Impact.WARNING else Outcome.VETOED)
        if result.outcome is Outcome.VETOED:
            assert h.present("s1")
            assert not any(c.startswith("preremove") for c in rig.called())
            assert h.detach("slot:s1", force=True).outcome is forced


def test_force_gets_past_a_data_veto_and_the_script_sees_it(rig: Rig) -> None:
    refuse_unless_forced = (
        '[ "$RCM_ENV_FORCE" = TRUE ] && exit 0; echo rcm_failure_reason=in use; exit 3'
    )
    rig.add("guard", {"queryremove": "echo rcm_failure_reason=in use; exit 3",
                      "preremove": refuse_unless_forced})  # fmt: skip
    with rig.harness() as h:
        assert h.detach("slot:s1").outcome is Outcome.VETOED
        result = h.detach("slot:s1", force=True)
        assert result.outcome is Outcome.DONE, result
        assert [v.reason for v in result.forced_past] == ["guard: in use"]
        assert not h.present("s1")
    assert [c for c in rig.called() if not c.startswith("resourceinfo")][2:] == [
        f"queryremove {DEV} force=FALSE",
        f"queryremove {DEV} force=TRUE",
        f"preremove {DEV} force=TRUE",
        f"postremove {DEV} force=unset",
    ]


def test_several_refusing_scripts_make_one_veto_at_the_highest_level(rig: Rig) -> None:
    rig.add("a", {"queryremove": "echo rcm_failure_reason=reason a; exit 3"})
    rig.add("b", {"queryremove": "echo rcm_veto_level=system; echo rcm_failure_reason=b; exit 3"})
    with rig.harness() as h:
        (veto,) = h.detach("slot:s1").vetoes
    assert (veto.impact, veto.handler, veto.reason) == (
        Impact.SYSTEM,
        "scripts",
        "a: reason a; b: b",
    )


def test_exit_1_in_queryremove_fails_the_detach_and_releases_nothing(rig: Rig) -> None:
    rig.add("guard", {"queryremove": "echo rcm_failure_reason=cannot tell; exit 1"})
    with rig.harness() as h:
        result = h.detach("slot:s1", force=True)
        assert result.outcome is Outcome.FAILED
        assert result.message == (
            "query failed: script guard: queryremove /devices/s1 failed: cannot tell"
        )
        assert h.present("s1")
    assert not any(c.startswith("preremove") for c in rig.called())


@pytest.mark.parametrize("status", [4, 127])
def test_an_unknown_exit_status_is_an_error_naming_it(rig: Rig, status: int) -> None:
    rig.add("guard", {"queryremove": f"exit {status}"})
    with rig.harness() as h:
        result = h.detach("slot:s1")
    assert result.outcome is Outcome.FAILED
    assert f"queryremove /devices/s1 exited with status {status}" in result.message


def test_exit_2_is_no_opinion_in_every_phase(rig: Rig) -> None:
    rig.add("quiet", {})  # answers scriptinfo and register; exits 2 to everything else
    with rig.harness() as h:
        assert h.listing().usage["slot:s1"] == []
        result = h.detach("slot:s1")
        assert (result.outcome, result.vetoes, result.messages) == (Outcome.DONE, [], [])
        assert h.attach("slot:s1").outcome is Outcome.DONE
    assert [c.split()[0] for c in rig.called()] == [
        "scriptinfo", "register", "resourceinfo", "queryremove", "preremove", "postremove",
        "register", "undoremove",
    ]  # fmt: skip


def test_a_failing_postremove_is_reported_and_the_detach_still_done(rig: Rig) -> None:
    rig.add("guard", {"postremove": "echo rcm_failure_reason=could not restart app; exit 1"})
    with rig.harness() as h:
        result = h.detach("slot:s1")
        assert result.outcome is Outcome.DONE, result
        assert not h.present("s1")
        assert any(
            "postremove /devices/s1 failed: could not restart app" in m for m in result.messages
        )


def test_resourceinfo_is_the_usage_line_in_the_listing(rig: Rig) -> None:
    rig.add("nfs", {"resourceinfo": "echo 'rcm_resource_usage_info=exports /srv over nic2'"})
    rig.add("broken", {"resourceinfo": "echo rcm_failure_reason=no idea; exit 1"})
    with rig.harness() as h:
        (usage,) = h.listing().usage["slot:s1"]
    assert usage.handler == "scripts"
    assert usage.info == (
        "broken: (no information: script broken: resourceinfo /devices/s1 failed: no idea); "
        "nfs: exports /srv over nic2"
    )


def test_log_lines_are_logged_under_the_script_name(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.add("chatty", {"queryremove": "\n".join([
        "echo rcm_log_err=an error", "echo rcm_log_warn=a warning",
        "echo rcm_log_info=some info", "echo rcm_log_debug=a detail",
        "echo on stderr >&2", "exit 0",
    ])})  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="rcm.handler.scripts")
    with rig.harness() as h:
        h.detach("slot:s1")
    got = [(r.name, r.levelno, r.getMessage()) for r in caplog.records if "chatty" in r.name]
    assert got == [
        ("rcm.handler.scripts.chatty", logging.WARNING, f"queryremove {DEV}: stderr: on stderr"),
        ("rcm.handler.scripts.chatty", logging.ERROR, "an error"),
        ("rcm.handler.scripts.chatty", logging.WARNING, "a warning"),
        ("rcm.handler.scripts.chatty", logging.INFO, "some info"),
        ("rcm.handler.scripts.chatty", logging.DEBUG, "a detail"),
    ]


# -- what a script runs with ----------------------------------------------------------------


def test_a_script_gets_a_fixed_environment_null_stdin_and_its_own_session(rig: Rig) -> None:
    out = rig.root / "seen"
    probe = (
        f"env | sort > {out}.env; readlink /proc/self/fd/0 > {out}.stdin;"
        f" cat /proc/$$/stat > {out}.stat; pwd > {out}.cwd; exit 0"
    )
    rig.add("probe", {"queryremove": probe})
    os.environ["RCM_SCRIPTS_TEST_LEAK"] = "rcmd's own"
    try:
        with rig.harness(extra="debug_level = 7\n") as h:
            h.detach("slot:s1")
    finally:
        del os.environ["RCM_SCRIPTS_TEST_LEAK"]
    env = dict(line.split("=", 1) for line in Path(f"{out}.env").read_text().splitlines())
    env.pop("PWD", None)  # the shell's own
    env.pop("SHLVL", None)
    env.pop("_", None)
    assert env == {"PATH": SAFE_PATH, "RCM_ENV_DEBUG_LEVEL": "7", "RCM_ENV_FORCE": "FALSE"}
    assert Path(f"{out}.stdin").read_text().strip() == "/dev/null"
    assert Path(f"{out}.cwd").read_text().strip() == "/"
    stat = Path(f"{out}.stat").read_text()
    pid = int(stat.split()[0])
    pgrp, session = (int(x) for x in stat.rsplit(")", 1)[1].split()[2:4])
    assert pgrp == pid and session == pid  # the leader of its own session and group


def test_a_resource_name_reaches_the_script_verbatim_and_no_shell_reads_it(rig: Rig) -> None:
    hostile = "mount/x;$(touch${IFS}PWNED)`touch${IFS}PWNED2`&|*"  # the fake sysfs splits on spaces
    rig.add("guard", {"queryremove": f'printf "%s\\n" "$2" > {rig.root}/arg; exit 0'},
            names=(hostile,))  # fmt: skip
    with rig.harness(slots={"s1": [hostile]}) as h:
        assert h.detach("slot:s1").outcome is Outcome.DONE
    assert (rig.root / "arg").read_text() == hostile + "\n"
    assert not list(Path("/").glob("PWNED*")) and not list(rig.root.rglob("PWNED*"))


def test_registered_patterns_match_concrete_names(rig: Rig) -> None:
    rig.add("all_devices", {"queryremove": "exit 0"}, names=("/devices/*",))
    with rig.harness() as h:
        assert h.handlers_for(DEV) == ["scripts"]
        h.detach("slot:s1")
    assert f"queryremove {DEV} force=FALSE" in rig.called()  # the concrete name, not the pattern


# -- timeouts ---------------------------------------------------------------------------------


def test_a_hanging_script_is_ended_at_its_own_timeout_with_its_whole_group(rig: Rig) -> None:
    pids = rig.root / "pids"
    rig.add("hang", {
        "scriptinfo": INFO + "; echo rcm_cmd_timeout=1",
        "queryremove": f"sleep 30 & echo $$ $! > {pids}; wait",
    })  # fmt: skip
    with rig.harness() as h:
        result = h.detach("slot:s1")
        assert result.outcome is Outcome.FAILED
        assert "script hang: queryremove /devices/s1 timed out after 1 s" in result.message
        assert "SIGABRT sent to its process group" in result.message
        assert h.present("s1")
        script, child = (int(p) for p in pids.read_text().split())
        assert wait_for(lambda: not alive(script) and not alive(child)), "group survived"


def test_the_handler_call_bounds_a_script_without_a_timeout_of_its_own(rig: Rig) -> None:
    # rcm_cmd_timeout=0: no limit of its own; the handler's call (timeout 5 s) still ends it,
    # so the coordinator never has to abandon the handler.
    rig.add("hang", {"scriptinfo": INFO + "; echo rcm_cmd_timeout=0", "queryremove": "sleep 30"})
    with rig.harness() as h:
        result = h.detach("slot:s1")
    assert "script hang: queryremove /devices/s1 timed out after 4.5 s" in result.message


def test_sigkill_follows_sigabrt_after_the_grace(tmp_path: Path) -> None:
    script = tmp_path / "stubborn"
    script.write_text(f"#!/bin/sh\ntrap '' ABRT\nsleep 30 &\necho $$ $! > {tmp_path}/pids\nwait\n")
    script.chmod(0o755)
    done = []
    outcome = run([str(script)], environment(0), 0.5, kill_grace=2.0, done=lambda: done.append(1))
    assert outcome.timed_out and outcome.status is None
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert all(alive(p) for p in pids) and not done  # SIGABRT is ignored: both still there
    assert wait_for(lambda: bool(done), 10.0)
    assert not any(alive(p) for p in pids)  # SIGKILL, to the group


def test_a_script_that_left_a_process_holding_stdout_does_not_hold_rcm_up(tmp_path: Path) -> None:
    script = tmp_path / "daemonizes"
    script.write_text(f"#!/bin/sh\necho rcm_log_info=hi\nsleep 30 &\necho $! > {tmp_path}/pid\n")
    script.chmod(0o755)
    outcome = run([str(script)], environment(0), 20.0)
    try:
        assert (outcome.status, outcome.stdout, outcome.timed_out) == (
            0,
            "rcm_log_info=hi\n",
            False,
        )
    finally:
        os.kill(int((tmp_path / "pid").read_text()), 9)


# -- protocol errors ----------------------------------------------------------------------------


def test_scriptinfo_without_a_version_disables_the_script(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.add("old", {"scriptinfo": "echo rcm_script_func_info=no version", "queryremove": "exit 3"})
    with rig.harness() as h:
        assert h.handlers_for(DEV) == []
        assert h.detach("slot:s1").outcome is Outcome.DONE
    assert rig.called() == ["scriptinfo force=unset"]  # never asked anything else
    (message,) = [r.getMessage() for r in caplog.records if "disabled" in r.getMessage()]
    assert message.startswith(f"script old ({rig.scripts / 'old'}) disabled: scriptinfo: no")


def test_an_unknown_line_disables_the_script_until_the_file_changes(rig: Rig) -> None:
    path = rig.add("typo", {"queryremove": "echo rcm_failure_reson=typo; exit 3"})
    with rig.harness() as h:
        result = h.detach("slot:s1")
        assert result.outcome is Outcome.FAILED
        assert result.message == (
            "query failed: script typo: queryremove: line 1: rcm_failure_reson is not an answer"
            " to queryremove; the script is disabled"
        )
        assert h.detach("slot:s1").outcome is Outcome.DONE  # disabled: no longer asked
        h.attach("slot:s1")
        rig.add("typo", {"queryremove": "echo rcm_failure_reason=fixed; exit 3"})
        os.utime(path, ns=(0, time.time_ns() + 10**9))  # a visibly new version
        h.reregister()
        assert [v.reason for v in h.detach("slot:s1").vetoes] == ["typo: fixed"]


@pytest.mark.parametrize(
    ("cases", "fault"),
    [
        ({"scriptinfo": "echo rcm_script_version=2; echo rcm_script_func_info=x"},
         "rcm_script_version=2: only version 1 is known"),
        ({"scriptinfo": INFO + "; echo rcm_cmd_timeout=soon"}, "rcm_cmd_timeout=soon"),
        ({"scriptinfo": "echo rcm_script_version=1"}, "no rcm_script_func_info"),
        ({"register": "echo /devices/s1"}, "line 1 is not name=value: '/devices/s1'"),
        ({"queryremove": "echo rcm_veto_level=severe; exit 3"}, "rcm_veto_level=severe"),
        ({"queryremove": "head -c 70000 /dev/zero | tr '\\0' '\\n'; exit 0"},
         "queryremove: more than 65536 bytes on stdout"),
    ],
)  # fmt: skip
def test_protocol_errors_name_the_fault(
    rig: Rig, caplog: pytest.LogCaptureFixture, cases: dict[str, str], fault: str
) -> None:
    rig.add("bad", cases)
    with rig.harness() as h:
        result = h.detach("slot:s1")
    text = result.message + " ".join(r.getMessage() for r in caplog.records)
    assert fault in text and "disabled" in text


# -- ownership and mode -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        (lambda p: os.chown(p, 1000, -1), "refused: owned by uid 1000, not root"),
        (lambda p: p.chmod(0o775), "refused: writable by group or others (mode 775)"),
        (lambda p: p.chmod(0o757), "refused: writable by group or others (mode 757)"),
        (lambda p: p.chmod(0o644), "refused: not executable (mode 644)"),
    ],
)
def test_an_unsafe_script_stops_the_start_naming_the_file(
    rig: Rig, change: Callable[[Path], None], fault: str
) -> None:
    if os.geteuid() != 0 and "uid" in fault:
        pytest.skip("chown needs root")
    path = rig.add("guard", {})
    change(path)
    with pytest.raises(ConfigError) as caught:
        rig.harness()
    assert str(caught.value) == f"{path}: {fault}"
    assert rig.called() == []  # never run


def test_an_unsafe_scripts_folder_is_refused(rig: Rig) -> None:
    rig.add("guard", {})
    rig.scripts.chmod(0o777)
    with pytest.raises(ConfigError, match=rf"^{rig.scripts}: refused: folder writable by group"):
        rig.harness()


def test_a_script_made_unsafe_after_start_is_not_run(rig: Rig) -> None:
    path = rig.add("guard", {"queryremove": "exit 0"})
    with rig.harness() as h:
        path.chmod(0o777)
        result = h.detach("slot:s1")
    assert result.outcome is Outcome.FAILED
    assert result.message == (
        f"query failed: script guard: queryremove /devices/s1 not run: {path}: refused:"
        " writable by group or others (mode 777)"
    )
    assert not any(c.startswith("queryremove") for c in rig.called())


# -- folders ------------------------------------------------------------------------------------


def test_config_folder_scripts_hide_same_named_ones_from_dirs(rig: Rig) -> None:
    rig.add("guard", {"queryremove": "echo rcm_failure_reason=local; exit 3"})
    rig.add("guard", {"queryremove": "echo rcm_failure_reason=shipped; exit 3"}, folder=rig.other)
    rig.add("vendor", {"queryremove": "echo rcm_failure_reason=vendor; exit 3"}, folder=rig.other)
    (rig.scripts / "guard~").write_text("editor backup, not a script")
    (rig.scripts / ".hidden").write_text("not a script")
    with rig.harness() as h:
        (veto,) = h.detach("slot:s1").vetoes
    assert veto.reason == "guard: local; vendor: vendor"


@pytest.mark.parametrize(
    ("toml", "fault"),
    [
        ("bogus = 1", "plugins.scripts.bogus: unknown key"),
        ('dirs = "/x"', "plugins.scripts.dirs: must be a list of absolute folder paths"),
        ('dirs = ["relative"]', "plugins.scripts.dirs: must be a list of absolute folder paths"),
        ("max_parallel = 0", "plugins.scripts.max_parallel: must be a whole number from 1 to 64"),
        ("debug_level = 10", "plugins.scripts.debug_level: must be a whole number from 0 to 9"),
    ],
)
def test_configuration_errors_name_the_key(tmp_path: Path, toml: str, fault: str) -> None:
    with pytest.raises(ConfigError, match=fault):
        Harness(
            tmp_path, plugins={"scripts": ScriptsPlugin()}, rcm_toml=f"[plugins.scripts]\n{toml}\n"
        )


# -- concurrency ----------------------------------------------------------------------------------


@pytest.fixture
def four_scripts(rig: Rig) -> Iterator[tuple[Rig, Path]]:
    """Four scripts on /devices/s1 that record how many scripts run at once."""
    slots = rig.root / "running"
    slots.mkdir()
    body = (f"touch {slots}/$$; ls {slots} | wc -l >> {rig.root}/at_once; sleep 0.3; "
            f"rm {slots}/$$; exit 0")  # fmt: skip
    for name in "abcd":
        rig.add(name, {"queryremove": body})
    yield rig, rig.root / "at_once"


def test_scripts_run_in_parallel_up_to_max_parallel(four_scripts: tuple[Rig, Path]) -> None:
    rig, at_once = four_scripts
    with rig.harness(extra="max_parallel = 2\n") as h:
        assert h.detach("slot:s1").outcome is Outcome.DONE
    counts = [int(n) for n in at_once.read_text().split()]
    assert len(counts) == 4 and max(counts) == 2


def test_one_script_is_never_run_twice_at_once(rig: Rig) -> None:
    # One script registered for two resources, asked about both from two threads at once
    # (as a stuck call and the next one would be): the second run waits for the first.
    marker = rig.root / "inside"
    rig.add("solo", {"queryremove": f"[ -e {marker} ] && echo overlap >> {rig.root}/overlaps;"
                     f" touch {marker}; sleep 0.3; rm {marker}; exit 0"},
            names=("/devices/s1", "/devices/s2"))  # fmt: skip
    plugin = ScriptsPlugin()
    with rig.harness(slots=("s1", "s2"), plugin=plugin) as h:
        import threading

        ctx = HandlerContext(h.coordinator, "scripts", None)
        threads = [
            threading.Thread(target=plugin.rcm_request_offline, args=(ctx, dev, True, False))
            for dev in ("/devices/s1", "/devices/s2")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(c for c in rig.called() if c.startswith("queryremove")) == [
        "queryremove /devices/s1 force=FALSE",
        "queryremove /devices/s2 force=FALSE",
    ]
    assert not (rig.root / "overlaps").exists()
