"""Standby members, failback = false and per-group announcements, in the lab.

Checked where a client would notice: which MAC the client reaches an address
through (its neighbour table), and the gratuitous ARPs / unsolicited NAs it
receives (captured with an AF_PACKET socket in the client's namespace).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ipmpkit import V4_10, V4_11, V6_10, V6_11, start, tool
from rcm_lab import Lab, wait_until

pytestmark = pytest.mark.lab

STANDBY = {
    "nic0": {"group": "g", "addresses": [V4_10, V6_10]},
    "nic1": {"group": "g", "addresses": [V4_11, V6_11]},
    "nic2": {"group": "g", "standby": True},
}


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


def reaches(lab: Any, ip: str, nic: str, timeout: float = 2.0) -> bool:
    """The client reaches ``ip`` through ``nic``'s MAC (after one TCP
    connection attempt: the answer, a reset, needs the neighbour resolved)."""
    knock = f"import socket; s = socket.socket(); s.settimeout(1); s.connect_ex(({ip!r}, 9))"
    subprocess.run(lab.exec_argv("client", [sys.executable, "-c", knock]), capture_output=True)
    return wait_until(lambda: lab.client_neigh(ip) == lab.nic_mac(nic), timeout)


def test_standby_idle_then_takes_over_then_idle_again(make_lab: Callable[..., Any]) -> None:
    lab = start(make_lab(nics=("nic0", "nic1", "nic2"), interfaces=STANDBY))
    conv = lab.conversation("192.0.2.10")
    assert lab.addresses("nic2") == [], lab.snapshot()  # a standby carries no data address
    r = tool(lab, "ipmpstat", "-P", "-o", "interface,active,flags,state", "-i")
    assert "nic2:no:is-----:ok" in r.stdout.splitlines(), r.stdout

    lab.switch("link", "set", "p-nic0", "down")  # nic0 loses carrier
    # nic0's addresses go to the standby, not to nic1 (which has as many as nic2 would)
    assert lab.wait_for_addresses("nic2", [V4_10, V6_10]), lab.snapshot()
    assert set(lab.addresses("nic1")) == {V4_11, V6_11}, lab.snapshot()
    assert reaches(lab, "192.0.2.10", "nic2"), lab.snapshot()
    assert conv.wait_for_more(10, 10) and not conv.broken(), conv.describe()
    r = tool(lab, "ipmpstat", "-P", "-o", "group,state,interfaces", "-g")
    assert r.stdout.splitlines() == ["g:degraded:nic1 nic2 [nic0]"], r.stdout

    lab.switch("link", "set", "p-nic0", "up")  # repaired: failback, the standby idles
    assert lab.wait_for_addresses("nic0", [V4_10, V6_10]), lab.snapshot()
    assert lab.wait_for_addresses("nic2", [V4_10, V6_10], present=False), lab.snapshot()
    assert reaches(lab, "192.0.2.10", "nic0"), lab.snapshot()
    assert conv.wait_for_more(10, 10) and not conv.broken(), conv.describe()


def test_without_a_standby_the_member_with_fewest_addresses(make_lab: Callable[..., Any]) -> None:
    extra = ["192.0.2.12/24"]
    interfaces = {
        "nic0": {"group": "g", "addresses": [V4_10]},
        "nic1": {"group": "g", "addresses": [V4_11, *extra]},
        "nic2": {"group": "g"},  # active, homes nothing: fewest
    }
    homes = {"nic0": [V4_10], "nic1": [V4_11, *extra]}
    lab = start(make_lab(nics=("nic0", "nic1", "nic2"), interfaces=interfaces), homes)
    lab.switch("link", "set", "p-nic0", "down")
    assert lab.wait_for_addresses("nic2", [V4_10]), lab.snapshot()
    assert reaches(lab, "192.0.2.10", "nic2"), lab.snapshot()


def test_failback_false_keeps_addresses_where_they_are(make_lab: Callable[..., Any]) -> None:
    lab = start(make_lab(groups={"g": {"failback": False}}))
    conv = lab.conversation("192.0.2.10")
    lab.switch("link", "set", "p-nic0", "down")
    assert lab.wait_for_addresses("nic1", [V4_10, V6_10]), lab.snapshot()
    lab.switch("link", "set", "p-nic0", "up")
    assert wait_until(lambda: lab.link_up("nic0"), 2)
    time.sleep(1.5)  # time enough for a failback that must not happen
    assert lab.addresses("nic0") == [], lab.snapshot()
    assert set(lab.addresses("nic1")) == {V4_10, V6_10, V4_11, V6_11}, lab.snapshot()
    assert reaches(lab, "192.0.2.10", "nic1"), lab.snapshot()
    assert conv.wait_for_more(10, 10) and not conv.broken(), conv.describe()
    r = tool(lab, "ipmpstat", "-P", "-o", "address,inbound,home", "-an")
    assert "192.0.2.10:nic1:nic0" in r.stdout.splitlines(), r.stdout


CAPTURE = r"""
import json, socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("eth0", 0))
s.settimeout(0.1)
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    try:
        frame = s.recv(2048)
    except TimeoutError:
        continue
    kind = struct.unpack_from("!H", frame, 12)[0]
    src = frame[6:12].hex(":")
    if kind == 0x0806:
        spa, tpa = frame[28:32], frame[38:42]
        if spa == tpa:
            print(json.dumps([time.monotonic(), "arp", socket.inet_ntoa(spa), src]), flush=True)
    elif kind == 0x86DD and frame[20] == 58 and frame[54] == 136:
        target = socket.inet_ntop(socket.AF_INET6, frame[62:78])
        print(json.dumps([time.monotonic(), "na", target, src]), flush=True)
"""


def test_announcements_per_group(make_lab: Callable[..., Any]) -> None:
    lab = start(make_lab(groups={"g": {"announce_count": 4, "announce_interval_ms": 300}}))
    cap = subprocess.Popen(
        lab.exec_argv("client", [sys.executable, "-c", CAPTURE, "8"]),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert cap.stdout is not None and cap.stdout.readline().strip() == "ready"
        r = lab.cfgadm("-c", "unconfigure", "net:nic0")
        assert r.returncode == 0, r.stderr
        out, _ = cap.communicate(timeout=15)
    finally:
        if cap.poll() is None:
            cap.kill()
            cap.wait()
    mac1 = lab.nic_mac("nic1")
    seen = [json.loads(line) for line in out.splitlines() if line.strip()]
    arps = [t for t, kind, ip, src in seen if kind == "arp" and ip == "192.0.2.10" and src == mac1]
    nas = [t for t, kind, ip, src in seen if kind == "na" and ip == "2001:db8::10" and src == mac1]
    # 4 announcements: each a gratuitous ARP request and reply, or one NA
    assert len(arps) == 8, seen
    assert len(nas) == 4, seen
    bursts = [arps[i] for i in range(0, 8, 2)]
    gaps = [b - a for a, b in zip(bursts, bursts[1:], strict=False)]
    # 300 ms apart: a repeat is never sent early (a late first frame on a busy
    # machine may shorten the first gap as the client sees it, hence the margin)
    assert all(g >= 0.15 for g in gaps), gaps


class _Sent:
    """Stands in for the packet socket's Announcer: records what would go out."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, list[str]]] = []

    def announce(self, ifname: str, mac: str, addresses: list[str]) -> None:
        self.sent.append((ifname, mac, [str(a) for a in addresses]))


def test_a_moved_address_is_never_announced_at_the_mac_it_left() -> None:
    from rcm_netkit.announce import RepeatingAnnouncer

    sent = _Sent()
    rep = RepeatingAnnouncer(sent)  # type: ignore[arg-type]
    try:
        rep.announce("nic1", "02:00:00:00:00:01", [V4_10, V4_11], count=3, interval=0.05)
        # 192.0.2.10 moves on at once: its pending repeats at nic1 are dropped
        rep.announce("nic0", "02:00:00:00:00:00", [V4_10], count=1)
        assert wait_until(lambda: rep.pending() == 0, 5)
    finally:
        rep.close()
    at_nic1 = [addrs for ifname, _mac, addrs in sent.sent if ifname == "nic1"]
    assert at_nic1 == [[V4_10, V4_11], [V4_11], [V4_11]], sent.sent
    assert [s for s in sent.sent if s[0] == "nic0"] == [("nic0", "02:00:00:00:00:00", [V4_10])]
