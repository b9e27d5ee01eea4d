"""The resource graph against the real kernel: a PCI card whose NIC is a
real veth of the lab goes through the IPMP failover exactly as net: does, and
interfaces stacked on a NIC (a macvlan, a bridge it is a port of) are asked
about first, veto by name, and are restored by a rollback and by the NIC's
return.

The PCI card is a fake sysfs tree (tests/pci_card.py, built in the lab's own
``[plugins.hw] sysfs`` folder) whose ``net/nic0`` child names the lab's real
nic0; its fake kernel (tests/hw_lab_driver.py) moves that veth to the holding
namespace when the card is removed and back when the bus is rescanned.  The
stacked links are real macvlan and bridge links, read from the host
namespace's real /sys (read only).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pci_card import CARD, add_card, card_removed, driver
from rcm_hw.faketree import FakeSysfs
from rcm_lab import Lab

pytestmark = pytest.mark.lab

V4_10, V6_10 = "192.0.2.10/24", "2001:db8::10/64"


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def pci_lab(lab: None) -> Iterator[Lab]:
    """The lab with rcmd's addresses placed, then rcmd stopped: cfgadm runs
    in-process in the driver, next to the fake kernel."""
    with Lab() as made:
        add_card(made)
        made.start_rcmd()
        assert made.wait_for_addresses("nic0", [V4_10, V6_10]), made.snapshot()
        assert made.wait_for_addresses("nic1", ["192.0.2.11/24"]), made.snapshot()
        made.stop_rcmd()
        yield made


def test_unconfiguring_a_pci_nic_fails_its_addresses_over(pci_lab: Lab) -> None:
    conv = pci_lab.conversation("192.0.2.10")
    assert conv.wait_for_more(3, 5), conv.describe()
    r = driver(pci_lab, "-lv", CARD)
    assert r.returncode == 0, r.stderr
    assert "nic0: hosts data addresses 192.0.2.10/24" in flat(r.stdout)

    r = driver(pci_lab, "-c", "unconfigure", CARD)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "moving addresses from nic0 to nic1" in r.stdout
    assert "nic0" not in pci_lab.links_in("host")  # the card took it away
    assert "nic0" in pci_lab.links_in("holding")
    assert set(pci_lab.addresses("nic1")) >= {V4_10, V6_10}
    assert conv.wait_for_more(3, 5), conv.describe()  # the conversation goes on, via nic1
    assert not conv.broken(), conv.describe()

    r = driver(pci_lab, "-c", "configure", CARD)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nic0" in pci_lab.links_in("host")
    assert pci_lab.wait_for_addresses("nic0", [V4_10, V6_10]), pci_lab.snapshot()  # failback


def test_the_last_member_on_a_pci_card_is_vetoed_by_ipmp(pci_lab: Lab) -> None:
    pci_lab.host("link", "set", "nic1", "down")
    r = driver(pci_lab, "-c", "unconfigure", CARD)
    assert r.returncode == 1
    assert "nic0 is the last working member of IPMP group g" in flat(r.stderr)
    assert "nic0" in pci_lab.links_in("host")
    assert not card_removed(pci_lab)


def test_a_usb_nic_fails_over_when_deauthorized(lab: None) -> None:
    """A USB NIC (the lab's nic0 again) leaves when its device is
    deauthorized, after IPMP moved its addresses, and returns with them."""
    with Lab() as made:
        assert made.tmp is not None
        FakeSysfs(made.tmp / "sys").usb_device("1-1", net=["nic0"])
        made.start_rcmd()
        assert made.wait_for_addresses("nic0", [V4_10, V6_10]), made.snapshot()
        made.stop_rcmd()
        r = driver(made, "-c", "unconfigure", "usb:1-1")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "moving addresses from nic0 to nic1" in r.stdout
        assert "nic0" in made.links_in("holding")
        assert set(made.addresses("nic1")) >= {V4_10, V6_10}
        r = driver(made, "-c", "configure", "usb:1-1")
        assert r.returncode == 0, r.stdout + r.stderr
        assert made.wait_for_addresses("nic0", [V4_10, V6_10]), made.snapshot()


@pytest.fixture
def stacked(lab: None) -> Iterator[Lab]:
    """rcmd reading the host namespace's real /sys (for upper_*/master), with
    an ungrouped nic2 as a port of bridge br9 that carries an address, and a
    macvlan mv0 on nic0 that carries one."""
    with Lab(ungrouped=["nic2"], rcm_settings={"plugins": {"hw": {"sysfs": "/sys"}}}) as made:
        made.host("link", "add", "br9", "type", "bridge")
        made.host("link", "set", "nic2", "master", "br9")
        made.host("addr", "add", "198.51.100.9/24", "dev", "br9")
        made.host("link", "set", "br9", "up")
        made.host("link", "add", "mv0", "link", "nic0", "type", "macvlan", "mode", "bridge")
        made.host("addr", "add", "203.0.113.5/24", "dev", "mv0")
        made.host("link", "set", "mv0", "up")
        made.start_rcmd()
        assert made.wait_for_addresses("nic0", [V4_10]), made.snapshot()
        yield made


def master(made: Lab, ifname: str, ns: str = "host") -> str | None:
    info = made._json(ns, "link", "show", ifname)
    return info[0].get("master") if info else None


def test_a_stacked_macvlan_with_addresses_vetoes_by_name(stacked: Lab) -> None:
    r = stacked.cfgadm("-c", "unconfigure", "net:nic0")
    assert r.returncode == 1
    text = flat(r.stderr)
    assert "net/mv0 data ipmp mv0 is in no IPMP group and carries 203.0.113.5/24" in text
    assert "nic0" in stacked.links_in("host")
    assert stacked.addresses("nic0")  # nothing moved: the query phase refused


def test_lv_shows_what_is_stacked_on_a_nic(stacked: Lab) -> None:
    r = stacked.cfgadm("-lv", "net:nic2")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "net/nic2" in text and "  net/br9" in text
    assert "nic2: port of bridge br9 (hw)" in flat(text)


def test_a_bridge_port_leaves_and_returns_with_its_nic(stacked: Lab) -> None:
    r = stacked.cfgadm("-c", "unconfigure", "net:nic2")
    assert r.returncode == 1
    assert "net/br9 data ipmp br9 is in no IPMP group and carries 198.51.100.9/24" in flat(r.stderr)
    r = stacked.cfgadm("-f", "-c", "unconfigure", "net:nic2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nic2: left bridge br9 (it returns with nic2)" in r.stdout
    assert "nic2" in stacked.links_in("holding")
    r = stacked.cfgadm("-c", "configure", "net:nic2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nic2: back in bridge br9" in r.stdout
    assert master(stacked, "nic2") == "br9"


def test_a_rollback_puts_the_port_back_in_its_bridge(stacked: Lab) -> None:
    # A link called nic2 in the holding namespace: the hardware step (moving
    # nic2 there) fails after the offline phase took nic2 out of br9.
    stacked.holding("link", "add", "nic2", "type", "veth", "peer", "name", "nic2p")
    r = stacked.cfgadm("-f", "-c", "unconfigure", "net:nic2")
    assert r.returncode == 1
    assert "the previous configuration was restored" in r.stderr
    assert "nic2: left bridge br9" in r.stdout and "nic2: back in bridge br9" in r.stdout
    assert master(stacked, "nic2") == "br9"
    assert "198.51.100.9/24" in stacked.addresses("br9")


def test_class_functions_and_dynamic_aps_through_rcmd(lab: None) -> None:
    """-a, -h ap_type and -x go over rcmd's socket (the request kinds
    ``list`` with ``dynamic``, ``help``, ``function``)."""
    with Lab() as made:
        add_card(made)
        made.start_rcmd()
        r = made.cfgadm("-a", "pci")
        assert r.returncode == 0, r.stderr
        assert [line.split()[0] for line in r.stdout.splitlines()[1:]] == ["pci:3", "pci:3::nic0"]
        r = made.cfgadm("-h", "pci")
        assert r.returncode == 0 and "led=attention,on|off|blink" in r.stdout
        r = made.cfgadm("-h", "floppy")
        assert r.returncode == 1 and "Attachment point type not found: floppy" in r.stderr
        r = made.cfgadm("-x", "led=attention,blink", "pci:3")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "pci:3: attention indicator blink"
        assert (made.tmp / "sys/bus/pci/slots/3/attention").read_text().strip() == "2"
        r = made.cfgadm("-x", "led=attention,on", "net:nic0")
        assert r.returncode == 2
        assert "Hardware specific function not supported: led (ap class net has none)" in r.stderr
        assert made.rcmd_running()
