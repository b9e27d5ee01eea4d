"""Gratuitous ARP / unsolicited NA: a real peer must update its neighbour entry.

Two namespaces joined by a veth pair.  The observer holds a neighbour entry
for the address with a wrong MAC; after the announcer speaks, the entry must
show the announcer's MAC.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import subprocess
import time

import pytest
from rcm_netkit import netns as netns_mod
from rcm_netkit.announce import Announcer, frames_for
from rcm_netkit.netlink import NetlinkError

pytestmark = pytest.mark.lab

MAC_A = "02:00:00:00:0a:01"
WRONG = "02:00:00:00:99:99"
V4 = "192.0.2.10"
V6 = "2001:db8::10"


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def neigh_mac(ns: str, addr: str) -> str | None:
    entries = json.loads(ip("-n", ns, "-j", "neigh", "show", "to", addr, "dev", "b0") or "[]")
    return entries[0].get("lladdr") if entries else None


@pytest.fixture
def pair(netns) -> tuple[str, str]:
    """(announcer ns with a0, observer ns with b0), linked and up."""
    a = netns("ann")
    b = netns("obs")
    ip("-n", a, "link", "add", "a0", "address", MAC_A, "type", "veth", "peer", "name", "b0")
    ip("-n", a, "link", "set", "b0", "netns", b)
    ip("-n", a, "addr", "add", f"{V4}/24", "dev", "a0")
    ip("-n", a, "addr", "add", f"{V6}/64", "dev", "a0", "nodad")
    ip("-n", b, "addr", "add", "192.0.2.1/24", "dev", "b0")
    ip("-n", b, "addr", "add", "2001:db8::1/64", "dev", "b0", "nodad")
    ip("-n", a, "link", "set", "a0", "up")
    ip("-n", b, "link", "set", "b0", "up")
    # The kernel activates a link's queue from linkwatch, up to a second after
    # "up": a frame sent before that is dropped.  Wait for operstate UP.
    deadline = time.monotonic() + 5
    while not all(operstate(ns, dev) == "UP" for ns, dev in ((a, "a0"), (b, "b0"))):
        assert time.monotonic() < deadline, "veth pair did not come up"
        time.sleep(0.02)
    return a, b


def operstate(ns: str, dev: str) -> str:
    return json.loads(ip("-n", ns, "-j", "link", "show", "dev", dev))[0]["operstate"]


@pytest.mark.parametrize("nud", ["stale", "reachable"])
@pytest.mark.parametrize("with_prefix", [True, False])
def test_peer_learns_the_new_mac(pair: tuple[str, str], nud: str, with_prefix: bool) -> None:
    a, b = pair
    for addr in (V4, V6):
        ip("-n", b, "neigh", "replace", addr, "lladdr", WRONG, "dev", "b0", "nud", nud)
        assert neigh_mac(b, addr) == WRONG
    addrs = [f"{V4}/24", f"{V6}/64"] if with_prefix else [V4, V6]
    with Announcer(netns=a) as ann:
        ann.announce("a0", MAC_A, addrs)
    assert neigh_mac(b, V4) == MAC_A
    assert neigh_mac(b, V6) == MAC_A


def test_one_socket_serves_many_announcements(pair: tuple[str, str]) -> None:
    a, b = pair
    ann = Announcer(netns=a)
    try:
        for addr in (V4, V6):
            ip("-n", b, "neigh", "replace", addr, "lladdr", WRONG, "dev", "b0", "nud", "stale")
        ann.announce("a0", MAC_A, [V4])
        assert neigh_mac(b, V4) == MAC_A
        assert neigh_mac(b, V6) == WRONG  # only what was announced
        ann.announce("a0", MAC_A, [V6])
        assert neigh_mac(b, V6) == MAC_A
    finally:
        ann.close()
    with pytest.raises(NetlinkError, match="closed"):
        ann.announce("a0", MAC_A, [V4])


def test_frames_on_the_wire(pair: tuple[str, str]) -> None:
    """ARP request and reply, and an NA with the flags a peer requires."""
    a, b = pair

    def capture() -> socket.socket:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        s.bind(("b0", 0))
        s.settimeout(5)
        return s

    cap = netns_mod.call_in_netns(b, capture)
    try:
        with Announcer(netns=a) as ann:
            ann.announce("a0", MAC_A, [V4, f"{V6}/64"])
        arp_ops: list[int] = []
        na = None
        while len(arp_ops) < 2 or na is None:
            frame = cap.recv(2048)
            ethertype = struct.unpack_from("!H", frame, 12)[0]
            if ethertype == 0x0806:
                op = struct.unpack_from("!H", frame, 20)[0]
                sha, spa = frame[22:28], frame[28:32]
                tpa = frame[38:42]
                assert frame[:6] == b"\xff" * 6
                assert sha == bytes.fromhex(MAC_A.replace(":", ""))
                assert spa == tpa == ipaddress.IPv4Address(V4).packed
                arp_ops.append(op)
            elif ethertype == 0x86DD and frame[20] == 58 and frame[54] == 136:
                na = frame
        assert sorted(arp_ops) == [1, 2]
        assert na[:6] == bytes.fromhex("333300000001")
        assert na[21] == 255  # hop limit
        assert na[22:38] == ipaddress.IPv6Address(V6).packed  # source = the address
        flags = struct.unpack_from("!I", na, 58)[0]
        assert flags & 0x20000000 and not flags & 0x40000000  # Override, not Solicited
        assert na[62:78] == ipaddress.IPv6Address(V6).packed  # target
        assert na[78:80] == b"\x02\x01" and na[80:86] == bytes.fromhex("02000000" + "0a01")
    finally:
        cap.close()


def test_bad_input_is_reported(pair: tuple[str, str]) -> None:
    a, _b = pair
    with Announcer(netns=a) as ann:
        with pytest.raises(NetlinkError, match="nosuch0"):
            ann.announce("nosuch0", MAC_A, [V4])
        with pytest.raises(NetlinkError, match="not an IP"):
            ann.announce("a0", MAC_A, ["banana"])
        with pytest.raises(NetlinkError, match="MAC"):
            ann.announce("a0", "02:00", [V4])


def test_frames_for_counts() -> None:
    frames = frames_for(MAC_A, [V4, f"{V6}/64", "198.51.100.1/24"])
    assert len(frames) == 5  # two per IPv4 address, one per IPv6 address
    assert all(len(f) >= 42 for f in frames)


def test_failure_with_parsed_addresses_is_the_real_error(pair: tuple[str, str]) -> None:
    """The IPMP handler passes parsed interfaces: the error must name them,
    not turn into a TypeError while being written."""
    a, _b = pair
    parsed = [ipaddress.ip_interface(f"{V4}/24"), ipaddress.ip_interface(f"{V6}/64")]
    with Announcer(netns=a) as ann:
        with pytest.raises(NetlinkError) as err:
            ann.announce("nosuch0", MAC_A, parsed)
    assert str(err.value).startswith(f"nosuch0: cannot announce {V4}/24, {V6}/64: ")
