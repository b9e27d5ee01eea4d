"""Every member's ICMP echo probes in one system call, every reply in another.

Why this module exists (the smallest hand-written path the guide allows):
in.mpathd-style probing of 100 members at a 100 ms detection time is 7,000
echo requests and 7,000 replies a second.  With one socket per member
(:class:`rcm_netkit.icmpprobe.ProbeSocket`: ``sendto`` and ``recvmsg`` per
probe) that cost rcmd 73% of one core, and the leanest such loop with no
state at all still 33%.  Python's socket module has no ``sendmmsg`` or
``recvmmsg``, so this module calls libc's through ctypes, as
:mod:`rcm_netkit.netns` calls ``setns``.  Same run, same lab (100 veth NICs
on a bridge, one target), 70,000 probes in 10 s, CPU of the sending
process: a ``sendto``/``recvmsg`` loop over 100 bound sockets 33.1% of a
core (10.7% user, 22.4% system); ``sendmmsg``/``recvmmsg`` on one socket
per family 16-23% (4.5-6.1% user; the kernel's share is mostly the lab's
switch and the far host answering, done in the sender's context on veth).

How a probe still leaves through one NIC only, from its test address:
``IP_PKTINFO`` (``IPV6_PKTINFO``) on each message names the output
interface and the source address, which is what ``SO_BINDTODEVICE`` and
``bind`` did for a socket of its own (for IPv4 the kernel then treats a
target with no route through that NIC as on-link, as it did).  A reply is
taken as the member's only if it arrived on the member's NIC addressed to
the member's source (the ``IP_PKTINFO`` the kernel adds on receive): what a
bound socket saw.  So every member can send the same echo request (one
identifier per socket, the round's sequence number): a round of probes
patches one packet, and :meth:`ProbeIO.collect` files the round's replies
by (sequence number, NIC, address) with its checks run in C (``map``,
``itertools.compress``).  The rounds' same-run figures are in
docs/performance.md: at 100 members and 100 ms the prober's Python fell
from ~9% of a core to ~3.5%.  The kernel passes the socket only echo
replies (``ICMP_FILTER`` / ``ICMP6_FILTER``), and stamps each with its
receive time (``SO_TIMESTAMPNS``), so replies read a little late still
give true round-trip times.  Linux, 64-bit or 32-bit: the layouts come from ctypes.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import socket
import struct
import time
from collections.abc import Iterator, Sequence
from itertools import compress
from operator import itemgetter
from typing import Any, NamedTuple

from .icmpprobe import (
    ICMP6_ECHO_REPLY,
    ICMP6_FILTER,
    ICMP_ECHO_REPLY,
    ICMP_FILTER,
    MAGIC,
    SO_TIMESTAMPNS,
    SOL_RAW,
    EchoEncoder,
)

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
MSG_DONTWAIT = int(getattr(socket, "MSG_DONTWAIT", 0x40))  # ints, not enum members:
MSG_TRUNC = int(getattr(socket, "MSG_TRUNC", 0x20))  # an enum "&" per reply cost ~2 us
BATCH = 64  # messages per recvmmsg call (and the most one send call takes at once)
READ_BATCHES = 8  # recvmmsg calls per receive(): the rest wait for the next one
#: Bytes kept of each received datagram: exactly an echo reply of ours (an
#: IPv4 one with a 20-byte header, or an ICMPv6 one), so a batch is an array
#: of equal records that ``struct.iter_unpack`` reads in C.  Longer datagrams
#: are cut (MSG_TRUNC: not ours, or with IP options, which ours never have).
REPLY_SIZE = {False: 20 + 8 + 8, True: 8 + 8}
#: The socket's receive buffer: every member's replies queue in this one
#: socket, and a thread held up (the GIL, a busy host) must not lose them.
#: 100 members at 100 ms are 7,000 replies a second of ~1 KiB of kernel
#: memory each; with the default (208 KiB) a 30 ms stall dropped replies and
#: the bench saw every member "fail" within 15 s.  8 MiB holds over a second.
RECEIVE_BUFFER = 8 << 20
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.c_void_p),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


def _layout() -> struct.Struct:
    """struct mmsghdr as a ``struct`` format, padding from ctypes' offsets, so
    one ``pack_into`` writes a whole message header (ctypes attribute writes
    cost ~0.2 us each: seven per probe was most of the send path)."""
    codes = {
        ctypes.c_void_p: "P",
        ctypes.c_uint32: "I",
        ctypes.c_size_t: "N",
        ctypes.c_int: "i",
        ctypes.c_uint: "I",
    }
    fmt, at = "@", 0
    fields = [(getattr(_Msghdr, n).offset, t) for n, t in _Msghdr._fields_]
    fields.append((_Mmsghdr.len.offset, ctypes.c_uint))
    for offset, kind in fields:
        fmt += "x" * (offset - at) + codes[kind]
        at = offset + ctypes.sizeof(kind)
    fmt += "x" * (ctypes.sizeof(_Mmsghdr) - at)
    layout = struct.Struct(fmt)
    assert layout.size == ctypes.sizeof(_Mmsghdr)
    return layout


_MMSG = _layout()
_MMSG_SIZE = _MMSG.size
_CTL_LEN_OFFSET = _Mmsghdr.hdr.offset + _Msghdr.controllen.offset

_libc = ctypes.CDLL(None, use_errno=True)
_sendmmsg = _libc.sendmmsg
_sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
_sendmmsg.restype = ctypes.c_int
_recvmmsg = _libc.recvmmsg
_recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
_recvmmsg.restype = ctypes.c_int

_SIZE_T = struct.Struct({8: "=Q", 4: "=I"}[ctypes.sizeof(ctypes.c_size_t)])
_CMSG_HDR = struct.Struct(_SIZE_T.format + "ii")
_TIMESPEC = struct.Struct("=" + {8: "qq", 4: "ii"}[ctypes.sizeof(ctypes.c_long)])
_PKTINFO4 = struct.Struct("=i4s4s")  # ipi_ifindex, ipi_spec_dst, ipi_addr
_PKTINFO6 = struct.Struct("=16si")  # ipi6_addr, ipi6_ifindex
_CONTROL = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(_PKTINFO6.size)
_NAME6 = 28  # sizeof(struct sockaddr_in6)
#: An IPv4 echo reply with a 20-byte header: version/length, source (then the
#: destination, skipped), type,
#: code, identifier, sequence, our payload.
_V4_REPLY = struct.Struct(f"!B11x4s4xBB2xHH{len(MAGIC)}s")
_V6_REPLY = struct.Struct(f"!BB2xHH{len(MAGIC)}s")  # type, code, identifier, sequence, payload
_V6_NAME = struct.Struct("=8x16s4x")  # sockaddr_in6: the source address
_FIRST = itemgetter(0)


class Reply(NamedTuple):
    """An echo reply carrying our payload (a tuple: thousands a second)."""

    ident: int
    seq: int
    source: bytes  # the answering address, packed (4 or 16 bytes)
    ifindex: int  # the NIC it arrived on (0: the kernel did not say)
    destination: bytes  # the address it was sent to (ours), packed (b"": not said)
    received_ns: int  # the kernel's receive time (CLOCK_REALTIME ns)


#: :meth:`ProbeIO._columns`: lengths, truncated, the datagrams' fields,
#: sources, ifindexes, destinations, seconds, nanoseconds.
_Columns = tuple[Any, ...]
#: :meth:`ProbeIO.collect`'s table: (sequence number, arrival ifindex,
#: destination packed) -> the kernel's receive time (seconds, nanoseconds).
Answers = dict[tuple[int, int, bytes], tuple[int, int]]


class Endpoint:
    """One member's probe route: the ``IP_PKTINFO`` naming its NIC and
    source, and a ``struct mmsghdr`` per target pointing at it and at the
    socket's one echo request.  Made by :meth:`ProbeIO.endpoint`.

    ``key`` is (ifindex, source packed): a reply is this endpoint's when it
    arrived on this NIC addressed to this source (:attr:`Reply.ifindex`,
    :attr:`Reply.destination`)."""

    __slots__ = ("ifindex", "source", "key", "v6", "_iov_at", "_control", "_headers")

    def __init__(self, ifindex: int, source: str, v6: bool, iov_at: int) -> None:
        self.ifindex = ifindex
        self.v6 = v6
        self._iov_at = iov_at
        packed = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, source)
        self.source = packed
        self.key = (ifindex, packed)
        if v6:
            level, kind, info = socket.IPPROTO_IPV6, IPV6_PKTINFO, _PKTINFO6.pack(packed, ifindex)
        else:
            level, kind, info = socket.IPPROTO_IP, IP_PKTINFO, _PKTINFO4.pack(ifindex, packed, b"")
        self._control = ctypes.create_string_buffer(socket.CMSG_SPACE(len(info)))
        _CMSG_HDR.pack_into(self._control, 0, socket.CMSG_LEN(len(info)), level, kind)
        self._control[_CMSG_HDR.size : _CMSG_HDR.size + len(info)] = info
        # target -> (its struct mmsghdr, packed; the sockaddr it points at)
        self._headers: dict[str, tuple[bytes, ctypes.Array[ctypes.c_char]]] = {}

    def header(self, target: str) -> bytes:
        """This probe's ``struct mmsghdr`` to ``target``, made once per target
        (a member has at most a handful) and kept with the sockaddr it points
        at, so a batch of headers is one ``b"".join``.  It holds pointers into
        this endpoint's buffers: send it while the endpoint is referenced."""
        made = self._headers.get(target)
        if made is None:
            family = socket.AF_INET6 if self.v6 else socket.AF_INET
            packed = socket.inet_pton(family, target)
            if self.v6:  # a link-local target is scoped to this NIC
                name = struct.pack("=HHI16sI", family, 0, 0, packed, self.ifindex)
            else:
                name = struct.pack("=HH4s8x", family, 0, packed)
            sockaddr = ctypes.create_string_buffer(name, len(name))
            header = _MMSG.pack(
                ctypes.addressof(sockaddr),
                len(name),
                self._iov_at,
                1,
                ctypes.addressof(self._control),
                len(self._control),
                0,
                0,
            )
            if len(self._headers) > 16:
                self._headers.clear()  # targets of long ago: made again on use
            made = self._headers[target] = (header, sockaddr)
        return made[0]


class ProbeIO:
    """One raw ICMP (``v6``: ICMPv6) socket for every member's probes, in the
    caller's network namespace, and the one echo request they all send
    (identifier ``ident``, the sequence number of :meth:`prepare`): a reply
    says whose it is by the NIC it came back on and the address it came back
    to, so the request need not, and a round of 100 probes patches one
    packet.  Not thread-safe: one thread sends and reads."""

    def __init__(self, v6: bool, ident: int = 0x5243) -> None:
        self.v6 = v6
        self.ident = ident & 0xFFFF
        self.family = socket.AF_INET6 if v6 else socket.AF_INET
        proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
        self.sock = socket.socket(self.family, socket.SOCK_RAW | socket.SOCK_CLOEXEC, proto)
        try:
            if v6:
                blocked = bytearray(b"\xff" * 32)  # a set bit blocks that type
                blocked[ICMP6_ECHO_REPLY >> 3] &= ~(1 << (ICMP6_ECHO_REPLY & 7)) & 0xFF
                self.sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, bytes(blocked))
                self.sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            else:
                mask = ~(1 << ICMP_ECHO_REPLY) & 0xFFFFFFFF
                self.sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("I", mask))
                self.sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            try:  # root may exceed net.core.rmem_max
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
            except PermissionError:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise
        self._fd = self.sock.fileno()
        # The echo request every probe of this socket sends (patched in place
        # by prepare(); the kernel reads it there during send()).
        self._encoder = EchoEncoder(self.ident, v6)
        size = len(self._encoder.packet)
        self._packet = (ctypes.c_char * size).from_buffer(self._encoder.packet)
        self._iov = _Iovec(ctypes.addressof(self._packet), size)
        self._send_headers = ctypes.create_string_buffer(_MMSG_SIZE * BATCH)
        self._send_base = ctypes.addressof(self._send_headers)
        # Receive buffers: datagrams, sources (IPv6), control, and the headers
        # pointing at them, kept as a pristine copy to restore before each call
        # (the kernel overwrites the lengths).
        self._size = size = REPLY_SIZE[v6]
        self._reply = _V6_REPLY if v6 else _V4_REPLY
        self._data = ctypes.create_string_buffer(size * BATCH)
        self._names = ctypes.create_string_buffer(_NAME6 * BATCH)
        self._control = ctypes.create_string_buffer(_CONTROL * BATCH)
        self._iovs = (_Iovec * BATCH)()
        pristine = ctypes.create_string_buffer(_MMSG_SIZE * BATCH)
        for j in range(BATCH):
            self._iovs[j] = _Iovec(ctypes.addressof(self._data) + size * j, size)
            _MMSG.pack_into(
                pristine,
                _MMSG_SIZE * j,
                ctypes.addressof(self._names) + _NAME6 * j if v6 else 0,
                _NAME6 if v6 else 0,
                ctypes.addressof(self._iovs) + ctypes.sizeof(_Iovec) * j,
                1,
                ctypes.addressof(self._control) + _CONTROL * j,
                _CONTROL,
                0,
                0,
            )
        self._pristine = pristine
        self._recv_headers = ctypes.create_string_buffer(_MMSG_SIZE * BATCH)
        self._recv_view = memoryview(self._recv_headers).cast("B")
        self._data_view = memoryview(self._data).cast("B")
        self._names_view = memoryview(self._names).cast("B")
        self._control_view = memoryview(self._control).cast("B")
        # The usual control data: SCM_TIMESTAMPNS, then (IPV6_)PKTINFO.
        stamp_pad = socket.CMSG_SPACE(_TIMESPEC.size) - _CMSG_HDR.size - _TIMESPEC.size
        info_pad = socket.CMSG_LEN(0) - _CMSG_HDR.size
        if v6:
            info = f"{info_pad}x16si"  # in6_pktinfo: address, ifindex
            kinds = (socket.SOL_SOCKET, SO_TIMESTAMPNS, socket.IPPROTO_IPV6, IPV6_PKTINFO)
        else:
            info = f"{info_pad}xi4x4s"  # in_pktinfo: ifindex, local address, destination
            kinds = (socket.SOL_SOCKET, SO_TIMESTAMPNS, socket.IPPROTO_IP, IP_PKTINFO)
        usual = _CMSG_HDR.format + _TIMESPEC.format[1:] + f"{stamp_pad}x" + _CMSG_HDR.format[1:]
        self._usual = struct.Struct(usual + info)
        self._usual_padded = struct.Struct(usual + info + f"{_CONTROL - self._usual.size}x")
        self._usual_kinds = kinds
        # What collect() compares each reply with: its length, not truncated,
        # (an IPv4 header without options,) an echo reply, our identifier and
        # our payload.
        reply = ICMP6_ECHO_REPLY if v6 else ICMP_ECHO_REPLY
        header = () if v6 else (0x45,)
        self._want = (size, 0, *header, reply, 0, self.ident, MAGIC)

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> ProbeIO:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def endpoint(self, ifname: str, source: str) -> Endpoint:
        """The probe route of one member: out of ``ifname``, from ``source``
        (for IPv6 the NIC's link-local address).  Raises OSError (ENODEV)
        when there is no such NIC."""
        return Endpoint(socket.if_nametoindex(ifname), source, self.v6, ctypes.addressof(self._iov))

    def prepare(self, seq: int) -> None:
        """Sequence number ``seq`` (and the IPv4 checksum) in the echo request
        that the next :meth:`send` sends on every endpoint."""
        self._encoder.encode(seq)

    def send(self, headers: Sequence[bytes]) -> tuple[int, dict[int, OSError]]:
        """Send the prepared echo request once per header (from
        :meth:`Endpoint.header`); returns the send time (``time.time_ns()``
        just before, to compare with the kernel's receive stamps) and the
        errors by position: a probe that the kernel refused (no such NIC,
        its address gone, a transient ENOBUFS) does not stop the others.
        Never raises for one probe's fault."""
        errors: dict[int, OSError] = {}
        now = time.time_ns()
        for start in range(0, len(headers), BATCH):
            chunk = headers[start : start + BATCH]
            joined = b"".join(chunk)
            ctypes.memmove(self._send_headers, joined, len(joined))
            at = 0
            while at < len(chunk):
                sent = _sendmmsg(self._fd, self._send_base + _MMSG_SIZE * at, len(chunk) - at, 0)
                if sent > 0:
                    at += sent
                    continue
                code = ctypes.get_errno()
                if code == errno.EINTR:
                    continue
                # sendmmsg stops at the first message the kernel refuses (and
                # reports it only when it is the first of the call): skip it.
                errors[start + at] = OSError(code, f"probe not sent: {errno.errorcode.get(code)}")
                at += 1
        return now, errors

    def receive(self) -> list[Reply]:
        """The echo replies carrying our payload queued now, whatever their
        identifier (never blocks; at most ``READ_BATCHES * BATCH`` datagrams,
        the rest wait for the next call, so a flood of foreign echo replies
        cannot hold the thread)."""
        replies: list[Reply] = []
        for count in self._read():
            replies.extend(self._replies(self._columns(count)))
        return replies

    def collect(
        self, into: dict[tuple[int, int, bytes], tuple[int, int]], listen: int
    ) -> list[Reply]:
        """Like :meth:`receive`, for the prober's thousands a second: every
        reply to this socket's echo requests queued now goes into ``into``,
        (sequence number, arrival ifindex, destination) -> the kernel's
        receive time (seconds, nanoseconds), and is answered by a dictionary
        lookup; only the replies with sequence number ``listen`` (answers to
        a question several hosts answer) come back as :class:`Reply`.

        Why a second path: at 7,000 replies a second, a Python pass per
        reply (unpacking, six compares, a tuple) cost ~1% of a core.  Here
        the checks are one tuple compare per reply run by ``map`` and the
        selection by ``itertools.compress``: all in C."""
        found: list[Reply] = []
        for count in self._read():
            cols = self._columns(count)
            lengths, truncated, records, _names, ifindexes, destinations, secs, nsecs = cols
            if self.v6:
                kind, code, ident, seq, magic = records
                checks = zip(lengths, truncated, kind, code, ident, magic, strict=True)
            else:
                vihl, _source, kind, code, ident, seq, magic = records
                checks = zip(lengths, truncated, vihl, kind, code, ident, magic, strict=True)
            good = list(map(self._want.__eq__, checks))
            keys = zip(seq, ifindexes, destinations, strict=True)
            rows = zip(keys, zip(secs, nsecs, strict=True), strict=True)
            into.update(rows if all(good) else compress(rows, good))
            if listen in seq:
                found.extend(
                    r for r in self._replies(cols) if r.seq == listen and r.ident == self.ident
                )
        return found

    def _read(self) -> Iterator[int]:
        """Batches read by ``recvmmsg``: yields each one's message count
        while its buffers hold it."""
        size = _MMSG_SIZE * BATCH
        for _ in range(READ_BATCHES):
            ctypes.memmove(self._recv_headers, self._pristine, size)
            count = _recvmmsg(self._fd, self._recv_headers, BATCH, MSG_DONTWAIT, None)
            if count < 0:
                code = ctypes.get_errno()
                if code in (errno.EAGAIN, errno.EINTR):
                    return
                raise OSError(code, f"cannot read probe replies: {errno.errorcode.get(code)}")
            if count:
                yield count
            if count < BATCH:
                return

    def _columns(self, count: int) -> _Columns:
        """The first ``count`` received messages as columns: lengths, whether
        truncated, the datagrams' fields, sources (IPv6), arrival ifindexes,
        destinations, receive times.  Datagrams, headers and control data are
        arrays of equal records, read by ``iter_unpack`` and turned into
        columns by ``zip`` (both in C)."""
        heads = tuple(zip(*_MMSG.iter_unpack(self._recv_view[: _MMSG_SIZE * count]), strict=True))
        control_used, flags, lengths = heads[5], heads[6], heads[7]
        truncated = tuple(map(MSG_TRUNC.__and__, flags))
        records = self._reply.iter_unpack(self._data_view[: self._size * count])
        fields = tuple(zip(*records, strict=True))
        if self.v6:
            names = list(map(_FIRST, _V6_NAME.iter_unpack(self._names_view[: _NAME6 * count])))
        else:
            names = [b""] * count
        # Control data: the kernel writes the time stamp, then the packet
        # info; when every message has just that (always, in practice), the
        # columns come straight from the array.
        rows = self._usual_padded.iter_unpack(self._control_view[: _CONTROL * count])
        cols = tuple(zip(*rows, strict=True))
        l1, k1, l2, k2 = self._usual_kinds
        if (
            min(control_used) >= self._usual.size
            and cols[1].count(l1) == count
            and cols[2].count(k1) == count
            and cols[6].count(l2) == count
            and cols[7].count(k2) == count
        ):
            secs, nsecs = cols[3], cols[4]
            if self.v6:
                destinations, ifindexes = cols[8], cols[9]
            else:
                ifindexes, destinations = cols[8], cols[9]
        else:
            walked = [self._control_of(j) for j in range(count)]
            secs = tuple(w[0] // 1_000_000_000 for w in walked)
            nsecs = tuple(w[0] % 1_000_000_000 for w in walked)
            ifindexes = tuple(w[1] for w in walked)
            destinations = tuple(w[2] for w in walked)
        return lengths, truncated, fields, names, ifindexes, destinations, secs, nsecs

    def _replies(self, cols: _Columns) -> Iterator[Reply]:
        """Our echo replies among the columns, any identifier, as tuples."""
        lengths, truncated, fields, names, ifindexes, destinations, secs, nsecs = cols
        size, v6, new = self._size, self.v6, tuple.__new__
        want = ICMP6_ECHO_REPLY if v6 else ICMP_ECHO_REPLY
        for record, length, cut, name, ifindex, destination, sec, nsec in zip(
            zip(*fields, strict=True),
            lengths,
            truncated,
            names,
            ifindexes,
            destinations,
            secs,
            nsecs,
            strict=True,
        ):
            if length != size or cut:
                continue  # shorter or longer than ours: not ours
            if v6:
                kind, code, ident, seq, magic = record
                source = name
            else:
                vihl, source, kind, code, ident, seq, magic = record
                if vihl != 0x45:
                    continue  # IP options: never on our replies
            if kind != want or code != 0 or magic != MAGIC:
                continue
            stamp = sec * 1_000_000_000 + nsec or time.time_ns()
            # tuple.__new__: a NamedTuple's own constructor is Python code
            yield new(Reply, (ident, seq, source, ifindex, destination, stamp))

    def _control_of(self, j: int) -> tuple[int, int, bytes]:
        """(receive time ns, arrival ifindex, destination) from message
        ``j``'s control data, walked message by message."""
        start = _CONTROL * j
        (used,) = _SIZE_T.unpack_from(self._recv_headers, _MMSG_SIZE * j + _CTL_LEN_OFFSET)
        control = self._control_view[start : start + min(used, _CONTROL)]
        received = ifindex = 0
        destination = b""
        at = 0
        while at + _CMSG_HDR.size <= len(control):
            length, level, kind = _CMSG_HDR.unpack_from(control, at)
            if length < _CMSG_HDR.size:
                break
            body = at + socket.CMSG_LEN(0)
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = _TIMESPEC.unpack_from(control, body)
                received = sec * 1_000_000_000 + nsec
            elif level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                ifindex, _local, destination = _PKTINFO4.unpack_from(control, body)
            elif level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO:
                destination, ifindex = _PKTINFO6.unpack_from(control, body)
            at += socket.CMSG_SPACE(length - socket.CMSG_LEN(0))
        return received, ifindex, destination


def source_text(reply: Reply) -> str:
    """The answering address as text."""
    return str(ipaddress.ip_address(reply.source))
