"""Batched probe I/O (rcm_netkit.probeio) against the real kernel: every
member's probe in one sendmmsg, each leaving through its own NIC from its
own address, every reply read back with the NIC it arrived on, the address
it came back to, and the kernel's receive time.  All of a socket's probes
carry one echo request: the NIC and the address say whose a reply is.

The lab's host has nic0 and nic1 on one bridge with the client
(192.0.2.100, and a link-local IPv6 address); the host has no route to the
client at all (test addresses are host addresses, /32), as in the IPMP
handler's probing: the output NIC comes from IP_PKTINFO.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from rcm_lab import Lab, wait_until
from rcm_netkit.netns import call_in_netns
from rcm_netkit.probeio import Endpoint, ProbeIO, Reply, source_text

CLIENT = "192.0.2.100"


@pytest.fixture
def bare(lab: None) -> Iterator[Lab]:
    """The lab's namespaces, no rcmd; nic0 and nic1 with a /32 test address each."""
    with Lab(interfaces={}, groups={}) as made:
        for nic, address in (("nic0", "192.0.2.20/32"), ("nic1", "192.0.2.21/32")):
            made.host("addr", "add", address, "dev", nic)
        for key in ("arp_ignore=1", "arp_announce=2"):  # as rcmd tunes its members
            name, value = key.split("=")
            made._sysctl("host", f"net.ipv4.conf.all.{name}", value)
        yield made


def _in_host(lab: Lab, fn, *args):  # type: ignore[no-untyped-def]
    return call_in_netns(lab.ns["host"], fn, *args)


def _replies(io: ProbeIO, want: int, lab: Lab) -> list[Reply]:
    got: list[Reply] = []

    def enough() -> bool:
        got.extend(io.receive())
        return len(got) >= want

    assert wait_until(enough, 5), f"{len(got)} of {want} replies\n{lab.snapshot()}"
    return got


@pytest.mark.lab
def test_each_probe_leaves_through_its_nic_and_its_reply_says_where_it_came(bare: Lab) -> None:
    lab = bare
    io = _in_host(lab, ProbeIO, False, 0x1111)
    try:
        ends: list[Endpoint] = [
            _in_host(lab, io.endpoint, "nic0", "192.0.2.20"),
            _in_host(lab, io.endpoint, "nic1", "192.0.2.21"),
        ]
        io.prepare(7)
        sent_ns, errors = io.send([end.header(CLIENT) for end in ends])
        assert errors == {}
        replies = _replies(io, 2, lab)
        index = {n: int(lab.host("link", "show", n).stdout.split(":")[0]) for n in ("nic0", "nic1")}
        by_nic = {r.ifindex: r for r in replies}
        assert set(by_nic) == {index["nic0"], index["nic1"]}
        assert by_nic[index["nic0"]].destination == socket.inet_aton("192.0.2.20")
        assert by_nic[index["nic1"]].destination == socket.inet_aton("192.0.2.21")
        assert {(r.ifindex, r.destination) for r in replies} == {e.key for e in ends}
        for reply in replies:
            assert (reply.ident, reply.seq) == (0x1111, 7)
            assert source_text(reply) == CLIENT
            assert 0 < reply.received_ns - sent_ns < 5_000_000_000  # the kernel's stamp
        # The client saw each from its own test address through its own MAC:
        # its neighbour entries say which NIC holds each source.
        for nic, address in (("nic0", "192.0.2.20"), ("nic1", "192.0.2.21")):
            assert lab.client_neigh(address) == lab.mac("host", nic)
    finally:
        io.close()


@pytest.mark.lab
def test_a_refused_probe_does_not_stop_the_others(bare: Lab) -> None:
    """nic1 leaves the host after its probe was prepared: its send fails
    (ENODEV) and the probes before and after it in the same call still go."""
    lab = bare
    io = _in_host(lab, ProbeIO, False)
    try:
        nic0 = _in_host(lab, io.endpoint, "nic0", "192.0.2.20")
        gone = _in_host(lab, io.endpoint, "nic1", "192.0.2.21")
        lab.move("nic1", "host", "holding")
        io.prepare(1)
        headers = [nic0.header(CLIENT), gone.header(CLIENT), nic0.header(CLIENT)]
        _sent, errors = io.send(headers)
        assert list(errors) == [1], errors
        assert errors[1].errno  # the kernel's reason (ENETUNREACH here: no such output)
        replies = _replies(io, 2, lab)
        assert [(r.ifindex, r.destination) for r in replies] == [nic0.key, nic0.key]
    finally:
        io.close()


def _link_local(ip: Callable[..., subprocess.CompletedProcess[str]], dev: str) -> list[str]:
    """The link-local IPv6 addresses of ``dev``, by ``ip`` in its namespace."""
    shown = ip("-6", "addr", "show", "dev", dev, "scope", "link").stdout.splitlines()
    return [line.split()[1].split("/")[0] for line in shown if line.strip().startswith("inet6")]


@pytest.mark.lab
def test_ipv6_probes_go_link_local_to_link_local(bare: Lab) -> None:
    """From the NIC's link-local address (as in.mpathd's probes go) to the
    client's link-local address scoped to the NIC; the reply comes back to
    that address on that NIC."""
    lab = bare
    ll = _link_local(lab.client, "eth0")
    assert ll, lab.snapshot()
    # the NIC's own link-local address must have finished DAD to be a source
    assert wait_until(
        lambda: "tentative" not in lab.host("-6", "addr", "show", "dev", "nic0").stdout, 10
    )
    own = _link_local(lab.host, "nic0")
    io = _in_host(lab, ProbeIO, True, 0x6666)
    try:
        end = _in_host(lab, io.endpoint, "nic0", own[0])
        io.prepare(3)
        _sent, errors = io.send([end.header(ll[0])])
        assert errors == {}
        (reply,) = [r for r in _replies(io, 1, lab) if r.ident == 0x6666]
        assert reply.seq == 3 and source_text(reply) == ll[0]
        assert reply.ifindex == int(lab.host("link", "show", "nic0").stdout.split(":")[0])
        assert reply.destination == socket.inet_pton(socket.AF_INET6, own[0])
        assert (reply.ifindex, reply.destination) == end.key
    finally:
        io.close()


@pytest.mark.lab
def test_foreign_echo_replies_are_not_ours(bare: Lab) -> None:
    """Another program's echo (no rcm payload) reaches the same raw socket
    and is left out; a reply to us is still read after it."""
    lab = bare
    io = _in_host(lab, ProbeIO, False, 0x7777)
    try:
        plain = _in_host(lab, socket.socket, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        try:
            plain.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"nic0")
            plain.bind(("192.0.2.20", 0))
            # echo requests without our payload (one longer than ours, one of
            # our length with other bytes), checksums computed by hand
            for payload in (b"someone else", b"notours!"):
                body = bytearray(b"\x08\x00\x00\x00\x12\x34\x00\x01" + payload)
                total = sum(int.from_bytes(body[i : i + 2], "big") for i in range(0, len(body), 2))
                while total >> 16:
                    total = (total & 0xFFFF) + (total >> 16)
                body[2:4] = (~total & 0xFFFF).to_bytes(2, "big")
                plain.sendto(bytes(body), (CLIENT, 0))
        finally:
            plain.close()
        time.sleep(0.2)
        end = _in_host(lab, io.endpoint, "nic0", "192.0.2.20")
        io.prepare(9)
        io.send([end.header(CLIENT)])
        replies = _replies(io, 1, lab)
        assert [(r.ident, r.seq) for r in replies] == [(0x7777, 9)]
    finally:
        io.close()


@pytest.mark.lab
def test_collect_keys_each_answer_by_round_nic_and_address(bare: Lab) -> None:
    """The prober's path: each reply to this socket's echo request becomes
    (sequence number, NIC, our address) -> receive time; a reply to another
    socket's request (another identifier, same NIC and round) is not ours,
    and the replies of the round being listened to also come back whole."""
    lab = bare
    io = _in_host(lab, ProbeIO, False, 0x2468)
    other = _in_host(lab, ProbeIO, False, 0x1357)
    try:
        ends = [
            _in_host(lab, io.endpoint, "nic0", "192.0.2.20"),
            _in_host(lab, io.endpoint, "nic1", "192.0.2.21"),
        ]
        io.prepare(5)
        sent_ns, errors = io.send([end.header(CLIENT) for end in ends])
        assert errors == {}
        stranger = _in_host(lab, other.endpoint, "nic0", "192.0.2.20")
        other.prepare(5)
        other.send([stranger.header(CLIENT)])
        answers: dict[tuple[int, int, bytes], tuple[int, int]] = {}

        def both() -> bool:
            io.collect(answers, 0xFFFF)
            return len(answers) >= 2

        assert wait_until(both, 5), f"{answers}\n{lab.snapshot()}"
        time.sleep(0.2)
        assert io.collect(answers, 0xFFFF) == []
        assert set(answers) == {(5, *end.key) for end in ends}
        for sec, nsec in answers.values():
            assert 0 < sec * 1_000_000_000 + nsec - sent_ns < 5_000_000_000
        io.prepare(0xFFFF)
        io.send([ends[0].header(CLIENT)])
        heard: list[Reply] = []
        assert wait_until(lambda: heard.extend(io.collect(answers, 0xFFFF)) or heard, 5)
        assert [(r.seq, source_text(r), (r.ifindex, r.destination)) for r in heard] == [
            (0xFFFF, CLIENT, ends[0].key)
        ]
        assert other.receive()  # the stranger's reply reached its own socket
    finally:
        io.close()
        other.close()
