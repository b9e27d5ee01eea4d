"""rcm's pytest plugin, used as a handler author uses it.

Each test writes a third party's project with pytester (an installed
distribution on its ``pythonpath``: a ``*.dist-info`` with an ``rcm.plugins``
entry point, and the handler's module), then runs pytest on it in a fresh
process.  Nothing is imported or registered by hand: the plugin arrives
through rcm's ``pytest11`` entry point, the handler through its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "mount_guard"

GUARD = '''\
from rcm import hookimpl
from rcm.model import Impact, Veto


class Guard:
    """Vetoes /devices/s1 (data); records what it released."""

    def __init__(self):
        self.protect = []

    @hookimpl
    def rcm_configure(self, ctx):
        self.protect = ctx.settings.get("plugins", {}).get(ctx.name, {}).get("protect", [])

    @hookimpl
    def rcm_register(self, ctx):
        return self.protect

    @hookimpl
    def rcm_request_offline(self, ctx, resource, query, force):
        if query:
            return Veto(f"{resource} is guarded", Impact.DATA)
        ctx.store.set(f"released:{resource}", True)

    @hookimpl
    def rcm_notify_online(self, ctx, resource):
        ctx.store.delete(f"released:{resource}")

    @hookimpl
    def rcm_notify_remove(self, ctx, resource, surprise):
        ctx.store.delete(f"released:{resource}")


plugin = Guard()
'''

INI = """\
[pytest]
pythonpath = site
rcm_handler = {handler}
"""


def install(pytester: pytest.Pytester, module: str, source: str, entry: str) -> Path:
    """An installed distribution in ``site/``, as pip would leave it."""
    site = pytester.path / "site"
    dist = site / f"{module}-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[rcm.plugins]\n{entry} = {module}:plugin\n")
    (site / f"{module}.py").write_text(source)
    return site / f"{module}.py"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A third party's project: the guard installed as entry point ``guard``,
    named in the ini file."""
    install(pytester, "tp_guard", GUARD, "guard")
    pytester.makeini(INI.format(handler="guard"))
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_the_handler_named_in_the_ini_file_is_loaded_from_its_entry_point(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        from rcm.model import Impact, Outcome

        def test_veto(rcm_harness, rcm_ap, rcm_calls, rcm_handler_name, rcm_plugin):
            assert rcm_handler_name == "guard"
            assert type(rcm_plugin).__module__ == "tp_guard"
            result = rcm_harness.detach(rcm_ap)
            assert result.outcome is Outcome.VETOED
            assert [(v.handler, v.impact) for v in result.vetoes] == [("guard", Impact.DATA)]
            assert rcm_calls.steps("guard") == [("guard", "query", "/devices/s1")]

        def test_nothing_protected_nothing_asked(rcm_harness, rcm_ap, rcm_calls, rcm_sysfs):
            assert rcm_harness.detach(rcm_ap).outcome is Outcome.DONE
            assert (rcm_sysfs / "s1" / "present").read_text() == "0\\n"
            assert rcm_calls.steps("guard") == []
        """
    ).parent.joinpath("conftest.py").write_text(
        "import pytest\n\n"
        "@pytest.fixture\n"
        "def rcm_toml(request):\n"
        "    if request.node.name == 'test_veto':\n"
        "        return '[plugins.guard]\\nprotect = [\"/devices/s1\"]\\n'\n"
        "    return ''\n"
    )
    run(project).assert_outcomes(passed=2)


def test_the_marker_names_another_handler(project: pytest.Pytester) -> None:
    other = GUARD.replace("is guarded", "is watched").replace("Impact.DATA", "Impact.WARNING")
    install(project, "tp_watch", other, "watch")
    project.makepyfile(
        """
        import pytest
        from rcm.model import Outcome

        pytestmark = pytest.mark.rcm_handler("watch")

        @pytest.fixture
        def rcm_toml():
            return '[plugins.watch]\\nprotect = ["/devices/s1"]\\n'

        def test_a_warning_does_not_block(rcm_harness, rcm_ap):
            result = rcm_harness.detach(rcm_ap)
            assert result.outcome is Outcome.DONE
            assert [v.reason for v in result.warnings] == ["/devices/s1 is watched"]

        @pytest.mark.rcm_handler("guard")
        def test_the_nearest_marker_wins(rcm_harness, rcm_ap):
            assert rcm_harness.detach(rcm_ap).outcome is Outcome.DONE  # guard: nothing protected
        """
    )
    run(project).assert_outcomes(passed=2)


def test_without_a_handler_name_the_author_is_told_how_to_give_one(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_it(rcm_harness):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*which handler? set the ini option rcm_handler*"])


def test_a_handler_not_installed_is_named(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(handler="not_there"))
    pytester.makepyfile("def test_it(rcm_harness):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*no 'rcm.plugins' entry point named 'not_there' is installed*pip install*"]
    )


def test_an_unsafe_handler_is_refused_as_rcmd_refuses_it(project: pytest.Pytester) -> None:
    (project.path / "site" / "tp_guard.py").chmod(0o666)
    project.makepyfile("def test_it(rcm_harness):\n    pass\n")
    result = run(project)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*refusing plugin 'guard': *tp_guard.py is writable by group*"])


def test_a_misspelled_hook_fails_the_fixture_with_what_was_meant(
    pytester: pytest.Pytester,
) -> None:
    install(pytester, "tp_typo", GUARD.replace("rcm_notify_online", "rcm_notify_onlin"), "typo")
    pytester.makeini(INI.format(handler="typo"))
    pytester.makepyfile("def test_it(rcm_harness):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*rcm_notify_onlin is not an rcm hook; did you mean*"])


def test_configuration_by_parametrize_and_a_refused_configuration(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        import pytest
        from rcm.errors import ConfigError
        from rcm.model import Outcome

        @pytest.mark.parametrize(
            ("rcm_toml", "outcome"),
            [
                ("", Outcome.DONE),
                ('[plugins.guard]\\nprotect = ["/devices/s1"]\\n', Outcome.VETOED),
            ],
        )
        def test_outcome(rcm_harness, rcm_ap, outcome):
            assert rcm_harness.detach(rcm_ap).outcome is outcome

        def test_bad_rcm_toml(make_rcm_harness):
            with pytest.raises(ConfigError, match="handlers.timeout"):
                make_rcm_harness(rcm_toml="[handlers]\\ntimeout = -1\\n", timeout=None)

        @pytest.mark.parametrize("rcm_slots", [{"a": ["mount/srv"], "b": []}])
        def test_slots(rcm_harness, rcm_ap):
            assert rcm_ap == "slot:a"
            assert rcm_harness.listing().aps[0].resources == ("/devices/a", "mount/srv")
        """
    )
    run(project).assert_outcomes(passed=4)


def test_faults_hardware_failure_and_a_crash_between_phases(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest
        from rcm.model import Outcome

        @pytest.fixture
        def rcm_toml():
            return '[plugins.guard]\\nprotect = ["/devices/s1"]\\n'

        def test_hardware_failure_rolls_back(rcm_harness, rcm_ap, rcm_calls):
            rcm_harness.fail_hardware("disconnect")
            result = rcm_harness.detach(rcm_ap, force=True)
            assert result.outcome is Outcome.FAILED and result.rolled_back
            assert rcm_calls.steps("guard")[-1] == ("guard", "online", "/devices/s1")
            assert rcm_harness.store("guard").items() == []

        def test_crash_before_the_hardware_step(rcm_harness, rcm_ap, rcm_calls):
            reports = rcm_harness.crash_during(rcm_ap, at="offline.done", force=True)
            assert len(reports) == 1 and "rolled back" in reports[0]
            assert rcm_calls.steps("guard")[-1] == ("guard", "online", "/devices/s1")
            assert rcm_harness.present("s1")
            assert rcm_harness.store("guard").items() == []

        def test_crash_after_the_hardware_step(rcm_harness, rcm_ap, rcm_calls):
            reports = rcm_harness.crash_during(rcm_ap, at="hardware.done", force=True)
            assert len(reports) == 1 and "completed" in reports[0]
            assert not rcm_harness.present("s1")
            assert rcm_calls.steps("guard")[-1] == ("guard", "remove", "/devices/s1")
            assert rcm_harness.store("guard").items() == []

        def test_a_vetoed_operation_never_reaches_the_point(rcm_harness, rcm_ap):
            with pytest.raises(AssertionError, match="never reached offline.done"):
                rcm_harness.crash_during(rcm_ap, at="offline.done")
        """
    )
    run(project).assert_outcomes(passed=4)


def test_the_lab_fixture_gives_a_real_lab(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Skipped without root (RCM_REQUIRE_LAB=1 fails instead); as root, the
    third party's handler vetoes a real cfgadm in the namespace lab."""
    # rcmd and cfgadm are processes of their own: the handler must be
    # installed where they look (the ini's pythonpath is pytest's alone).
    monkeypatch.setenv("PYTHONPATH", str(project.path / "site"))
    project.makepyfile(
        """
        def test_real_detach(rcm_lab):
            lab = rcm_lab(rcm_settings={"plugins": {"guard": {"protect": ["net/nic0"]}}})
            lab.start_rcmd()
            run = lab.cfgadm("-c", "unconfigure", "net:nic0")
            assert run.returncode != 0, run.stdout + run.stderr
            assert "net/nic0 is guarded" in run.stderr
        """
    )
    result = run(project)
    if os.geteuid() != 0:
        result.assert_outcomes(skipped=1)
    else:
        result.assert_outcomes(passed=1)


def test_the_plugin_costs_a_pytest_run_no_engine_import() -> None:
    code = "import sys, rcm.pytest_plugin; print(sorted(m for m in sys.modules if 'rcm' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['rcm', 'rcm.pytest_plugin']"


def test_mount_guard_installed_and_tested_as_a_third_party(tmp_path: Path) -> None:
    """examples/mount_guard: pip-installed (not editable) into a folder of its
    own, then its own tests run from its folder, finding the handler only
    through the installed entry point."""
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "--no-deps", "--target", str(site), str(EXAMPLE)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert test.returncode == 0, test.stdout + test.stderr
    assert " passed" in test.stdout
    if os.geteuid() == 0:  # its lab test ran too
        assert " skipped" not in test.stdout, test.stdout
