"""rcm_netkit's failure paths and lookups, against the real kernel where it can be made to fail.

- extended acks: real bad requests, on both the pyroute2 path and addrbatch;
- ENOBUFS: a request socket with a tiny receive buffer, so the kernel drops acks;
- timeouts: a netlink socket connected to a peer that never answers;
- interrupted dumps: the real race (addresses changing during a dump) for
  consistency, and recorded kernel datagrams replayed with NLM_F_DUMP_INTR set
  for the give-up path (the real race interrupts ~2 dumps in 3, never reliably 5
  in a row);
- routes, neighbours and rules read back as ``ip`` set them.
"""

from __future__ import annotations

import errno
import gc
import ipaddress
import os
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator

import pyroute2.netns
import pytest
from pyroute2.netlink import NLM_F_DUMP_INTR
from rcm_netkit import addrbatch
from rcm_netkit import netlink as netlink_mod
from rcm_netkit.addrbatch import AddressBatch
from rcm_netkit.netlink import Netlink, NetlinkError, open_route_socket, open_route_socket_in
from rcm_netkit.netns import call_in_netns

pytestmark = pytest.mark.lab


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True).stdout


def veth(ns: str, a: str = "va", b: str = "vb") -> None:
    ip("-n", ns, "link", "add", a, "type", "veth", "peer", "name", b)


@pytest.fixture
def silent() -> Iterator[Callable[[], socket.socket]]:
    """Factory: a route socket whose requests go to another user socket, which
    never answers (the peers are closed after the test)."""
    peers: list[socket.socket] = []

    def make() -> socket.socket:
        peer = open_route_socket()
        peers.append(peer)
        sock = open_route_socket()
        sock.connect((peer.getsockname()[0], 0))
        return sock

    yield make
    for peer in peers:
        peer.close()


# --- extended acknowledgements ---------------------------------------------------------


def test_kernel_explanation_reaches_the_error_on_both_paths(netns) -> None:
    a = netns("extack")
    b = netns("extack2")
    veth(a)
    veth(b, "va", "vz")  # the same name waits in the destination
    with Netlink(netns=a) as nl:
        errors = nl.add_addresses("va", ["ff0e::5/64"])  # addrbatch
        assert "IFA_F_MCAUTOJOIN" in errors["ff0e::5/64"]  # the kernel's own words
        with pytest.raises(NetlinkError) as err:  # pyroute2
            nl.move_link("va", b)
        assert "File exists" in str(err.value)
        assert "new interface name in the target netns" in str(err.value)
        assert nl.link("va") is not None  # nothing half-done


# --- ENOBUFS -------------------------------------------------------------------------


def test_overflowing_acks_are_reported_per_address_not_waited_for(netns) -> None:
    ns = netns("enobufs")
    veth(ns)
    cidrs = [f"10.7.{i // 250}.{i % 250 + 1}/16" for i in range(600)]
    with Netlink(netns=ns) as nl:
        index = nl.link("va").index  # type: ignore[union-attr]
    sock = call_in_netns(ns, open_route_socket, 0, 256)  # the kernel's minimum, ~2 KiB
    batch = AddressBatch(sock, ns)
    try:
        parsed = [(c, ipaddress.ip_interface(c)) for c in cidrs]
        errors = batch.add("va", index, parsed)
        lost = [c for c, text in errors.items() if "acknowledgement lost" in text]
        assert lost, "the tiny buffer did not overflow: the test proves nothing"
        assert set(errors) == set(lost)  # no other failure
        # The kernel applied every request, acknowledged or not; the socket still works.
        present = {a.cidr for a in batch.addresses({index: "va"}, index)}
        assert set(cidrs) <= present
    finally:
        batch.close()


# --- timeouts ------------------------------------------------------------------------


def test_addrbatch_deadline_covers_the_whole_exchange(silent, monkeypatch) -> None:
    batch = AddressBatch(silent(), "test", timeout=0.3)
    waits: list[float] = []
    real_wait = batch._wait

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return real_wait(seconds)

    monkeypatch.setattr(batch, "_wait", wait)
    try:
        cidrs = [f"10.0.{i // 250}.{i % 250}/32" for i in range(3 * addrbatch.BATCH)]
        parsed = [(c, ipaddress.ip_interface(c)) for c in cidrs]
        errors = batch.add("va", 1, parsed)
    finally:
        batch.close()
    assert len(errors) == len(parsed)
    assert all("no answer within 0.3 s" in text for text in errors.values())
    # Three send()s, but one deadline: the waits add up to the timeout, not three times it.
    assert waits and sum(max(w, 0) for w in waits) <= 0.3 + 1e-6


def test_pyroute2_path_times_out_and_replaces_its_socket(netns, silent, monkeypatch) -> None:
    ns = netns("timeout")
    veth(ns)
    nl = Netlink(netns=ns, timeout=0.3)
    try:
        real = nl._socket
        monkeypatch.setattr(nl, "_socket", silent)
        nl._rt.close()  # type: ignore[union-attr]
        nl._rt = nl._open_pyroute()
        with pytest.raises(NetlinkError, match=r"va.*no answer from the kernel within 0.3 s"):
            nl.set_link_up("va")
        monkeypatch.setattr(nl, "_socket", real)
        with pytest.raises(NetlinkError, match="no answer"):
            nl.set_link_up("va")  # still the silent one: it was replaced by another silent one
        nl._rt.close()  # type: ignore[union-attr]
        nl._rt = nl._open_pyroute()
        nl.set_link_up("va")
        assert nl.link("va").up  # type: ignore[union-attr]
    finally:
        nl.close()


# --- interrupted dumps -----------------------------------------------------------------


class Replay:
    """Plays recorded kernel datagrams back as the answer to each request sent."""

    def __init__(self, answers: list[list[bytes]]) -> None:
        self.answers = answers
        self.queue: list[bytes] = []
        self.requests = 0

    def send(self, data: bytes) -> int:
        seq = struct.unpack_from("=I", data, 8)[0]
        recorded = self.answers[min(self.requests, len(self.answers) - 1)]
        self.requests += 1
        for datagram in recorded:
            patched = bytearray(datagram)
            offset = 0
            while offset + 16 <= len(patched):  # every message carries our seq
                length = struct.unpack_from("=I", patched, offset)[0]
                struct.pack_into("=I", patched, offset + 8, seq)
                offset += (length + 3) & ~3
            self.queue.append(bytes(patched))
        return len(data)

    def recv(self, size: int) -> bytes:
        if not self.queue:
            raise BlockingIOError
        return self.queue.pop(0)

    def setblocking(self, flag: bool) -> None:
        pass

    def close(self) -> None:
        pass


class Recorder:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.datagrams: list[bytes] = []

    def recv(self, size: int) -> bytes:
        data = self.sock.recv(size)
        self.datagrams.append(data)
        return data

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.sock, name)


def interrupted(datagrams: list[bytes]) -> list[bytes]:
    out = []
    for datagram in datagrams:
        patched = bytearray(datagram)
        offset = 0
        while offset + 16 <= len(patched):
            length, _kind, flags = struct.unpack_from("=IHH", patched, offset)
            struct.pack_into("=H", patched, offset + 6, flags | NLM_F_DUMP_INTR)
            offset += (length + 3) & ~3
        out.append(bytes(patched))
    return out


@pytest.fixture
def recorded_dump(netns) -> list[bytes]:
    """The datagrams of a real address dump (a namespace with a few addresses)."""
    ns = netns("rec")
    veth(ns)
    for i in range(1, 6):
        ip("-n", ns, "addr", "add", f"192.0.2.{i}/24", "dev", "va")
    rec = Recorder(open_route_socket_in(ns))
    batch = AddressBatch(rec, ns)  # type: ignore[arg-type]
    assert len(batch.dump_raw()) >= 5
    batch.close()
    return rec.datagrams


def test_dump_interrupted_every_time_raises(recorded_dump) -> None:
    replay = Replay([interrupted(recorded_dump)])
    batch = AddressBatch(replay, "replayed")  # type: ignore[arg-type]
    with pytest.raises(NetlinkError, match="interrupted 5 times in a row"):
        batch.dump_raw()
    assert replay.requests == netlink_mod.DUMP_ATTEMPTS


def test_dump_interrupted_once_is_retried(recorded_dump) -> None:
    replay = Replay([interrupted(recorded_dump), recorded_dump])
    batch = AddressBatch(replay, "replayed")  # type: ignore[arg-type]
    clean = batch.dump_raw()
    assert replay.requests == 2
    assert len(clean) >= 5


def test_dump_under_real_churn_is_complete_or_an_error(netns) -> None:
    """Addresses change during every dump: each answer has every stable address,
    or says the dump was interrupted; never a silently partial list."""
    ns = netns("churn")
    veth(ns)
    stable = {f"10.{i // 250}.{i % 250}.1/32" for i in range(2000)}
    stop = threading.Event()

    def churn() -> None:
        with Netlink(netns=ns) as other:
            while not stop.is_set():
                other.add_addresses("vb", ["192.0.2.9/24"])
                other.del_addresses("vb", ["192.0.2.9/24"])

    with Netlink(netns=ns) as nl:
        assert nl.add_addresses("va", sorted(stable)) == {}
        t = threading.Thread(target=churn, daemon=True)
        t.start()
        outcomes = []
        try:
            for _ in range(10):
                try:
                    got = {a.cidr for a in nl.addresses("va")}
                    outcomes.append(stable <= got)
                except NetlinkError as e:
                    assert "interrupted 5 times" in str(e)
                    outcomes.append(True)
        finally:
            stop.set()
            t.join(10)
    assert all(outcomes)


def test_pyroute2_dump_interrupted_every_time_raises(netns, monkeypatch) -> None:
    from pyroute2.netlink.exceptions import NetlinkDumpInterrupted

    ns = netns("intr")
    with Netlink(netns=ns) as nl:
        calls = []

        def always(make, what):  # type: ignore[no-untyped-def]
            calls.append(what)
            raise NetlinkDumpInterrupted()

        monkeypatch.setattr(nl, "_run", always)
        with pytest.raises(NetlinkError, match="rule dump.*interrupted 5 times"):
            nl.rules()
    assert len(calls) == netlink_mod.DUMP_ATTEMPTS


# --- pyroute2's pitfalls -------------------------------------------------------------------


def test_no_fork_and_no_namespace_creation(netns, monkeypatch) -> None:
    """Namespace sockets come from a setns'd thread: pyroute2's fork path is never taken."""
    a = netns("nofork")
    b = netns("nofork2")
    veth(a, "nic0", "nic0p")

    def forbidden(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("fork / pyroute2 netns socket path used")

    monkeypatch.setattr(os, "fork", forbidden)
    monkeypatch.setattr(pyroute2.netns, "create_socket", forbidden)
    with Netlink(netns=a) as nl:
        nl.move_link("nic0", b)
        nl.pull_link("nic0", b)
        assert nl.link("nic0") is not None
        missing = f"rcmt-typo-{os.getpid()}"
        with pytest.raises(NetlinkError, match="does not exist"):
            nl.move_link("nic0", missing)
        with pytest.raises(NetlinkError, match="does not exist"):
            nl.pull_link("nic0", missing)
    assert not os.path.exists(f"/run/netns/{missing}")


def test_a_netlink_object_refuses_other_threads(netns) -> None:
    ns = netns("thread")
    with Netlink(netns=ns) as nl:
        caught: list[BaseException] = []

        def other() -> None:
            try:
                nl.links()
            except BaseException as e:
                caught.append(e)

        t = threading.Thread(target=other)
        t.start()
        t.join(10)
        assert len(caught) == 1 and isinstance(caught[0], NetlinkError)
        assert "another thread" in str(caught[0])
        assert [link.name for link in nl.links()] == ["lo"]  # its own thread still works


# --- the template ----------------------------------------------------------------------------


@pytest.mark.parametrize("cidr", ["192.0.2.7/24", "127.0.0.9/8", "2001:db8::7/64"])
@pytest.mark.parametrize("kind", ["add", "del"])
def test_patched_template_equals_pyroute2s_own_encoding(cidr: str, kind: str) -> None:
    from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
    from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_NEWADDR
    from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD, ifaddrmsg

    iface = ipaddress.ip_interface(cidr)
    rtm = RTM_NEWADDR if kind == "add" else RTM_DELADDR
    (ours,) = AddressBatch._messages(rtm, 42, [iface])

    msg = ifaddrmsg()
    v6 = iface.version == 6
    msg["family"] = socket.AF_INET6 if v6 else socket.AF_INET
    msg["prefixlen"] = iface.network.prefixlen
    msg["flags"] = IFA_F_NODAD if (v6 and kind == "add") else 0
    msg["scope"] = 254 if iface.ip.is_loopback and not v6 else 0
    msg["index"] = 42
    msg["attrs"] = [("IFA_LOCAL", str(iface.ip)), ("IFA_ADDRESS", str(iface.ip))]
    msg["header"]["type"] = rtm
    flags = NLM_F_REQUEST | NLM_F_ACK
    if kind == "add":
        flags |= NLM_F_CREATE | NLM_F_EXCL
    msg["header"]["flags"] = flags
    msg["header"]["sequence_number"] = 0
    msg["header"]["pid"] = 0
    msg.encode()
    assert bytes(ours) == bytes(msg.data)


# --- routes, neighbours, rules ----------------------------------------------------------------


def test_routes_neighbours_and_rules_read_back(netns) -> None:
    ns = netns("lookup")
    veth(ns)
    ip("-n", ns, "link", "set", "va", "up")
    ip("-n", ns, "link", "set", "vb", "up")
    ip("-n", ns, "addr", "add", "192.0.2.1/24", "dev", "va")
    ip("-n", ns, "route", "add", "198.51.100.0/24", "via", "192.0.2.254", "dev", "va")
    ip("-n", ns, "route", "add", "default", "via", "192.0.2.253", "dev", "va", "metric", "50")
    ip("-n", ns, "neigh", "add", "192.0.2.254", "lladdr", "02:00:00:00:fe:01", "dev", "va",
       "nud", "permanent")  # fmt: skip
    ip("-n", ns, "rule", "add", "from", "192.0.2.0/24", "table", "100", "priority", "1000")
    with Netlink(netns=ns) as nl:
        routes = {r.dst: r for r in nl.routes(family=4)}
        assert routes["198.51.100.0/24"].gateway == "192.0.2.254"
        assert routes["198.51.100.0/24"].ifname == "va"
        assert routes["192.0.2.0/24"].scope == "link"
        assert routes["default"].gateway == "192.0.2.253"
        assert routes["default"].priority == 50

        to = nl.route_to("198.51.100.7")
        assert (to.gateway, to.ifname, to.prefsrc) == ("192.0.2.254", "va", "192.0.2.1")
        with pytest.raises(NetlinkError, match="not an IP address"):
            nl.route_to("nonsense")

        neigh = {n.address: n for n in nl.neighbours("va")}
        assert neigh["192.0.2.254"].mac == "02:00:00:00:fe:01"
        assert neigh["192.0.2.254"].state == "permanent"
        assert nl.neighbours("nosuch0") == []

        rules = nl.rules(4)
        assert [r.priority for r in rules] == sorted(r.priority for r in rules)
        mine = [r for r in rules if r.priority == 1000]
        assert len(mine) == 1 and mine[0].table == 100 and mine[0].src == "192.0.2.0/24"
        assert any(r.table == 254 and r.src is None for r in rules)  # "from all lookup main"


def test_route_to_unreachable_names_the_destination(netns) -> None:
    ns = netns("unreach")
    with Netlink(netns=ns) as nl:
        with pytest.raises(NetlinkError, match=r"203\.0\.113\.1.*unreachable") as err:
            nl.route_to("203.0.113.1")
    assert getattr(err.value.__cause__, "code", None) == errno.ENETUNREACH


def test_closing_releases_every_socket_at_once(netns) -> None:
    """rcmd opens a Netlink on the holding namespace for each listing: closing
    one must release its sockets then, not when the garbage collector runs."""
    a = netns("fds")
    b = netns("fds2")
    veth(a, "nic0", "nic0p")

    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    Netlink(netns=a).close()  # imports and first-use caches out of the count
    gc.disable()
    try:
        before = fds()
        for _ in range(10):
            with Netlink(netns=a) as nl:
                nl.links()
                nl.addresses()
                nl.move_link("nic0", b)
                nl.pull_link("nic0", b)
        assert fds() == before
    finally:
        gc.enable()
