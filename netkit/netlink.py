"""Links, addresses, routes, neighbours and rules over rtnetlink: rcm_netkit's netlink API.

Who does what:

- **pyroute2** (``AsyncIPRoute`` on a socket we hand it) does the link work
  (up/down, move between namespaces), decodes link events
  (:mod:`.linkmonitor`) and the route, neighbour and rule lookups.  The two
  link reads an operation makes often (:meth:`Netlink.link`,
  :meth:`Netlink.links`) are pyroute2 messages too, encoded and decoded by
  pyroute2, but sent on the synchronous socket of :mod:`.addrbatch`: its
  asyncio request round cost ~1 ms a lookup (1.5 -> 0.6 ms).
- :mod:`.addrbatch` does bulk address add/delete and the address dump by hand
  (pyroute2-encoded templates, patched bytes), because there pyroute2 costs
  ~10x ``ip -batch``; its docstring has the figures.

The pyroute2 pitfalls this module guards against (docs/netkit.md):

- No fork per namespace: a thread that ``setns()``-es into the namespace
  creates the socket (:func:`.netns.call_in_netns`) and pyroute2 is given
  that socket (``use_socket=``); the socket stays bound to its namespace.  So
  pyroute2 never creates a namespace (a mistyped name is an error here: we
  open /run/netns/NAME ourselves, never with O_CREAT) and never runs
  ``ldconfig -p`` (its libc loader is only reached on its fork path).
- Bounded waits: every pyroute2 call runs under one deadline
  (:data:`TIMEOUT`, whole call) and a socket that timed out or overflowed is
  replaced before the next call.
- One socket to ask, another to listen: request sockets join no multicast group.
- Thread affinity: pyroute2 objects are used only by the thread that made
  them (pyroute2 raises otherwise; :class:`Netlink` says so in a NetlinkError).

pyroute2 is imported when the first :class:`Netlink` is made, not when this
module is imported (it costs ~100 ms): the types below are importable by
anyone for free.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rcm.errors import RcmError

from .names import valid_ifname
from .netns import NetnsError, call_in_netns, open_netns

if TYPE_CHECKING:
    from .addrbatch import AddressBatch

#: Seconds one netlink call (a request and its whole answer) may take.
TIMEOUT = 10.0
#: A dump the kernel interrupts (the table changed meanwhile) is retried this often.
DUMP_ATTEMPTS = 5
#: asm-generic/socket.h; exported neither by Python's socket module nor by pyroute2.
_SO_RCVBUFFORCE = 33
#: IFLA_EXT_MASK bit (linux/rtnetlink.h; pyroute2 names it only in a comment):
#: no link statistics in answers, a quarter less for pyroute2 to decode.
_RTEXT_FILTER_SKIP_STATS = 1 << 3
#: Receive buffer of a request socket: room for the acks of a whole address batch.
_RCVBUF = 4 << 20

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class NetlinkError(RcmError):
    """A netlink request failed; the message names the interface (and address) at fault."""


@dataclass(frozen=True)
class Link:
    """One network interface as rtnetlink reports it."""

    index: int
    name: str
    mac: str  # 'aa:bb:cc:dd:ee:ff', lower case; '' if the link has no address
    kind: str | None  # 'veth', 'bridge' …; None for physical (no IFLA_INFO_KIND)
    up: bool  # IFF_UP: administratively up
    carrier: bool  # IFF_LOWER_UP
    operstate: str  # 'UP', 'DOWN', 'LOWERLAYERDOWN', 'UNKNOWN' …
    perm_mac: str | None  # IFLA_PERM_ADDRESS, if the driver has one
    flags: int = 0  # raw IFF_* flags, for anything the booleans above do not say


@dataclass(frozen=True)
class Address:
    """One IP address on an interface."""

    ifname: str
    index: int
    family: int  # 4 or 6
    address: str
    prefixlen: int
    scope: str  # 'global', 'link', 'host', 'site'
    flags: int = field(default=0, compare=False)  # IFA_F_* (secondary, tentative …)

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass(frozen=True)
class Route:
    """One route (from a dump, or the kernel's answer to "how do I reach X")."""

    family: int  # 4 or 6
    dst: str  # 'default' or a CIDR such as '192.0.2.0/24' (a host: '/32', '/128')
    gateway: str | None
    ifname: str  # outgoing interface ('' if none, e.g. blackhole)
    table: int
    scope: str  # 'global', 'link', 'host' …
    type: int  # RTN_* (1 unicast, 2 local …)
    prefsrc: str | None  # the source address the kernel would pick
    priority: int | None  # the metric


@dataclass(frozen=True)
class Neighbour:
    """One neighbour (ARP / NDP) entry."""

    family: int
    address: str
    mac: str | None  # None while incomplete
    ifname: str
    state: str  # 'reachable', 'stale', 'permanent', 'failed' …


@dataclass(frozen=True)
class Rule:
    """One policy-routing rule."""

    family: int
    priority: int
    table: int
    src: str | None  # CIDR, or None for "from all"
    dst: str | None
    fwmark: int | None


def link_from_message(msg: Any) -> Link:
    """A :class:`Link` from one pyroute2 ``ifinfmsg`` (a dump, a get, or an event)."""
    flags = msg["flags"]
    perm = msg.get("IFLA_PERM_ADDRESS")
    return Link(
        index=msg["index"],
        name=msg.get("IFLA_IFNAME") or "",
        mac=msg.get("IFLA_ADDRESS") or "",
        kind=msg.get(("IFLA_LINKINFO", "IFLA_INFO_KIND")),
        up=bool(flags & 0x1),  # IFF_UP
        carrier=bool(flags & 0x10000),  # IFF_LOWER_UP
        operstate=msg.get("IFLA_OPERSTATE") or "UNKNOWN",
        perm_mac=perm if perm and perm.strip("0:") else None,
        flags=flags,
    )


_LINK_REQUESTS: dict[tuple[str | None, int], bytes] = {}


def _link_request(name: str | None, flags: int) -> bytes:
    """An RTM_GETLINK, encoded by pyroute2 (once per name: ~0.2 ms each):
    of link ``name`` (acknowledged), or with NLM_F_DUMP of every link.
    Statistics are skipped (IFLA_EXT_MASK), a quarter less to decode."""
    key = (name, flags)
    data = _LINK_REQUESTS.get(key)
    if data is None:
        from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST
        from pyroute2.netlink.rtnl import RTM_GETLINK
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

        msg = ifinfmsg()
        msg["family"] = socket.AF_UNSPEC
        attrs: list[tuple[str, Any]] = [("IFLA_EXT_MASK", _RTEXT_FILTER_SKIP_STATS)]
        if name is not None:
            attrs.insert(0, ("IFLA_IFNAME", name))
            flags |= NLM_F_ACK
        msg["attrs"] = attrs
        msg["header"]["type"] = RTM_GETLINK
        msg["header"]["flags"] = NLM_F_REQUEST | flags
        msg["header"]["sequence_number"] = 0
        msg["header"]["pid"] = 0
        msg.encode()
        data = bytes(msg.data)
        if len(_LINK_REQUESTS) > 256:
            _LINK_REQUESTS.clear()
        _LINK_REQUESTS[key] = data
    return data


def _decode_link(body: bytes) -> Any:
    """pyroute2's ``ifinfmsg`` decoded from one answer's body (its nlmsghdr
    rebuilt: the exchange keeps bodies only)."""
    from pyroute2.netlink.rtnl import RTM_NEWLINK
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg = ifinfmsg(struct.pack("=IHHII", 16 + len(body), RTM_NEWLINK, 0, 0, 0) + body)
    msg.decode()
    return msg


def open_route_socket(groups: int = 0, rcvbuf: int = _RCVBUF) -> socket.socket:
    """A bound NETLINK_ROUTE datagram socket in the calling thread's namespace.

    ``groups`` subscribes to multicast groups; a listening socket must never
    be used for requests (acks and notifications would interleave).
    """
    from pyroute2.netlink import NETLINK_EXT_ACK, NETLINK_ROUTE, SOL_NETLINK

    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, rcvbuf)
        except OSError:  # not privileged: take what net.core.rmem_max allows
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if not groups:
            sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        sock.bind((0, groups))
    except BaseException:
        sock.close()
        raise
    return sock


def open_route_socket_in(
    netns: str | None, groups: int = 0, rcvbuf: int = _RCVBUF
) -> socket.socket:
    """:func:`open_route_socket` inside /run/netns/NETNS (None: the caller's namespace)."""
    if netns is None:
        return open_route_socket(groups, rcvbuf)
    try:
        return call_in_netns(netns, open_route_socket, groups, rcvbuf)
    except NetnsError as e:
        raise NetlinkError(str(e)) from e


def describe(code: int, text: str) -> str:
    """strerror(code), with the kernel's extended-ack ``text`` in parentheses if any."""
    base = os.strerror(code)
    return f"{base} ({text})" if text and text != base else base


class _Pyroute:
    """pyroute2's AsyncIPRoute on a socket we made, driven by a private event
    loop under a deadline.  Used only by the thread that created it."""

    def __init__(self, sock: socket.socket, where: str, timeout: float) -> None:
        import asyncio

        from pyroute2 import AsyncIPRoute

        self.where = where
        self.timeout = timeout
        self.sock = sock
        self.loop = asyncio.new_event_loop()
        try:
            self.ipr = AsyncIPRoute(use_socket=sock, use_event_loop=self.loop)
            self.loop.run_until_complete(self.ipr.setup_endpoint())
        except BaseException:
            sock.close()
            self.loop.close()
            raise

    def close(self) -> None:
        import asyncio

        try:
            self.ipr.close()
            # Let the transport's close callbacks run: the socket is closed
            # now, not whenever the garbage collector gets to it.
            self.loop.run_until_complete(asyncio.sleep(0))
        finally:
            self.sock.close()
            self.loop.close()

    def run(self, make: Callable[[Any], Any], what: str) -> Any:
        """Run ``make(ipr)`` (a coroutine) to completion within the deadline.

        Raises NetlinkError naming ``what``; a pyroute2 error keeps its errno
        in ``__cause__.code`` and its extended-ack text in the message.
        """
        import asyncio

        from pyroute2.netlink.exceptions import NetlinkDumpInterrupted
        from pyroute2.netlink.exceptions import NetlinkError as Pyroute2Error

        try:
            return self.loop.run_until_complete(asyncio.wait_for(make(self.ipr), self.timeout))
        except TimeoutError as e:
            raise _Broken(f"{what}: no answer from the kernel within {self.timeout:g} s") from e
        except NetlinkDumpInterrupted:
            raise
        except Pyroute2Error as e:
            text = e.args[1] if len(e.args) > 1 else ""
            if e.code == errno.ENOBUFS:  # an overflow: pyroute2 says the socket is done for
                raise _Broken(f"{what}: {describe(e.code, '')}") from e
            raise NetlinkError(f"{what}: {describe(e.code, str(text))}") from e
        except OSError as e:  # ENOBUFS and friends: pyroute2 says the socket is done for
            raise _Broken(f"{what}: {e.strerror or e}") from e


class _Broken(NetlinkError):
    """The request socket cannot be trusted any more (timeout, overflow): replace it."""


class Netlink:
    """Requests on one network namespace.  Context manager.

    ``netns=None`` means the namespace of the thread creating this object; a
    name means /run/netns/NAME, which must exist (it is never created).  An
    object is used by the thread that made it (pyroute2 ties its event loop
    and socket to that thread); make one per thread.
    """

    def __init__(self, netns: str | None = None, timeout: float = TIMEOUT) -> None:
        self.netns = netns
        self.timeout = timeout
        self._thread = threading.get_ident()
        self._nsfd = -1
        self._rt: _Pyroute | None = None
        self._batch: AddressBatch | None = None
        self._where = f"network namespace {netns!r}" if netns else "this network namespace"
        try:
            if netns is None:
                self._nsfd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            else:
                self._nsfd = open_netns(netns)
            self._rt = self._open_pyroute()
        except NetnsError as e:
            self.close()
            raise NetlinkError(str(e)) from e
        except OSError as e:
            self.close()
            raise NetlinkError(f"cannot open netlink in {self._where}: {e.strerror}") from e

    # -- plumbing -------------------------------------------------------------

    def _socket(self) -> socket.socket:
        """A request socket in our namespace (made by a thread inside it, no fork)."""
        if self.netns is None:
            return open_route_socket()
        return call_in_netns(self.netns, open_route_socket)

    def _open_pyroute(self) -> _Pyroute:
        return _Pyroute(self._socket(), self._where, self.timeout)

    def __enter__(self) -> Netlink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._rt is not None:
            self._rt.close()
            self._rt = None
        if self._batch is not None:
            self._batch.close()
            self._batch = None
        if self._nsfd >= 0:
            os.close(self._nsfd)
            self._nsfd = -1

    def _run(self, make: Callable[[Any], Any], what: str) -> Any:
        if threading.get_ident() != self._thread:
            raise NetlinkError(
                f"{what}: this Netlink object belongs to another thread (make one per thread)"
            )
        if self._rt is None:
            raise NetlinkError(f"{what}: netlink is closed")
        try:
            return self._rt.run(make, what)
        except _Broken as e:
            # A late answer or an overflowed buffer would poison the next call.
            self._rt.close()
            self._rt = None
            try:
                self._rt = self._open_pyroute()
            except (OSError, NetnsError):
                pass  # the next call says "netlink is closed"
            raise NetlinkError(str(e)) from e.__cause__

    def _dump(self, method: str, what: str, **query: Any) -> list[Any]:
        """Every message of a pyroute2 dump; retried if the kernel interrupts it."""
        from pyroute2.netlink.exceptions import NetlinkDumpInterrupted

        async def collect(ipr: Any) -> list[Any]:
            return [m async for m in await getattr(ipr, method)("dump", **query)]

        for _attempt in range(DUMP_ATTEMPTS):
            try:
                return self._run(collect, what)
            except NetlinkDumpInterrupted:
                continue
        raise NetlinkError(
            f"{what} in {self._where}: interrupted {DUMP_ATTEMPTS} times in a row "
            "(the table keeps changing); giving up"
        )

    def _addrbatch(self) -> AddressBatch:
        if self._nsfd < 0:  # closed: never open a socket behind the caller's back
            raise NetlinkError(f"netlink in {self._where} is closed")
        if self._batch is None:
            from .addrbatch import AddressBatch

            try:
                self._batch = AddressBatch(self._socket(), self._where, self.timeout)
            except (OSError, NetnsError) as e:
                raise NetlinkError(f"cannot open netlink in {self._where}: {e}") from e
        return self._batch

    # -- links ----------------------------------------------------------------

    def links(self) -> list[Link]:
        """Every link of the namespace, 'lo' included (callers filter)."""
        from pyroute2.netlink import NLM_F_DUMP

        what = f"link dump in {self._where}"
        for _attempt in range(DUMP_ATTEMPTS):
            reply = self._ask(_link_request(None, NLM_F_DUMP), what)
            if reply.error:
                raise NetlinkError(f"{what}: {describe(reply.error, reply.text)}")
            if not reply.interrupted:
                msgs = [_decode_link(body) for body in reply.data]
                return [link_from_message(m) for m in msgs if m["family"] == socket.AF_UNSPEC]
        raise NetlinkError(
            f"{what}: interrupted {DUMP_ATTEMPTS} times in a row "
            "(the table keeps changing); giving up"
        )

    def link(self, name: str) -> Link | None:
        """The link called ``name``, or None if there is none."""
        if not valid_ifname(name):
            return None
        reply = self._ask(_link_request(name, 0), name)
        if reply.error in (errno.ENODEV, errno.ENOENT):
            return None
        if reply.error:
            raise NetlinkError(f"{name}: {describe(reply.error, reply.text)}")
        return link_from_message(_decode_link(reply.data[0])) if reply.data else None

    def _ask(self, request: bytes, what: str) -> Any:
        """One request (a pyroute2-encoded message) and its whole answer, on
        the synchronous socket: pyroute2's asyncio request path costs ~1 ms a
        call more than the exchange itself (docs/performance.md, "netlink")."""
        if threading.get_ident() != self._thread:
            raise NetlinkError(
                f"{what}: this Netlink object belongs to another thread (make one per thread)"
            )
        (reply,) = self._addrbatch().exchange([bytearray(request)])
        return reply

    def _index(self, ifname: str, index: int | None) -> int | None:
        if index is not None:
            return index
        link = self.link(ifname)
        return link.index if link else None

    def _names(self) -> dict[int, str]:
        return {link.index: link.name for link in self.links()}

    def set_link_up(self, ifname: str, up: bool = True) -> None:
        """Set IFF_UP on (or off) ``ifname``."""
        state = "up" if up else "down"
        self._run(
            lambda ipr: ipr.link("set", ifname=ifname, state=state),
            f"{ifname}: cannot set link {state}",
        )

    def set_master(self, ifname: str, master: str | None) -> None:
        """Enslave ``ifname`` to ``master`` (a bridge, a bond), or free it (None)."""
        if master is None:
            index = 0
        else:
            index = self._index(master, None)
            if index is None:
                raise NetlinkError(f"{ifname}: cannot set master {master}: no such link")
        what = f"{ifname}: cannot " + (f"set master {master}" if master else "free from its master")
        self._run(lambda ipr: ipr.link("set", ifname=ifname, master=index), what)

    def move_link(self, ifname: str, to_netns: str) -> None:
        """Move ``ifname`` into /run/netns/TO_NETNS (which must exist).

        The kernel may give the link another index there; key NICs by name or MAC.
        """
        try:
            fd = open_netns(to_netns)
        except NetnsError as e:
            raise NetlinkError(f"{ifname}: cannot move: {e}") from e
        try:
            self._run(
                lambda ipr: ipr.link("set", ifname=ifname, net_ns_fd=fd),
                f"{ifname}: cannot move to network namespace {to_netns!r}",
            )
        finally:
            os.close(fd)

    def pull_link(self, ifname: str, from_netns: str) -> None:
        """Bring ``ifname`` from /run/netns/FROM_NETNS into this object's namespace.

        The request must be made from inside FROM_NETNS (the kernel finds a
        link by name in the socket's namespace): a socket opened there by a
        short-lived thread, given to a short-lived pyroute2 object here; the
        destination is our namespace's fd.  No fork, and the calling thread
        never changes namespace.
        """
        what = f"{ifname}: cannot bring back from network namespace {from_netns!r}"
        try:
            sock = open_route_socket_in(from_netns)
        except NetlinkError as e:
            raise NetlinkError(f"{what}: {e}") from e
        nsfd = self._nsfd
        try:
            there = _Pyroute(sock, f"network namespace {from_netns!r}", self.timeout)
        except OSError as e:
            raise NetlinkError(f"{what}: {e.strerror or e}") from e
        try:
            there.run(lambda ipr: ipr.link("set", ifname=ifname, net_ns_fd=nsfd), what)
        finally:
            there.close()

    # -- addresses (the hand-encoded hot path: addrbatch) ----------------------

    def addresses(
        self, ifname: str | None = None, links: Iterable[Link] | None = None
    ) -> list[Address]:
        """Addresses of ``ifname`` (an absent interface has none), or of every
        link, in the kernel's list order.

        ``links``: the namespace's links as the caller read them moments ago
        (:meth:`links`), used to name the addresses instead of dumping the
        links again (~2-4 ms); an address of a link not among them gets
        ifname ''.
        """
        names = self._names() if links is None else {link.index: link.name for link in links}
        index = None
        if ifname is not None:
            wanted = [i for i, n in names.items() if n == ifname]
            if not wanted:
                return []
            index = wanted[0]
        return self._addrbatch().addresses(names, index)

    @staticmethod
    def _parse_cidrs(
        ifname: str, cidrs: Sequence[str | IPInterface], errors: dict[str, str]
    ) -> list[tuple[str, IPInterface, bool]]:
        parsed: list[tuple[str, IPInterface, bool]] = []
        for cidr in cidrs:
            if isinstance(cidr, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
                # Already parsed (the IPMP handler's configuration): a large
                # move must not pay for parsing every address again.
                parsed.append((str(cidr), cidr, True))
                continue
            try:
                iface = ipaddress.ip_interface(cidr.strip())
            except ValueError:
                errors[cidr] = f"{ifname}: {cidr!r} is not an IP address"
                continue
            parsed.append((cidr, iface, "/" in cidr))
        return parsed

    def add_addresses(
        self, ifname: str, cidrs: Sequence[str | IPInterface], *, index: int | None = None
    ) -> dict[str, str]:
        """Add addresses to ``ifname`` in batches; return {cidr: error} for failures.

        An address that is already there counts as added (EEXIST).  IPv6
        addresses skip duplicate address detection (IFA_F_NODAD) so they are
        usable at once.  A bare address gets /32 or /128.

        ``index``: ``ifname``'s interface index if the caller has it (a
        :class:`Link` it read in the same step); otherwise the link is looked
        up.  A stale index makes each address fail ("No such device"), never
        land on another link unnoticed: the kernel checks the index, and the
        errors name ``ifname``.
        """
        errors: dict[str, str] = {}
        parsed = self._parse_cidrs(ifname, cidrs, errors)
        if not parsed:
            return errors
        index = self._index(ifname, index)
        if index is None:
            for cidr, _iface, _exact in parsed:
                errors[cidr] = f"{ifname}: cannot add {cidr}: no such interface"
            return errors
        errors.update(self._addrbatch().add(ifname, index, [(c, i) for c, i, _e in parsed]))
        return errors

    def del_addresses(
        self,
        ifname: str,
        cidrs: Sequence[str | IPInterface],
        *,
        index: int | None = None,
        present: Sequence[Address] | None = None,
    ) -> dict[str, str]:
        """Delete addresses from ``ifname``; return {cidr: error} for failures.

        An address that is not there counts as deleted (EADDRNOTAVAIL), and so
        does every address of an interface that no longer exists.  A bare
        address (no /prefix) is deleted whatever its prefix length.
        Secondaries go before their primary (see :meth:`.AddressBatch.delete`).

        ``index``: as for :meth:`add_addresses`.  ``present``: the link's
        addresses in the kernel's order, as :meth:`addresses` returned them
        to the caller in the same step; it only orders the deletes (and
        gives a bare address its prefix length), and saves dumping every
        address of the namespace again (~12 ms at 1000).  Addresses of other
        links in it are ignored; one missing from it is still deleted (last),
        and a bare address missing from it makes the link's list be dumped.
        """
        errors: dict[str, str] = {}
        parsed = self._parse_cidrs(ifname, cidrs, errors)
        if not parsed:
            return errors
        index = self._index(ifname, index)
        if index is None:
            return errors
        order = None
        if present is not None:
            order = [
                (socket.inet_pton(_AF[a.family], a.address), a.prefixlen)
                for a in present
                if a.index == index
            ]
        errors.update(self._addrbatch().delete(ifname, index, parsed, order))
        return errors

    def add_deprecated_address(self, ifname: str, cidr: str) -> None:
        """Add an address that ordinary traffic must not pick as its source
        (an IPMP test address): no prefix route (IFA_F_NOPREFIXROUTE) and,
        for IPv6, deprecated (preferred lifetime 0) and no DAD.  The caller
        chooses the prefix (an IPv4 one is best a /32: docs/ipmp.md).  An
        address already there counts as added."""
        from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD, IFA_F_NOPREFIXROUTE

        iface = ipaddress.ip_interface(cidr)
        index = self._index(ifname, None)
        if index is None:
            raise NetlinkError(f"{ifname}: cannot add {cidr}: no such interface")
        query: dict[str, Any] = {
            "index": index,
            "address": str(iface.ip),
            "prefixlen": iface.network.prefixlen,
            "flags": IFA_F_NOPREFIXROUTE,
        }
        if iface.version == 6:
            query.update(flags=IFA_F_NOPREFIXROUTE | IFA_F_NODAD, preferred=0)

        async def add(ipr: Any) -> Any:
            return await ipr.addr("add", **query)

        try:
            self._run(add, f"{ifname}: cannot add {cidr}")
        except NetlinkError as e:
            if getattr(e.__cause__, "code", None) != errno.EEXIST:
                raise

    # -- routes, neighbours, rules (lookups, for probing) -------------------------

    def routes(self, family: int | None = None, table: int | None = 254) -> list[Route]:
        """Routes of ``table`` (254: main; None: every table), IPv4 and/or IPv6."""
        query: dict[str, Any] = {}
        if family is not None:
            query["family"] = _af(family)
        if table is not None:
            query["table"] = table
        names = self._names()
        msgs = self._dump("route", f"route dump in {self._where}", **query)
        return [_route(m, names) for m in msgs]

    def route_to(self, destination: str) -> Route:
        """The route the kernel would use to reach ``destination`` (RTM_GETROUTE)."""
        try:
            ip = ipaddress.ip_address(destination)
        except ValueError as e:
            raise NetlinkError(f"{destination!r} is not an IP address") from e
        msgs = self._run(
            lambda ipr: ipr.route("get", dst=str(ip)), f"no route to {ip} in {self._where}"
        )
        return _route(msgs[0], self._names())

    def neighbours(self, ifname: str | None = None, family: int | None = None) -> list[Neighbour]:
        """Neighbour entries (of ``ifname`` only, if given; an absent interface has none)."""
        names = self._names()
        query: dict[str, Any] = {}
        if ifname is not None:
            index = next((i for i, n in names.items() if n == ifname), None)
            if index is None:
                return []
            query["ifindex"] = index
        if family is not None:
            query["family"] = _af(family)
        msgs = self._dump("neigh", f"neighbour dump in {self._where}", **query)
        out = []
        for m in msgs:
            if m["family"] not in (socket.AF_INET, socket.AF_INET6):
                continue
            out.append(
                Neighbour(
                    family=4 if m["family"] == socket.AF_INET else 6,
                    address=m.get("NDA_DST") or "",
                    mac=m.get("NDA_LLADDR"),
                    ifname=names.get(m["ifindex"], ""),
                    state=_nud(m["state"]),
                )
            )
        return out

    def rules(self, family: int = 4) -> list[Rule]:
        """Policy-routing rules of ``family`` (4 or 6), in priority order."""
        msgs = self._dump("rule", f"rule dump in {self._where}", family=_af(family))
        out = []
        for m in msgs:
            if m["family"] != _af(family):
                continue
            src, dst = m.get("FRA_SRC"), m.get("FRA_DST")
            out.append(
                Rule(
                    family=family,
                    priority=m.get("FRA_PRIORITY") or 0,
                    table=m.get("FRA_TABLE") or m["table"],
                    src=f"{src}/{m['src_len']}" if src else None,
                    dst=f"{dst}/{m['dst_len']}" if dst else None,
                    fwmark=m.get("FRA_FWMARK"),
                )
            )
        return sorted(out, key=lambda r: r.priority)


_AF = {4: socket.AF_INET, 6: socket.AF_INET6}


def _af(family: int) -> int:
    if family == 4:
        return socket.AF_INET
    if family == 6:
        return socket.AF_INET6
    raise NetlinkError(f"family must be 4 or 6, not {family!r}")


def scope_name(value: int) -> str:
    """'global', 'site', 'link', 'host' or 'nowhere' for an RT_SCOPE_* value."""
    from pyroute2.netlink.rtnl import rt_scope

    name = rt_scope.get(value, str(value))
    return "global" if name == "universe" else str(name)


def _route(m: Any, names: dict[int, str]) -> Route:
    family = 4 if m["family"] == socket.AF_INET else 6
    dst = m.get("RTA_DST")
    return Route(
        family=family,
        dst=f"{dst}/{m['dst_len']}" if dst else "default",
        gateway=m.get("RTA_GATEWAY"),
        ifname=names.get(m.get("RTA_OIF") or 0, ""),
        table=m.get("RTA_TABLE") or m["table"],
        scope=scope_name(m["scope"]),
        type=m["type"],
        prefsrc=m.get("RTA_PREFSRC"),
        priority=m.get("RTA_PRIORITY"),
    )


def _nud(state: int) -> str:
    from pyroute2.netlink.rtnl.ndmsg import states

    names = [name for name, bit in states.items() if bit and state & bit]
    return ",".join(names) if names else "none"
