"""The cluster-ring handler on the real kernel: rcmd and cfgadm in the namespace lab.

nic0 and nic1 are members of IPMP group g, each with a stationary test address
(198.51.100.10 on nic0, .11 on nic1) that rcmd puts there from the interface
files and that does not move when its NIC goes: the kind of address a corosync
ring is bound to.  The cluster handler reads a corosync.conf written by
tests/corosync_files.py, is told the node is running, and looks at the kernel
itself.  Skipped without root; RCM_REQUIRE_LAB=1 makes it fail instead.

The same detach through nic0's PCI device: a fake PCI card whose net child is
the lab's real nic0 (tests/pci_card.py), unconfigured by cfgadm next to its
fake kernel with rcmd stopped once it placed the addresses.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from corosync_files import cluster_section, write_corosync
from pci_card import CARD, SLOT, add_card, card_removed, driver
from rcm_lab import DEFAULT_INTERFACES, wait_until

pytestmark = pytest.mark.lab

RING0, RING1 = "198.51.100.10", "198.51.100.11"
INTERFACES = {
    "nic0": {**DEFAULT_INTERFACES["nic0"], "test_addresses": [f"{RING0}/24"]},
    "nic1": {**DEFAULT_INTERFACES["nic1"], "test_addresses": [f"{RING1}/24"]},
}
N1 = {"name": "n1", "nodeid": 1, "ring0_addr": RING0}
N2 = {"name": "n2", "nodeid": 2, "ring0_addr": "198.51.100.20"}
DATA = ["192.0.2.10/24", "2001:db8::10/64"]  # nic0's data addresses (DEFAULT_INTERFACES)


def cluster_lab(rcm_lab, folder: Path, n1: dict) -> object:
    conf = write_corosync(folder, [n1, N2])
    lab = rcm_lab(
        interfaces=INTERFACES, rcm_settings={"plugins": {"cluster": cluster_section(conf)}}
    )
    lab.start_rcmd()
    # a test address is plumbed as a host address (docs/ipmp.md)
    assert wait_until(lambda: f"{RING0}/32" in lab.addresses("nic0"), 10), lab.rcmd_log_tail()
    return lab


def test_the_nic_of_the_only_ring_is_refused_even_forced(rcm_lab, tmp_path: Path) -> None:
    lab = cluster_lab(rcm_lab, tmp_path, N1)
    reason = f"corosync ring 0 ({RING0}) is on nic0, the node's only working ring"
    for args in (("-c", "unconfigure"), ("-f", "-c", "unconfigure")):
        run = lab.cfgadm(*args, "net:nic0")
        assert run.returncode != 0, run.stdout + run.stderr
        table = " ".join(run.stderr.split())  # the table wraps long reasons
        assert "system cluster" in table and reason in table, run.stderr
    assert "nic0" in lab.links_in("host")
    assert f"{RING0}/32" in lab.addresses("nic0")
    listing = lab.cfgadm("-lv", "net:nic0")
    assert f"carries corosync ring 0 ({RING0}) of node n1 (running)" in listing.stdout


def test_with_a_second_ring_on_nic1_the_detach_goes_ahead_with_a_warning(
    rcm_lab, tmp_path: Path
) -> None:
    lab = cluster_lab(rcm_lab, tmp_path, {**N1, "ring1_addr": RING1})
    run = lab.cfgadm("-c", "unconfigure", "net:nic0")
    assert run.returncode == 0, run.stdout + run.stderr
    table = " ".join(run.stderr.split())
    assert f"ring 1 ({RING1}) on nic1 survives" in table, run.stderr
    assert "nic0" not in lab.links_in("host")
    assert f"{RING1}/32" in lab.addresses("nic1")


def cluster_pci_lab(rcm_lab, folder: Path, n1: dict) -> object:
    """The cluster lab with nic0 on a fake PCI card, rcmd stopped once it
    placed every address (cfgadm then runs next to the card's fake kernel)."""
    lab = cluster_lab(rcm_lab, folder, n1)
    add_card(lab)
    assert lab.wait_for_addresses("nic0", DATA), lab.snapshot()
    if "ring1_addr" in n1:
        assert wait_until(lambda: f"{RING1}/32" in lab.addresses("nic1"), 10), lab.snapshot()
    lab.stop_rcmd()
    return lab


def test_the_pci_card_of_the_only_ring_is_refused_even_forced(rcm_lab, tmp_path: Path) -> None:
    lab = cluster_pci_lab(rcm_lab, tmp_path, N1)
    reason = f"corosync ring 0 ({RING0}) is on nic0, the node's only working ring"
    for ap in (CARD, SLOT):
        for args in (("-c", "unconfigure"), ("-f", "-c", "unconfigure")):
            run = driver(lab, *args, ap)
            assert run.returncode == 1, run.stdout + run.stderr
            table = " ".join(run.stderr.split())
            assert f"net/nic0 system cluster {reason}" in table, run.stderr
            assert not card_removed(lab)
    assert "nic0" in lab.links_in("host")
    assert set(lab.addresses("nic0")) >= {f"{RING0}/32", *DATA}
    listing = driver(lab, "-l", CARD)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.split()[-5:] == [CARD, "ethernet", "connected", "configured", "ok"]


def test_with_a_second_ring_on_nic1_the_pci_card_goes_with_a_warning(
    rcm_lab, tmp_path: Path
) -> None:
    lab = cluster_pci_lab(rcm_lab, tmp_path, {**N1, "ring1_addr": RING1})
    run = driver(lab, "-c", "unconfigure", CARD)
    assert run.returncode == 0, run.stdout + run.stderr
    table = " ".join(run.stderr.split())
    assert f"net/nic0 warning cluster corosync ring 0 ({RING0}) is on nic0;" in table, run.stderr
    assert f"ring 1 ({RING1}) on nic1 survives" in table, run.stderr
    assert "moving addresses from nic0 to nic1" in run.stdout
    assert card_removed(lab)
    assert "nic0" not in lab.links_in("host") and "nic0" in lab.links_in("holding")
    assert set(lab.addresses("nic1")) >= {f"{RING1}/32", *DATA}
