"""rtnetlink for the network plugin: links, addresses, namespace moves.

Why raw netlink rather than pyroute2: moving 1000 data addresses must cost
about what ``ip -batch`` costs.  pyroute2 spends ~0.3 ms per address building
messages in Python (10x the kernel's ~30 us); struct-packed messages sent many
per ``send()`` match ``ip -batch``.  Raw sockets also avoid pyroute2's
per-thread event loop, its 200 ms import, and the fork it needs per namespace:
a socket opened by a thread that ``setns()``-ed into a namespace stays bound to
that namespace (see :mod:`.netns`).

Every request carries NLM_F_ACK and every acknowledgement is matched to its
request by sequence number, so a batch reports exactly which addresses failed.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from rcm.errors import RcmError

from .netns import NetnsError, call_in_netns, open_netns

# --- netlink constants (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h) ---
NETLINK_ROUTE = 0
SO_RCVBUFFORCE = 33  # not exported by the socket module
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_DUMP_INTR = 0x10
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1

RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22

RTMGRP_LINK = 0x1

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_NET_NS_PID = 19
IFLA_EXT_MASK = 29
IFLA_NET_NS_FD = 28
IFLA_PERM_ADDRESS = 54
IFLA_INFO_KIND = 1
RTEXT_FILTER_SKIP_STATS = 1 << 3

IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8
IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000

OPERSTATES = {
    0: "UNKNOWN",
    1: "NOTPRESENT",
    2: "DOWN",
    3: "LOWERLAYERDOWN",
    4: "TESTING",
    5: "DORMANT",
    6: "UP",
}
SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_NLATTR = struct.Struct("=HH")
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBi")  # family, prefixlen, flags, scope, index
_ERRNO = struct.Struct("=i")

#: Messages per send() in a batch.  The kernel handles a whole send() before
#: we read, so every ack of a chunk must fit the receive buffer at once.
BATCH = 256
_RCVBUF = 4 << 20
_RECV_SIZE = 1 << 16
#: How long one exchange may wait for the kernel before giving up.
TIMEOUT = 10.0


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


# --- message encoding / decoding ---------------------------------------------


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return _NLATTR.pack(length, kind) + payload + b"\0" * (-length & 3)


def _attr_str(kind: int, value: str) -> bytes:
    return _attr(kind, value.encode() + b"\0")


def _attr_u32(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack("=I", value))


def _attrs(buf: bytes | memoryview, offset: int, end: int) -> dict[int, memoryview]:
    """Top-level attributes in ``buf[offset:end]`` (type -> payload; nested bit masked)."""
    out: dict[int, memoryview] = {}
    view = memoryview(buf)
    while offset + 4 <= end:
        length, kind = _NLATTR.unpack_from(buf, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = view[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return out


def _cstr(v: memoryview) -> str:
    return bytes(v).split(b"\0", 1)[0].decode(errors="replace")


def _mac(v: memoryview | None) -> str:
    return ":".join(f"{b:02x}" for b in bytes(v)) if v is not None else ""


def parse_link(payload: bytes | memoryview) -> Link:
    """Decode an RTM_NEWLINK / RTM_DELLINK body (everything after nlmsghdr)."""
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(payload, 0)
    a = _attrs(payload, _IFINFOMSG.size, len(payload))
    kind = None
    if IFLA_LINKINFO in a:
        info = a[IFLA_LINKINFO]
        nested = _attrs(info, 0, len(info))
        if IFLA_INFO_KIND in nested:
            kind = _cstr(nested[IFLA_INFO_KIND])
    perm = a.get(IFLA_PERM_ADDRESS)
    oper = a.get(IFLA_OPERSTATE)
    return Link(
        index=index,
        name=_cstr(a[IFLA_IFNAME]) if IFLA_IFNAME in a else "",
        mac=_mac(a.get(IFLA_ADDRESS)),
        kind=kind,
        up=bool(flags & IFF_UP),
        carrier=bool(flags & IFF_LOWER_UP),
        operstate=OPERSTATES.get(oper[0], "UNKNOWN") if oper is not None else "UNKNOWN",
        perm_mac=_mac(perm) if perm is not None and any(bytes(perm)) else None,
        flags=flags,
    )


def _parse_address(payload: memoryview, names: dict[int, str]) -> Address | None:
    family, prefixlen, flags, scope, index = _IFADDRMSG.unpack_from(payload, 0)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    a = _attrs(payload, _IFADDRMSG.size, len(payload))
    raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
    if raw is None:
        return None
    if IFA_FLAGS in a:
        flags = struct.unpack_from("=I", a[IFA_FLAGS])[0]
    return Address(
        ifname=names.get(index, ""),
        index=index,
        family=4 if family == socket.AF_INET else 6,
        address=socket.inet_ntop(family, bytes(raw)),
        prefixlen=prefixlen,
        scope=SCOPES.get(scope, str(scope)),
        flags=flags,
    )


def iter_messages(data: bytes | memoryview) -> Iterator[tuple[int, int, int, memoryview]]:
    """(type, flags, seq, body) for each netlink message in one datagram."""
    view = memoryview(data)
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            break
        yield kind, flags, seq, view[offset + _NLMSGHDR.size : offset + length]
        offset += (length + 3) & ~3


def _parse_error(flags: int, body: memoryview) -> tuple[int, str]:
    """(errno, extended-ack text) from an NLMSG_ERROR body; errno 0 is an ACK."""
    err = -_ERRNO.unpack_from(body, 0)[0]
    text = ""
    if flags & NLM_F_ACK_TLVS and len(body) >= 4 + _NLMSGHDR.size:
        # With NETLINK_CAP_ACK the echoed request is its header only.
        orig_len = _NLMSGHDR.unpack_from(body, 4)[0]
        start = 4 + (_NLMSGHDR.size if flags & 0x100 else orig_len)  # NLM_F_CAPPED
        tlv = _attrs(body, (start + 3) & ~3, len(body))
        if NLMSGERR_ATTR_MSG in tlv:
            text = _cstr(tlv[NLMSGERR_ATTR_MSG])
    return err, text


def _describe(err: int, text: str) -> str:
    base = os.strerror(err)
    return f"{base} ({text})" if text else base


def open_route_socket(groups: int = 0, rcvbuf: int = _RCVBUF) -> socket.socket:
    """A bound NETLINK_ROUTE socket in the calling thread's namespace.

    ``groups`` subscribes to multicast groups (a listening socket must never
    be used for requests: acks and notifications would interleave).
    """
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except OSError:  # not privileged: take what the sysctl allows
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if not groups:
            sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        sock.bind((0, groups))
    except BaseException:
        sock.close()
        raise
    return sock


def open_route_socket_in(netns: str | None, groups: int = 0) -> socket.socket:
    """:func:`open_route_socket` inside /run/netns/NETNS (None: the caller's namespace)."""
    if netns is None:
        return open_route_socket(groups)
    try:
        return call_in_netns(netns, open_route_socket, groups)
    except NetnsError as e:
        raise NetlinkError(str(e)) from e


class _Reply:
    __slots__ = ("error", "text", "data", "done", "interrupted")

    def __init__(self) -> None:
        self.error = 0
        self.text = ""
        self.data: list[tuple[int, bytes]] = []
        self.done = False
        self.interrupted = False


def _addr_message(
    kind: int, index: int, iface: ipaddress.IPv4Interface | ipaddress.IPv6Interface, exact: bool
) -> bytes:
    """Body of RTM_NEWADDR/RTM_DELADDR for one address.

    ``exact`` False (delete of a bare address) sends IFA_LOCAL only, which the
    kernel matches whatever the prefix length (IPv4).
    """
    ip = iface.ip
    packed = ip.packed
    if ip.version == 4:
        family, flags = socket.AF_INET, 0
        scope = 254 if ip.is_loopback else 0
    else:
        family, flags = socket.AF_INET6, IFA_F_NODAD if kind == RTM_NEWADDR else 0
        scope = 0
    body = _IFADDRMSG.pack(family, iface.network.prefixlen, flags, scope, index)
    body += _attr(IFA_LOCAL, packed)
    if exact:
        body += _attr(IFA_ADDRESS, packed)
    return body


class Netlink:
    """A request socket on one network namespace.  Context manager.

    ``netns=None`` means the namespace of the thread creating this object;
    a name means /run/netns/NAME, which must exist (it is never created).
    Requests are serialised by a lock, but keeping one per thread is the
    expected use.
    """

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._lock = threading.Lock()
        self._seq = 0
        self._nsfd = -1
        self._sock: socket.socket | None = None
        where = f"network namespace {netns!r}" if netns else "this network namespace"
        self._where = where
        try:
            if netns is None:
                self._nsfd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            else:
                self._nsfd = open_netns(netns)
            self._sock = open_route_socket_in(netns)
        except NetnsError as e:
            self.close()
            raise NetlinkError(str(e)) from e
        except OSError as e:
            self.close()
            raise NetlinkError(f"cannot open netlink in {where}: {e.strerror}") from e
        self._sock.settimeout(TIMEOUT)

    # -- plumbing -------------------------------------------------------------

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
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._nsfd >= 0:
            os.close(self._nsfd)
            self._nsfd = -1

    def _exchange(
        self, requests: Sequence[tuple[int, int, bytes]], sock: socket.socket | None = None
    ) -> list[_Reply]:
        """Send (type, flags, body) requests, BATCH per send(); one reply each.

        A request without NLM_F_DUMP gets NLM_F_ACK and is complete at its
        ack; a dump is complete at NLMSG_DONE.  Failures are recorded in the
        replies, never raised, except that a dead socket raises.
        """
        sock = sock or self._sock
        if sock is None:
            raise NetlinkError("netlink socket is closed")
        replies: list[_Reply] = []
        with self._lock:
            for start in range(0, len(requests), BATCH):
                pending: dict[int, _Reply] = {}
                buf = bytearray()
                for kind, flags, body in requests[start : start + BATCH]:
                    self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
                    flags |= NLM_F_REQUEST
                    if (flags & NLM_F_DUMP) != NLM_F_DUMP:  # a dump ends with NLMSG_DONE
                        flags |= NLM_F_ACK
                    buf += _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, self._seq, 0)
                    buf += body
                    reply = _Reply()
                    pending[self._seq] = reply
                    replies.append(reply)
                try:
                    sock.send(buf)
                except OSError as e:
                    raise NetlinkError(f"netlink send in {self._where}: {e.strerror}") from e
                self._collect(sock, pending)
        return replies

    def _collect(self, sock: socket.socket, pending: dict[int, _Reply]) -> None:
        while pending:
            try:
                data = sock.recv(_RECV_SIZE)
            except TimeoutError:
                for r in pending.values():
                    r.error, r.text = errno.ETIMEDOUT, "no answer from the kernel"
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    # Acks were dropped: we cannot know what happened to these.
                    for r in pending.values():
                        r.error, r.text = errno.ENOBUFS, "acknowledgement lost; state unknown"
                    return
                raise NetlinkError(f"netlink receive in {self._where}: {e.strerror}") from e
            for kind, flags, seq, body in iter_messages(data):
                reply = pending.get(seq)
                if reply is None:  # stale answer to a request that timed out
                    continue
                if kind == NLMSG_ERROR:
                    reply.error, reply.text = _parse_error(flags, body)
                    reply.done = True
                elif kind == NLMSG_DONE:
                    err = -_ERRNO.unpack_from(body, 0)[0] if len(body) >= 4 else 0
                    reply.error = err
                    reply.done = True
                else:
                    if flags & NLM_F_DUMP_INTR:
                        reply.interrupted = True
                    reply.data.append((kind, bytes(body)))
                if reply.done:
                    del pending[seq]

    def _dump(self, kind: int, body: bytes) -> list[tuple[int, bytes]]:
        for _attempt in range(5):
            (reply,) = self._exchange([(kind, NLM_F_DUMP, body)])
            if reply.error:
                raise NetlinkError(f"dump in {self._where}: {_describe(reply.error, '')}")
            if not reply.interrupted:  # else the table changed mid-dump: retry
                return reply.data
        return reply.data

    def _do(self, kind: int, body: bytes, what: str) -> list[tuple[int, bytes]]:
        (reply,) = self._exchange([(kind, 0, body)])
        if reply.error:
            raise NetlinkError(f"{what}: {_describe(reply.error, reply.text)}")
        return reply.data

    # -- links ----------------------------------------------------------------

    def links(self) -> list[Link]:
        """Every link of the namespace, 'lo' included (callers filter)."""
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        body += _attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
        return [parse_link(d) for k, d in self._dump(RTM_GETLINK, body) if k == RTM_NEWLINK]

    def link(self, name: str) -> Link | None:
        """The link called ``name``, or None if there is none."""
        if not name or len(name.encode()) > 15 or "/" in name:
            return None
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        body += _attr_str(IFLA_IFNAME, name) + _attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
        (reply,) = self._exchange([(RTM_GETLINK, 0, body)])
        if reply.error in (errno.ENODEV, errno.ENOENT):
            return None
        if reply.error:
            raise NetlinkError(f"{name}: {_describe(reply.error, reply.text)}")
        for kind, data in reply.data:
            if kind == RTM_NEWLINK:
                return parse_link(data)
        return None

    def _index(self, ifname: str) -> int | None:
        link = self.link(ifname)
        return link.index if link else None

    def set_link_up(self, ifname: str, up: bool = True) -> None:
        """Set IFF_UP on (or off) ``ifname``."""
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, IFF_UP if up else 0, IFF_UP)
        body += _attr_str(IFLA_IFNAME, ifname)
        self._do(RTM_SETLINK, body, f"{ifname}: cannot set link {'up' if up else 'down'}")

    def move_link(self, ifname: str, to_netns: str) -> None:
        """Move ``ifname`` into /run/netns/TO_NETNS (which must exist).

        The kernel may give the link another index there; key NICs by name or MAC.
        """
        try:
            fd = open_netns(to_netns)
        except NetnsError as e:
            raise NetlinkError(f"{ifname}: cannot move: {e}") from e
        try:
            body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
            body += _attr_str(IFLA_IFNAME, ifname) + _attr_u32(IFLA_NET_NS_FD, fd)
            self._do(RTM_SETLINK, body, f"{ifname}: cannot move to network namespace {to_netns!r}")
        finally:
            os.close(fd)

    def pull_link(self, ifname: str, from_netns: str) -> None:
        """Bring ``ifname`` from /run/netns/FROM_NETNS into this object's namespace.

        The request must be made from inside FROM_NETNS (a link is found by
        name in the namespace of the socket), so a short-lived thread opens a
        netlink socket there; the destination is our namespace's fd.  No fork,
        and the calling thread never changes namespace.
        """
        what = f"{ifname}: cannot bring back from network namespace {from_netns!r}"
        try:
            sock = open_route_socket_in(from_netns)
        except NetlinkError as e:
            raise NetlinkError(f"{what}: {e}") from e
        try:
            sock.settimeout(TIMEOUT)
            body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
            body += _attr_str(IFLA_IFNAME, ifname) + _attr_u32(IFLA_NET_NS_FD, self._nsfd)
            (reply,) = self._exchange([(RTM_SETLINK, 0, body)], sock=sock)
        finally:
            sock.close()
        if reply.error:
            raise NetlinkError(f"{what}: {_describe(reply.error, reply.text)}")

    # -- addresses ------------------------------------------------------------

    def addresses(self, ifname: str | None = None) -> list[Address]:
        """Addresses of ``ifname`` (an absent interface has none), or of every link."""
        names = {link.index: link.name for link in self.links()}
        if ifname is not None:
            wanted = [i for i, n in names.items() if n == ifname]
            if not wanted:
                return []
        body = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        out = []
        for kind, data in self._dump(RTM_GETADDR, body):
            if kind != RTM_NEWADDR:
                continue
            addr = _parse_address(memoryview(data), names)
            if addr is not None and (ifname is None or addr.ifname == ifname):
                out.append(addr)
        return out

    @staticmethod
    def _parse_cidrs(
        ifname: str, cidrs: Sequence[str | IPInterface], errors: dict[str, str]
    ) -> list[tuple[str, ipaddress.IPv4Interface | ipaddress.IPv6Interface, bool]]:
        parsed = []
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

    def add_addresses(self, ifname: str, cidrs: Sequence[str | IPInterface]) -> dict[str, str]:
        """Add addresses to ``ifname`` in batches; return {cidr: error} for failures.

        An address that is already there counts as added (EEXIST).  IPv6
        addresses skip duplicate address detection (IFA_F_NODAD) so they are
        usable at once.  A bare address gets /32 or /128.
        """
        errors: dict[str, str] = {}
        parsed = self._parse_cidrs(ifname, cidrs, errors)
        if not parsed:
            return errors
        index = self._index(ifname)
        if index is None:
            for cidr, _iface, _exact in parsed:
                errors[cidr] = f"{ifname}: cannot add {cidr}: no such interface"
            return errors
        flags = NLM_F_CREATE | NLM_F_EXCL
        requests = [
            (RTM_NEWADDR, flags, _addr_message(RTM_NEWADDR, index, iface, True))
            for _cidr, iface, _exact in parsed
        ]
        replies = self._exchange(requests)
        for (cidr, _iface, _exact), reply in zip(parsed, replies, strict=True):
            if reply.error and reply.error != errno.EEXIST:
                errors[cidr] = f"{ifname}: cannot add {cidr}: {_describe(reply.error, reply.text)}"
        return errors

    def _kernel_order(self, index: int) -> list[tuple[bytes, int]]:
        """(packed address, prefixlen) of link ``index``, in the kernel's list order.

        For IPv4 that order is primaries first, then secondaries as added.
        """
        body = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        out = []
        for kind, data in self._dump(RTM_GETADDR, body):
            if kind != RTM_NEWADDR:
                continue
            family, prefixlen, _flags, _scope, ifindex = _IFADDRMSG.unpack_from(data, 0)
            if ifindex != index or family not in (socket.AF_INET, socket.AF_INET6):
                continue
            a = _attrs(data, _IFADDRMSG.size, len(data))
            raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
            if raw is not None:
                out.append((bytes(raw), prefixlen))
        return out

    def del_addresses(self, ifname: str, cidrs: Sequence[str | IPInterface]) -> dict[str, str]:
        """Delete addresses from ``ifname``; return {cidr: error} for failures.

        An address that is not there counts as deleted (EADDRNOTAVAIL), and so
        does every address of an interface that no longer exists.  A bare
        address (no /prefix) is deleted whatever its prefix length.

        Deletes go in reverse of the kernel's list order, secondaries before
        their primary: with promote_secondaries=1 (see sysctl.prepare_member)
        deleting a primary first makes the kernel promote a secondary and
        rebuild its routes each time, which turns 1000 deletes from ~40 ms into
        ~4 s.  One address dump (~2 ms per 1000) buys that order.
        """
        errors: dict[str, str] = {}
        parsed = self._parse_cidrs(ifname, cidrs, errors)
        if not parsed:
            return errors
        index = self._index(ifname)
        if index is None:
            return errors
        present = self._kernel_order(index)
        position = {key: i for i, key in enumerate(present)}
        bare_plen: dict[bytes, int] = {}
        for packed, plen in present:
            bare_plen.setdefault(packed, plen)
        todo = []
        for cidr, iface, exact in parsed:
            packed = iface.ip.packed
            if not exact:
                plen = bare_plen.get(packed)
                if plen is None:
                    continue  # not there: already deleted
                iface = ipaddress.ip_interface(f"{iface.ip}/{plen}")
                exact = True
            # Absent ones (-1) are still asked for, last: they may have appeared since.
            todo.append((position.get((packed, iface.network.prefixlen), -1), cidr, iface))
        todo.sort(key=lambda item: item[0], reverse=True)
        requests = [
            (RTM_DELADDR, 0, _addr_message(RTM_DELADDR, index, iface, True))
            for _pos, _cidr, iface in todo
        ]
        replies = self._exchange(requests)
        for (_pos, cidr, _iface), reply in zip(todo, replies, strict=True):
            if reply.error and reply.error not in (errno.EADDRNOTAVAIL, errno.ENODEV):
                errors[cidr] = (
                    f"{ifname}: cannot delete {cidr}: {_describe(reply.error, reply.text)}"
                )
        return errors
