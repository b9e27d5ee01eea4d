"""mount_guard's own tests: the real rcm engine, fake hardware, no root."""

from __future__ import annotations

import pytest
from mount_guard import MountGuard

from rcm.errors import ConfigError
from rcm.model import Impact, Outcome
from rcm.testing import Harness

CONFIG = '[plugins.mount_guard]\nprotect = ["/devices/s1"]\nreason = "holds /srv/data"\n'


@pytest.fixture
def harness(tmp_path):
    with Harness(
        tmp_path, plugins={"mount_guard": MountGuard()}, slots=["s1", "s2"], rcm_toml=CONFIG
    ) as h:
        yield h


def test_the_veto_is_shown_and_blocks(harness):
    result = harness.detach("slot:s1")
    assert result.outcome is Outcome.VETOED
    [veto] = result.vetoes
    assert (veto.handler, veto.resource, veto.impact) == ("mount_guard", "/devices/s1", Impact.DATA)
    assert "holds /srv/data" in veto.reason
    assert harness.present("s1")
    assert harness.calls.steps("mount_guard") == [("mount_guard", "query", "/devices/s1")]


def test_other_slots_are_none_of_its_business(harness):
    assert harness.detach("slot:s2").outcome is Outcome.DONE
    assert harness.calls.of(handler="mount_guard", resource="/devices/s2") == []


def test_usage_is_listed(harness):
    usage = harness.listing(verbose=True).usage
    assert [u.info for u in usage["slot:s1"]] == ["/devices/s1 holds /srv/data"]
    assert usage["slot:s2"] == []


def test_force_passes_and_the_release_is_recorded(harness):
    result = harness.detach("slot:s1", force=True)
    assert result.outcome is Outcome.DONE
    assert not harness.present("s1")
    assert any("released by force" in m for m in result.messages)
    assert [s for _, s, _ in harness.calls.steps("mount_guard", "hardware")] == [
        "query",
        "offline",
        "disconnect",
        "remove",
    ]
    assert harness.store("mount_guard").get("released:/devices/s1") is None  # forgotten


def test_a_failed_detach_gives_protection_back(harness):
    harness.fail_hardware("disconnect", "s1", "power stuck on")
    result = harness.detach("slot:s1", force=True)
    assert result.outcome is Outcome.FAILED and result.rolled_back
    assert harness.calls.steps("mount_guard")[-1] == ("mount_guard", "online", "/devices/s1")
    assert harness.store("mount_guard").get("released:/devices/s1") is None
    assert any("protection restored" in m for m in result.messages)


def test_a_bad_section_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match=r"plugins\.mount_guard\.protect: must be a list"):
        Harness(
            tmp_path,
            plugins={"mount_guard": MountGuard()},
            rcm_toml='[plugins.mount_guard]\nprotect = "/devices/s1"\n',
        )
