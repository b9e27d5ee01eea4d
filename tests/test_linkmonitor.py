"""LinkMonitor: link up/down/remove in a throwaway namespace reach ``post``."""

from __future__ import annotations

import queue
import struct
import subprocess
import threading

import pytest
from pyroute2.netlink.rtnl import RTM_DELLINK
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from rcm_netkit import netns as netns_mod
from rcm_netkit.linkmonitor import LinkMonitor, link_event
from rcm_netkit.netlink import Netlink

from rcm.model import Event
from rcm.protocols import EventSource

pytestmark = pytest.mark.lab

WAIT = 10  # generous upper bound for an event to arrive; not a timing assertion


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Running:
    """A monitor running in its own thread, collecting events."""

    def __init__(self, monitor: LinkMonitor) -> None:
        self.monitor = monitor
        self.events: queue.Queue[Event] = queue.Queue()
        self.stop = threading.Event()
        self.error: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert monitor.ready.wait(WAIT), "monitor never subscribed"

    def _run(self) -> None:
        try:
            self.monitor.run(self.events.put, self.stop)
        except BaseException as e:
            self.error.append(e)
            self.monitor.ready.set()

    def wait_for(self, pred) -> Event:  # type: ignore[no-untyped-def]
        while True:
            ev = self.events.get(timeout=WAIT)
            if pred(ev):
                return ev

    def close(self) -> None:
        self.stop.set()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        assert not self.error


def is_(name: str, **props: str):  # type: ignore[no-untyped-def]
    def pred(ev: Event) -> bool:
        return ev.get("IFNAME") == name and all(ev.get(k) == v for k, v in props.items())

    return pred


def test_monitor_is_an_event_source() -> None:
    mon: EventSource = LinkMonitor()
    assert mon.name == "netlink"
    assert callable(mon.run)


def test_up_down_and_delete_are_posted(netns) -> None:
    ns = netns("mon")
    ip("-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb")
    with Netlink(netns=ns) as nl:
        index = str(nl.link("va").index)  # type: ignore[union-attr]
    run = Running(LinkMonitor(netns=ns))
    try:
        ip("-n", ns, "link", "set", "va", "up")
        ev = run.wait_for(is_("va", UP="1"))
        assert ev.source == "netlink" and ev.action == "link"
        assert ev.get("EVENT") == "new"
        assert ev.get("IFINDEX") == index
        assert ev.get("CARRIER") == "0"  # the peer is still down
        assert ev.get("OPERSTATE") == "LOWERLAYERDOWN"

        ip("-n", ns, "link", "set", "vb", "up")
        ev = run.wait_for(is_("va", CARRIER="1"))
        assert ev.get("UP") == "1" and ev.get("OPERSTATE") == "UP"

        ip("-n", ns, "link", "set", "vb", "down")
        ev = run.wait_for(is_("va", CARRIER="0"))
        assert ev.get("OPERSTATE") == "LOWERLAYERDOWN"

        ip("-n", ns, "link", "set", "va", "down")
        ev = run.wait_for(is_("va", UP="0"))
        assert ev.get("OPERSTATE") == "DOWN"

        ip("-n", ns, "link", "del", "va")
        ev = run.wait_for(is_("va", EVENT="del"))
        assert ev.get("IFINDEX") == index
    finally:
        run.close()


def test_monitor_sees_only_its_namespace(netns) -> None:
    watched = netns("watched")
    other = netns("other")
    ip("-n", other, "link", "add", "xa", "type", "veth", "peer", "name", "xb")
    ip("-n", watched, "link", "add", "wa", "type", "veth", "peer", "name", "wb")
    run = Running(LinkMonitor(netns=watched))
    try:
        ip("-n", other, "link", "set", "xa", "up")
        ip("-n", watched, "link", "set", "wa", "up")
        run.wait_for(is_("wa", UP="1"))
        seen = []
        while not run.events.empty():
            seen.append(run.events.get_nowait().get("IFNAME"))
        # xa's event was generated first; had the monitor seen it, it would be queued.
        assert "xa" not in seen
    finally:
        run.close()


def test_monitor_in_callers_namespace(netns) -> None:
    """Without a name, the monitor listens where the thread calling run() is."""
    ns = netns("callerns")
    ip("-n", ns, "link", "add", "ca", "type", "veth", "peer", "name", "cb")
    mon = LinkMonitor()
    events: queue.Queue[Event] = queue.Queue()
    stop = threading.Event()
    t = threading.Thread(
        target=netns_mod.call_in_netns, args=(ns, mon.run, events.put, stop), daemon=True
    )
    t.start()
    try:
        assert mon.ready.wait(WAIT)
        ip("-n", ns, "link", "set", "ca", "up")
        while True:
            ev = events.get(timeout=WAIT)
            if ev.get("IFNAME") == "ca" and ev.get("UP") == "1":
                break
    finally:
        stop.set()
        t.join(WAIT)
    assert not t.is_alive()


def test_link_event_parses_a_delete() -> None:
    """A recorded RTM_DELLINK datagram, decoded by pyroute2 as the monitor does."""
    body = struct.pack("=BxHiII", 0, 1, 7, 0x1 | 0x10000, 0)
    name = b"eth9\0"
    body += struct.pack("=HH", 4 + len(name), 3) + name + b"\0" * (-len(name) & 3)
    datagram = struct.pack("=IHHII", 16 + len(body), RTM_DELLINK, 0, 0, 0) + body
    (msg,) = MarshalRtnl().parse(datagram)
    ev = link_event(msg)
    assert ev.properties["IFNAME"] == "eth9"
    assert ev.properties["IFINDEX"] == "7"
    assert ev.properties["EVENT"] == "del"
    assert ev.properties["UP"] == "1" and ev.properties["CARRIER"] == "1"


def test_overflow_posts_a_rescan_and_the_monitor_keeps_listening(netns) -> None:
    """A consumer that falls behind makes the kernel drop notifications
    (ENOBUFS): the monitor says so with a ``rescan`` event and goes on."""
    ns = netns("overflow")
    ip("-n", ns, "link", "add", "va", "type", "veth", "peer", "name", "vb")
    busy = threading.Event()
    release = threading.Event()
    events: queue.Queue[Event] = queue.Queue()

    def slow_post(ev: Event) -> None:
        if not busy.is_set():
            busy.set()
            release.wait(WAIT)  # the consumer is stuck while the burst arrives
        events.put(ev)

    mon = LinkMonitor(netns=ns, rcvbuf=256)  # the kernel's minimum, a few KiB
    stop = threading.Event()
    t = threading.Thread(target=mon.run, args=(slow_post, stop), daemon=True)
    t.start()
    try:
        assert mon.ready.wait(WAIT)
        ip("-n", ns, "link", "set", "va", "up")
        assert busy.wait(WAIT)
        for _ in range(20):  # each change is a notification of ~1 KiB or more
            ip("-n", ns, "link", "set", "va", "down")
            ip("-n", ns, "link", "set", "va", "up")
        release.set()
        while events.get(timeout=WAIT).action != "rescan":
            pass
        ip("-n", ns, "link", "set", "vb", "up")  # still listening after the overflow
        while True:
            ev = events.get(timeout=WAIT)
            if ev.get("IFNAME") == "vb" and ev.get("UP") == "1":
                break
    finally:
        release.set()
        stop.set()
        t.join(WAIT)
    assert not t.is_alive()
