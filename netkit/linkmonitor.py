"""Link up/down events from rtnetlink (udev sends no uevent for them).

pyroute2 decodes the notifications (``MarshalRtnl``); the socket is ours:
made by a thread inside the namespace (no fork), subscribed to RTMGRP_LINK,
read with a 0.5 s timeout so that ``run`` notices ``stop`` promptly and with a
64 KiB buffer (pyroute2's ``IPRSocket.get()`` reads at most 16 KiB, with no
timeout of its own).
The socket only listens: requests on a subscribed socket would mix
acknowledgements with notifications.  Everything runs in the thread that
calls :meth:`LinkMonitor.run`.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from rcm.model import Event

from .names import LinkEvent
from .netlink import NetlinkError, link_from_message, open_route_socket_in

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5
RECV_SIZE = 1 << 16
#: Room for a burst of notifications while the consumer is busy (bytes).
RCVBUF = 4 << 20


def link_event(msg: Any) -> Event:
    """The Event for one decoded RTM_NEWLINK / RTM_DELLINK message (pyroute2 ifinfmsg)."""
    from pyroute2.netlink.rtnl import RTM_DELLINK

    link = link_from_message(msg)
    return LinkEvent(
        ifname=link.name,
        index=link.index,
        deleted=msg["header"]["type"] == RTM_DELLINK,
        up=link.up,
        carrier=link.carrier,
        operstate=link.operstate,
        mac=link.mac,
    ).to_event()


class LinkMonitor:
    """rcm EventSource posting one ``link`` Event per RTM_NEWLINK/RTM_DELLINK.

    ``netns`` listens inside /run/netns/NAME instead of the namespace of the
    thread calling ``run``.  ``ready`` is set once the socket is subscribed:
    events after that are not missed.

    If the kernel drops notifications because we fell behind (ENOBUFS), an
    Event with action ``rescan`` is posted: the consumer must re-read the links.
    """

    name = "netlink"

    def __init__(self, netns: str | None = None, rcvbuf: int = RCVBUF) -> None:
        self.netns = netns
        self.rcvbuf = rcvbuf
        self.ready = threading.Event()

    def run(self, post: Callable[[Event], None], stop: threading.Event) -> None:
        from pyroute2.netlink.rtnl import RTM_DELLINK, RTM_NEWLINK, RTMGRP_LINK
        from pyroute2.netlink.rtnl.marshal import MarshalRtnl

        marshal = MarshalRtnl()
        try:
            sock = open_route_socket_in(self.netns, groups=RTMGRP_LINK, rcvbuf=self.rcvbuf)
        except OSError as e:
            raise NetlinkError(f"cannot listen to link events: {e.strerror}") from e
        try:
            sock.settimeout(POLL_INTERVAL)
            self.ready.set()
            while not stop.is_set():
                try:
                    data = sock.recv(RECV_SIZE)
                except TimeoutError:
                    continue
                except OSError as e:
                    if e.errno == errno.ENOBUFS:
                        log.warning("link events lost (receive buffer overrun); rescanning")
                        post(Event(source="netlink", action="rescan", properties={}))
                        continue
                    raise NetlinkError(f"link event socket: {e.strerror}") from e
                try:
                    messages = list(marshal.parse(data))
                except Exception:  # a malformed datagram must not kill the listener
                    log.exception("cannot parse a link notification")
                    continue
                for msg in messages:
                    # Bridge-port notifications share the group with family
                    # AF_BRIDGE; only AF_UNSPEC messages describe the link itself.
                    kind = msg["header"]["type"]
                    if kind not in (RTM_NEWLINK, RTM_DELLINK):
                        continue
                    if msg.get("family") != socket.AF_UNSPEC:
                        continue
                    post(link_event(msg))
        finally:
            self.ready.clear()
            sock.close()
