"""if_mpadm -d / -r in the lab: a member out of service in place, and back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ipmpkit import V4_10, V4_11, V6_10, V6_11, show, start, tool
from rcm_lab import Lab, wait_until

pytestmark = pytest.mark.lab

TEST0 = "192.0.2.50/24"
TEST0_PLUMBED = "192.0.2.50/32"  # a test address is plumbed as a host address (docs/ipmp.md)


@pytest.fixture
def make_lab(lab: None) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        new = Lab(**kwargs)
        made.append(new)
        new.build()
        return new

    yield make
    for each in made:
        each.close()


@pytest.fixture
def running(make_lab: Callable[..., Any]) -> Any:
    lab = make_lab(
        interfaces={
            "nic0": {"group": "g", "addresses": [V4_10, V6_10], "test_addresses": [TEST0]},
            "nic1": {"group": "g", "addresses": [V4_11, V6_11]},
        }
    )
    return start(lab)


def test_offline_moves_data_addresses_and_keeps_the_nic_in_place(running: Any) -> None:
    lab = running
    conv = lab.conversation("192.0.2.10")
    r = tool(lab, "if_mpadm", "-d", "nic0")
    assert r.returncode == 0, show(r, lab)
    assert "moving addresses from nic0 to nic1: 192.0.2.10/24, 2001:db8::10/64" in r.stdout
    assert set(lab.addresses("nic1")) >= {V4_10, V6_10, V4_11, V6_11}, lab.snapshot()
    # in place: still here, still up, test address kept
    assert lab.addresses("nic0") == [TEST0_PLUMBED], lab.snapshot()
    assert lab.link_up("nic0"), lab.snapshot()
    assert wait_until(lambda: lab.client_neigh("192.0.2.10") == lab.nic_mac("nic1"), 2)
    assert conv.wait_for_more(10, 10) and not conv.broken(), conv.describe()

    # cfgadm -lv and ipmpstat say so
    r = lab.cfgadm("-lv", "net:nic0")
    assert "state offline (admin), group g degraded" in " ".join(r.stdout.split()), show(r, lab)
    r = tool(lab, "ipmpstat", "-P", "-o", "interface,state,why", "-i")
    assert "nic0:offline:admin" in r.stdout.splitlines(), show(r, lab)

    # a carrier bounce does not bring it back: the admin's decision holds
    lab.switch("link", "set", "p-nic0", "down")
    lab.switch("link", "set", "p-nic0", "up")

    # the decision survives an rcmd restart
    lab.stop_rcmd()
    lab.start_rcmd()
    r = tool(lab, "ipmpstat", "-P", "-o", "interface,state", "-i")
    assert "nic0:offline" in r.stdout.splitlines(), show(r, lab)
    assert lab.addresses("nic0") == [TEST0_PLUMBED], lab.snapshot()

    r = tool(lab, "if_mpadm", "-r", "nic0")
    assert r.returncode == 0, show(r, lab)
    assert lab.wait_for_addresses("nic0", [V4_10, V6_10, TEST0_PLUMBED]), lab.snapshot()
    assert lab.wait_for_addresses("nic1", [V4_10, V6_10], present=False), lab.snapshot()
    assert wait_until(lambda: lab.client_neigh("192.0.2.10") == lab.nic_mac("nic0"), 2)
    assert conv.wait_for_more(10, 10) and not conv.broken(), conv.describe()


def test_the_last_working_member_is_refused(running: Any) -> None:
    lab = running
    assert tool(lab, "if_mpadm", "-d", "nic0").returncode == 0
    r = tool(lab, "if_mpadm", "-d", "nic1")
    assert r.returncode == 1, show(r, lab)
    assert r.stderr.splitlines() == [
        "if_mpadm: cannot offline nic1: minimum redundancy required: nic1 is the last working"
        " member of IPMP group g"
    ], show(r, lab)
    assert set(lab.addresses("nic1")) == {V4_10, V6_10, V4_11, V6_11}, lab.snapshot()
    r = tool(lab, "if_mpadm", "-d", "nic0")
    assert r.returncode == 1 and "nic0 is already offline" in r.stderr, show(r, lab)


def test_only_root_and_only_members(running: Any) -> None:
    lab = running
    r = tool(lab, "if_mpadm", "-d", "nic0", user=65534)
    assert (r.returncode, r.stderr) == (1, "if_mpadm: cannot offline nic0: permission denied\n")
    r = tool(lab, "if_mpadm", "-d", "nic9")
    assert r.returncode == 1, show(r, lab)
    assert r.stderr == "if_mpadm: cannot offline nic9: nic9 is not a member of any IPMP group\n"
    r = tool(lab, "if_mpadm", "-x", "nic0")
    assert r.returncode == 2 and "Usage : if_mpadm [-d | -r] <interface_name>" in r.stderr
    assert set(lab.addresses("nic0")) == {V4_10, V6_10, TEST0_PLUMBED}, lab.snapshot()


def test_without_rcmd_one_line(make_lab: Callable[..., Any]) -> None:
    lab = make_lab()
    r = tool(lab, "if_mpadm", "-d", "nic0")
    assert r.returncode == 1
    assert r.stderr.startswith(
        "if_mpadm: cannot offline nic0: cannot contact rcmd: it is not running"
    )
    assert len(r.stderr.splitlines()) == 1


def test_an_offline_interrupted_by_a_crash_is_rolled_back(
    running: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rcmd dies after nic0's addresses moved and before the offline was
    marked done: at the next start the journal rolls it back (as a detach
    interrupted before its hardware step), and nic0 is in service again."""
    lab = running
    conv = lab.conversation("192.0.2.10")
    lab.stop_rcmd()
    with monkeypatch.context() as m:
        m.setenv("RCM_FAILPOINT", "offline.done")
        lab.start_rcmd()
    r = tool(lab, "if_mpadm", "-d", "nic0")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, show(r, lab)
    assert r.stderr.startswith("if_mpadm: cannot offline nic0: "), show(r, lab)
    assert wait_until(lambda: not lab.rcmd_running(), 5)
    assert set(lab.addresses("nic1")) >= {V4_10, V6_10}, lab.snapshot()  # it had moved

    lab.start_rcmd()
    assert lab.wait_for_addresses("nic0", [V4_10, V6_10, TEST0_PLUMBED]), lab.snapshot()
    assert lab.wait_for_addresses("nic1", [V4_10, V6_10], present=False), lab.snapshot()
    assert "rolled back; the previous configuration was restored" in lab.rcmd_log()
    r = tool(lab, "ipmpstat", "-P", "-o", "interface,state", "-i")
    assert "nic0:ok" in r.stdout.splitlines(), show(r, lab)
    assert conv.wait_for_more(10, 15) and not conv.broken(), conv.describe()
