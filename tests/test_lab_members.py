"""Group members as a client sees them: no ARP flux, and rcmd under systemd."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from rcm_lab import Lab, wait_until

BASH = shutil.which("bash") or "/bin/bash"


@pytest.fixture
def running(lab: None):
    with Lab() as made:
        made.start_rcmd()
        assert made.wait_for_addresses("nic0", ["192.0.2.10/24"]), made.snapshot()
        assert made.wait_for_addresses("nic1", ["192.0.2.11/24"]), made.snapshot()
        yield made


@pytest.mark.lab
def test_each_address_is_reached_through_the_mac_of_its_nic(running: Lab) -> None:
    """Two NICs on one segment: without arp_ignore/arp_announce Linux answers
    ARP for every address on both (ARP flux) and a client may reach
    192.0.2.10 through nic1.  rcmd configures members so it never does."""
    running.client("neigh", "flush", "all")
    for address, nic in (("192.0.2.10", "nic0"), ("192.0.2.11", "nic1")):
        conv = running.conversation(address)
        assert conv.wait_for_more(5, 5), conv.describe()
        mac = running.mac("host", nic)
        assert wait_until(lambda a=address, m=mac: running.client_neigh(a) == m, 2), (
            f"client reaches {address} via {running.client_neigh(address)}, not {nic} ({mac})"
        )
    for nic in ("nic0", "nic1"):
        read = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                running.ns["host"],
                "cat",
                f"/proc/sys/net/ipv4/conf/{nic}/arp_ignore",
                f"/proc/sys/net/ipv4/conf/{nic}/arp_announce",
                f"/proc/sys/net/ipv4/conf/{nic}/promote_secondaries",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert read.stdout.split() == ["1", "2", "1"], (nic, read.stdout)


@pytest.mark.lab
def test_rcmd_tells_systemd_it_is_ready(
    lab: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The unit is Type=notify: rcmd sends READY=1 once its socket listens."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(15)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    with Lab() as made:
        made.start_rcmd()
        assert sock.recv(100) == b"READY=1"
        assert made.socket_path.exists()
    sock.close()


def test_install_script_stages_unit_and_rule(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    r = subprocess.run(
        [BASH, str(repo / "packaging/install.sh")],
        env={"DESTDIR": str(tmp_path), "RCMD": "/usr/local/bin/rcmd", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    unit = (tmp_path / "etc/systemd/system/rcmd.service").read_text()
    assert "ExecStart=/usr/local/bin/rcmd\n" in unit
    assert "ExecStartPre=/usr/local/bin/rcmd --check-config" in unit
    assert "Type=notify" in unit and "@RCMD@" not in unit
    rule = (tmp_path / "etc/udev/rules.d/90-rcm.rules").read_text()
    assert 'SUBSYSTEM=="net"' in rule and "rcmd.service" in rule
    # and without rcmd anywhere it says so instead of writing a broken unit
    r = subprocess.run(
        [BASH, str(repo / "packaging/install.sh")],
        env={"DESTDIR": str(tmp_path / "x"), "PATH": "/nonexistent"},
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "rcmd is not on PATH" in r.stderr


@pytest.mark.lab
def test_carrier_loss_fails_over_and_recovery_fails_back(running: Lab) -> None:
    """A cable pulled on nic0's side (its switch port goes down: no carrier,
    no uevent, only a netlink link change): 192.0.2.10 moves to nic1 and the
    client follows; carrier back: it fails back."""
    conv = running.conversation("192.0.2.10")
    running.switch("link", "set", "p-nic0", "down")
    assert running.wait_for_addresses("nic1", ["192.0.2.10/24", "2001:db8::10/64"], timeout=5), (
        running.snapshot()
    )
    mac1 = running.mac("host", "nic1")
    assert wait_until(lambda: running.client_neigh("192.0.2.10") == mac1, 2), running.snapshot()
    assert conv.wait_for_more(10, 10) and not conv.broken(), conv.describe()
    assert "moving addresses from failed IPv4 interfaces: nic0 (moved to nic1)" in (
        running.rcmd_log()
    )

    running.switch("link", "set", "p-nic0", "up")
    assert running.wait_for_addresses("nic0", ["192.0.2.10/24", "2001:db8::10/64"], timeout=5), (
        running.snapshot()
    )
    assert running.wait_for_addresses("nic1", ["192.0.2.10/24"], timeout=2, present=False)
    assert conv.wait_for_more(10, 10) and not conv.broken(), conv.describe()
