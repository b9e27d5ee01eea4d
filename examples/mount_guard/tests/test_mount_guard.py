"""mount_guard's own tests, through rcm's pytest plugin (installed with rcm).

``rcm_harness`` is the real rcm engine with mount_guard loaded from its
installed entry point (``rcm_handler`` in pyproject.toml), fake hardware, no
root.  ``rcm_lab`` is the real kernel: it needs root and is skipped without.
"""

from __future__ import annotations

import pytest

from rcm.errors import ConfigError
from rcm.model import Impact, Outcome

CONFIG = '[plugins.mount_guard]\nprotect = ["/devices/s1"]\nreason = "holds /srv/data"\n'


@pytest.fixture
def rcm_toml():
    return CONFIG


@pytest.fixture
def rcm_slots():
    return ["s1", "s2"]


def test_the_veto_is_shown_and_blocks(rcm_harness, rcm_ap, rcm_calls):
    result = rcm_harness.detach(rcm_ap)
    assert result.outcome is Outcome.VETOED
    [veto] = result.vetoes
    assert (veto.handler, veto.resource, veto.impact) == ("mount_guard", "/devices/s1", Impact.DATA)
    assert "holds /srv/data" in veto.reason
    assert rcm_harness.present("s1")
    assert rcm_calls.steps("mount_guard") == [("mount_guard", "query", "/devices/s1")]


def test_other_slots_are_none_of_its_business(rcm_harness, rcm_calls):
    assert rcm_harness.detach("slot:s2").outcome is Outcome.DONE
    assert rcm_calls.of(handler="mount_guard", resource="/devices/s2") == []


def test_usage_is_listed(rcm_harness):
    usage = rcm_harness.listing(verbose=True).usage
    assert [u.info for u in usage["slot:s1"]] == ["/devices/s1 holds /srv/data"]
    assert usage["slot:s2"] == []


def test_force_passes_and_the_release_is_recorded(rcm_harness, rcm_ap, rcm_calls, rcm_sysfs):
    result = rcm_harness.detach(rcm_ap, force=True)
    assert result.outcome is Outcome.DONE
    assert (rcm_sysfs / "s1" / "present").read_text() == "0\n"  # the card is out
    assert any("released by force" in m for m in result.messages)
    assert [s for _, s, _ in rcm_calls.steps("mount_guard", "hardware")] == [
        "query",
        "offline",
        "disconnect",
        "remove",
    ]
    assert rcm_harness.store("mount_guard").get("released:/devices/s1") is None  # forgotten


def test_a_failed_detach_gives_protection_back(rcm_harness, rcm_ap, rcm_calls):
    rcm_harness.fail_hardware("disconnect", "s1", "power stuck on")
    result = rcm_harness.detach(rcm_ap, force=True)
    assert result.outcome is Outcome.FAILED and result.rolled_back
    assert rcm_calls.steps("mount_guard")[-1] == ("mount_guard", "online", "/devices/s1")
    assert rcm_harness.store("mount_guard").get("released:/devices/s1") is None
    assert any("protection restored" in m for m in result.messages)


def test_a_crash_after_the_release_is_rolled_back_at_restart(rcm_harness, rcm_ap, rcm_calls):
    # rcmd dies after mount_guard released the device, before the hardware
    # step: at the next start, recovery brings the device back online and
    # mount_guard (which remembers nothing but its store) restores protection.
    reports = rcm_harness.crash_during(rcm_ap, at="offline.done", force=True)
    assert reports and "rolled back" in reports[0]
    assert rcm_calls.steps("mount_guard")[-1] == ("mount_guard", "online", "/devices/s1")
    assert rcm_harness.store("mount_guard").get("released:/devices/s1") is None
    assert rcm_harness.present("s1")


def test_a_bad_section_stops_the_start(make_rcm_harness):
    with pytest.raises(ConfigError, match=r"plugins\.mount_guard\.protect: must be a list"):
        make_rcm_harness(rcm_toml='[plugins.mount_guard]\nprotect = "/devices/s1"\n')


def test_it_vetoes_a_real_detach(rcm_lab):
    # The real kernel: rcmd and cfgadm in a namespace lab load every installed
    # handler, this one included.  nic0 carries an NFS mount, say.
    lab = rcm_lab(rcm_settings={"plugins": {"mount_guard": {"protect": ["net/nic0"]}}})
    lab.start_rcmd()
    run = lab.cfgadm("-c", "unconfigure", "net:nic0")
    assert run.returncode != 0
    assert "net/nic0 holds a protected mount" in run.stdout + run.stderr
    assert "nic0" in lab.links_in("host")
