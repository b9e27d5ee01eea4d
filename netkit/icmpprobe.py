"""ICMP echo probes out of one NIC, from one address: in.mpathd's probe packets.

A :class:`ProbeSocket` is a raw ICMP (or ICMPv6) socket bound to a device
(``SO_BINDTODEVICE``) and to the NIC's test address, so a probe leaves through
that NIC only and carries the test address as its source, whatever the
routing table says (IPv4: a destination with no route through the device is
treated as on-link by the kernel).  IPv6 does not do that (a global target
with no route through the NIC is "Network is unreachable"), so IPv6 probes go
as in.mpathd's do: from the NIC's link-local address (source ``"::"``: the
kernel picks it per packet) to link-local targets.  The kernel filters what it hands us to
echo replies (``ICMP_FILTER`` / ``ICMP6_FILTER``), and each socket's
replies are told apart by the echo identifier.

Why raw sockets and not "ping sockets" (``SOCK_DGRAM``/``IPPROTO_ICMP``):
those are allowed only to groups in ``net.ipv4.ping_group_range``, which is
``1 0`` (nobody, not even root) on this machine and in every new network
namespace; rcmd runs as root, and a raw socket needs nothing changed on the
host.  docs/ipmp.md has the measurement.

No ``ping`` process, ever: one socket per probed NIC, sends and receives
from one selector loop (:mod:`rcm_ipmp.probing`).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time
from typing import NamedTuple

from .netns import call_in_netns

ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
ICMP6_ECHO_REQUEST = 128
ICMP6_ECHO_REPLY = 129

#: linux/icmp.h: SOL_RAW option, a bitmask of ICMP types to *drop*.
ICMP_FILTER = 1
#: linux/icmpv6.h: IPPROTO_ICMPV6 option, struct icmp6_filter (256 bits; set = block).
ICMP6_FILTER = 1
SOL_RAW = 255
#: asm-generic/socket.h; not exported by Python's socket module.
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")  # struct timespec (64-bit)
_CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)
READS_PER_CALL = 8

MAGIC = b"rcmprobe"  # our payload: other software may echo on the same NIC
_ECHO = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    return ~_fold(sum(struct.unpack(f"!{len(data) // 2}H", data))) & 0xFFFF


def echo_request(ident: int, seq: int, v6: bool) -> bytes:
    """One echo request with our payload (the reference encoding; the socket
    patches the sequence number and checksum into a prepared copy).

    For ICMPv6 the checksum field is left zero: the kernel computes it over
    the pseudo-header for every raw ICMPv6 socket (RFC 3542 section 3.1).
    """
    kind = ICMP6_ECHO_REQUEST if v6 else ICMP_ECHO_REQUEST
    body = _ECHO.pack(kind, 0, 0, ident & 0xFFFF, seq & 0xFFFF) + MAGIC
    if v6:
        return body
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


class EchoEncoder:
    """Echo requests of one identifier, made by patching a prepared packet:
    the sequence number, and for IPv4 a checksum from a precomputed sum of
    the rest (one addition instead of summing the packet; the probe loop
    sends thousands a second for 100 NICs at 100 ms).  Equal to
    :func:`echo_request` for every sequence number (tested)."""

    def __init__(self, ident: int, v6: bool) -> None:
        template = echo_request(ident, 0, v6)
        self.v6 = v6
        self.packet = bytearray(template)
        words = struct.unpack(f"!{len(template) // 2}H", template)
        self.base = _fold(words[0] + words[2] + sum(words[4:]))  # all but checksum, seq

    def encode(self, seq: int) -> bytearray:
        """The packet for ``seq`` (the same buffer each time: send it before the next)."""
        packet = self.packet
        seq &= 0xFFFF
        packet[6] = seq >> 8
        packet[7] = seq & 0xFF
        if not self.v6:
            csum = ~_fold(self.base + seq) & 0xFFFF
            packet[2] = csum >> 8
            packet[3] = csum & 0xFF
        return packet


class EchoReply(NamedTuple):
    """An echo reply to one of our probes (a tuple: made thousands of times a second)."""

    source: str  # the address that answered
    seq: int
    received_ns: int  # when the kernel received it (CLOCK_REALTIME ns, as ``send`` returns)


def parse_echo_reply(data: bytes, v6: bool) -> tuple[int, int] | None:
    """(identifier, sequence) of an echo reply carrying our payload, or None.

    A raw IPv4 socket hands over the IP header too (its length is in the
    first byte); a raw ICMPv6 socket hands over the ICMPv6 message alone.
    """
    offset = 0
    if not v6:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        offset = (data[0] & 0x0F) * 4
    if len(data) < offset + _ECHO.size + len(MAGIC):
        return None
    kind, code, _csum, ident, seq = _ECHO.unpack_from(data, offset)
    if kind != (ICMP6_ECHO_REPLY if v6 else ICMP_ECHO_REPLY) or code != 0:
        return None
    if data[offset + _ECHO.size : offset + _ECHO.size + len(MAGIC)] != MAGIC:
        return None
    return ident, seq


def _open(ifname: str, source: str, v6: bool, ttl: int) -> tuple[socket.socket, int]:
    family = socket.AF_INET6 if v6 else socket.AF_INET
    proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    sock = socket.socket(family, socket.SOCK_RAW | socket.SOCK_CLOEXEC, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, ifname.encode())
        if v6:
            # Pass only echo replies: a set bit blocks that type.
            blocked = bytearray(b"\xff" * 32)
            blocked[ICMP6_ECHO_REPLY >> 3] &= ~(1 << (ICMP6_ECHO_REPLY & 7)) & 0xFF
            sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, bytes(blocked))
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ttl)
            sock.setsockopt(
                socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(ifname)
            )
            if source != "::":  # "::": the NIC's link-local address, per packet
                sock.bind((source, 0, 0, socket.if_nametoindex(ifname)))
        else:
            sock.setsockopt(
                SOL_RAW, ICMP_FILTER, struct.pack("I", ~(1 << ICMP_ECHO_REPLY) & 0xFFFFFFFF)
            )
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.bind((source, 0))
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        index = socket.if_nametoindex(ifname)
    except BaseException:
        sock.close()
        raise
    return sock, index


class ProbeSocket:
    """Echo requests out of ``ifname`` from ``source``; replies with their RTT.

    ``netns``: open the socket inside /run/netns/NAME (a thread enters it;
    the socket stays there), else in the caller's namespace.  ``ident`` is
    the echo identifier that marks this socket's probes (every raw socket on
    the NIC sees every echo reply that arrives on it).  Raises OSError when
    the socket cannot be made (no such device, the address is not on the
    host yet: EADDRNOTAVAIL).
    """

    def __init__(
        self,
        ifname: str,
        source: str,
        ident: int | None = None,
        netns: str | None = None,
        ttl: int = 1,
    ) -> None:
        self.ifname = ifname
        self.source = source
        self.v6 = ipaddress.ip_address(source).version == 6
        self.ident = (os.getpid() if ident is None else ident) & 0xFFFF
        self._encoder = EchoEncoder(self.ident, self.v6)
        if netns is None:
            self.sock, self.index = _open(ifname, source, self.v6, ttl)
        else:
            self.sock, self.index = call_in_netns(netns, _open, ifname, source, self.v6, ttl)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, target: str, seq: int) -> int:
        """Send one echo request to ``target``; returns its send time
        (``time.time_ns()``, read just before the send, to compare with the
        kernel's receive timestamps of the replies).

        Raises OSError if the kernel refuses it (no route, interface down).
        """
        packet = self._encoder.encode(seq)
        now = time.time_ns()
        if self.v6:  # the scope of a link-local target: this NIC
            self.sock.sendto(packet, (target, 0, 0, self.index))
        else:
            self.sock.sendto(packet, (target, 0))
        return now

    def receive(self, first_only: bool = False, limit: int = READS_PER_CALL) -> list[EchoReply]:
        """The echo replies to this socket's probes queued now (never blocks):
        reads stop at an empty queue, after ``limit`` datagrams (the rest
        wait for the next call), or with ``first_only`` at the first of ours.

        Each carries the kernel's receive time (``SO_TIMESTAMPNS``), so the
        caller may read replies late (the probe loop reads a NIC's replies
        just before its next probe, instead of waking for each) and still get
        true round-trip times.  ``first_only`` saves the read that would only
        say "empty" when one reply is due (one probe outstanding): at 7000
        probes a second that read is a good part of the cost."""
        replies: list[EchoReply] = []
        for _ in range(limit):
            try:
                data, ancillary, _flags, peer = self.sock.recvmsg(2048, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return replies
            parsed = parse_echo_reply(data, self.v6)
            if parsed is None or parsed[0] != self.ident:
                continue
            received = 0
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack_from(value)
                    received = sec * 1_000_000_000 + nsec
            source = peer[0].partition("%")[0] if self.v6 else peer[0]
            replies.append(EchoReply(source, parsed[1], received or time.time_ns()))
            if first_only:
                return replies
        return replies

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> ProbeSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
