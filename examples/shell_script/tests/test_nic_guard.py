"""nic_guard's own tests, written as its author would: no root, no hardware.

Two levels: the script alone, asked each command the way rcm asks it (argv, the
environment rcm gives it), and the script installed as the README says (copied into the
``scripts`` folder of a config folder, mode 0755, with ``nic_guard.conf`` beside that folder)
and driven by rcm's own scripts handler inside ``rcm.testing.Harness``: the real coordinator,
with a fake slot ``slot:nic2`` carrying ``net/nic2``.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rcm_scripts.plugin import ScriptsPlugin
from rcm_scripts.process import environment

from rcm.model import Impact, Outcome
from rcm.testing import Harness

SCRIPT = Path(__file__).resolve().parent.parent / "nic_guard"
CONF = """\
# resource   level   reason
net/nic2     data    carries the backup link to 192.0.2.50
net/nic3     system  is the cluster interconnect
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config folder with nic_guard installed as the README says."""
    etc = tmp_path / "etc"
    (etc / "scripts").mkdir(parents=True)
    installed = etc / "scripts" / "nic_guard"
    shutil.copy(SCRIPT, installed)
    installed.chmod(0o755)
    (etc / "nic_guard.conf").write_text(CONF)
    return etc


def ask(config: Path, *argv: str, force: bool | None = None) -> tuple[int, list[str]]:
    """Run the installed script as rcm does: its exit status and stdout lines."""
    r = subprocess.run(
        [str(config / "scripts" / "nic_guard"), *argv],
        env=environment(0, force),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return r.returncode, r.stdout.splitlines()


# -- the script alone --------------------------------------------------------------------------


def test_scriptinfo_and_register(config: Path) -> None:
    assert ask(config, "scriptinfo") == (
        0,
        [
            "rcm_script_version=1",
            "rcm_script_func_info=refuses to detach the resources listed in nic_guard.conf",
            "rcm_cmd_timeout=10",
        ],
    )
    assert ask(config, "register") == (
        0,
        ["rcm_resource_name=net/nic2", "rcm_resource_name=net/nic3"],
    )


def test_queryremove_refuses_listed_resources_at_their_level(config: Path) -> None:
    assert ask(config, "queryremove", "net/nic2", force=False) == (
        3,
        [
            "rcm_veto_level=data",
            "rcm_failure_reason=carries the backup link to 192.0.2.50",
        ],
    )
    assert ask(config, "queryremove", "net/nic3", force=True)[1][0] == "rcm_veto_level=system"
    assert ask(config, "queryremove", "net/nic9", force=False) == (0, [])


def test_without_a_conf_file_it_guards_nothing(config: Path) -> None:
    (config / "nic_guard.conf").unlink()
    assert ask(config, "register") == (0, [])
    assert ask(config, "queryremove", "net/nic2", force=False) == (0, [])


def test_a_command_it_does_not_implement_exits_2(config: Path) -> None:
    assert ask(config, "suspend", "net/nic2") == (2, [])


# -- installed, under rcm ---------------------------------------------------------------------


@pytest.fixture
def rcm(config: Path) -> Iterator[Harness]:
    with Harness(
        config.parent,
        plugins={"scripts": ScriptsPlugin()},
        slots={"nic2": ["net/nic2"], "nic3": ["net/nic3"], "nic4": ["net/nic4"]},
        rcm_toml="[plugins.scripts]\ndirs = []\n",  # not /usr/lib/rcm/scripts
    ) as h:
        yield h


def test_rcm_refuses_the_detach_and_says_why(rcm: Harness) -> None:
    result = rcm.detach("slot:nic2")
    assert result.outcome is Outcome.VETOED
    assert [(v.resource, v.impact, v.handler, v.reason) for v in result.vetoes] == [
        (
            "net/nic2",
            Impact.DATA,
            "scripts",
            "nic_guard: carries the backup link to 192.0.2.50",
        )
    ]
    assert rcm.present("nic2")


def test_force_gets_past_it_and_the_script_sees_the_force(
    rcm: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rcm.handler.scripts")
    result = rcm.detach("slot:nic2", force=True)
    assert result.outcome is Outcome.DONE
    assert not rcm.present("nic2")
    said = [(r.name, r.getMessage()) for r in caplog.records]
    assert (
        "rcm.handler.scripts.nic_guard",
        "net/nic2 released by force (RCM_ENV_FORCE=TRUE)",
    ) in said
    assert ("rcm.handler.scripts.nic_guard", "net/nic2 detached") in said
    assert rcm.attach("slot:nic2").outcome is Outcome.DONE
    assert ("rcm.handler.scripts.nic_guard", "net/nic2 is back") in [
        (r.name, r.getMessage()) for r in caplog.records
    ]


def test_a_system_level_refusal_holds_even_with_force(rcm: Harness) -> None:
    result = rcm.detach("slot:nic3", force=True)
    assert result.outcome is Outcome.VETOED
    assert rcm.present("nic3")


def test_an_unlisted_nic_detaches_freely(rcm: Harness) -> None:
    assert rcm.detach("slot:nic4").outcome is Outcome.DONE


def test_the_listing_shows_what_the_nic_is_for(rcm: Harness) -> None:
    (usage,) = rcm.listing().usage["slot:nic2"]
    assert usage.info == "nic_guard: carries the backup link to 192.0.2.50"
