"""Link up/down events from rtnetlink (udev sends no uevent for them).

A raw NETLINK_ROUTE socket subscribed to RTMGRP_LINK, read with a 0.5 s
timeout so that ``run`` notices ``stop`` promptly.  The socket only listens:
requests on a subscribed socket would mix acks with notifications.  We parse
messages ourselves rather than use pyroute2's ``get()``, which must run in the
thread that bound and strands events when combined with select().
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable

from rcm.model import Event

from .names import LinkEvent
from .netlink import (
    RTM_DELLINK,
    RTM_NEWLINK,
    RTMGRP_LINK,
    NetlinkError,
    iter_messages,
    open_route_socket_in,
    parse_link,
)

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5


def link_event(kind: int, payload: bytes | memoryview) -> Event:
    """The Event for one RTM_NEWLINK / RTM_DELLINK message body."""
    link = parse_link(payload)
    return LinkEvent(
        ifname=link.name,
        index=link.index,
        deleted=kind == RTM_DELLINK,
        up=link.up,
        carrier=link.carrier,
        operstate=link.operstate,
        mac=link.mac,
    ).to_event()


class LinkMonitor:
    """rcm EventSource posting one ``link`` Event per RTM_NEWLINK/RTM_DELLINK.

    ``netns`` (an addition) listens inside /run/netns/NAME instead of the
    namespace of the thread calling ``run``.  ``ready`` is set once the socket
    is subscribed: events after that are not missed.

    If the kernel drops notifications because we fell behind (ENOBUFS), an
    Event with action ``rescan`` is posted: the consumer must re-read the links.
    """

    name = "netlink"

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self.ready = threading.Event()

    def run(self, post: Callable[[Event], None], stop: threading.Event) -> None:
        try:
            sock = open_route_socket_in(self.netns, groups=RTMGRP_LINK)
        except OSError as e:
            raise NetlinkError(f"cannot listen to link events: {e.strerror}") from e
        try:
            sock.settimeout(POLL_INTERVAL)
            self.ready.set()
            while not stop.is_set():
                try:
                    data = sock.recv(1 << 16)
                except TimeoutError:
                    continue
                except OSError as e:
                    if e.errno == errno.ENOBUFS:
                        log.warning("link events lost (receive buffer overrun); rescanning")
                        post(Event(source="netlink", action="rescan", properties={}))
                        continue
                    raise NetlinkError(f"link event socket: {e.strerror}") from e
                for kind, _flags, _seq, body in iter_messages(data):
                    # Bridge-port notifications share the group with family
                    # AF_BRIDGE; only AF_UNSPEC messages describe the link itself.
                    if kind not in (RTM_NEWLINK, RTM_DELLINK) or not body or body[0] != 0:
                        continue
                    try:
                        event = link_event(kind, body)
                    except Exception:  # a malformed message must not kill the listener
                        log.exception("cannot parse a link message")
                        continue
                    post(event)
        finally:
            self.ready.clear()
            sock.close()
