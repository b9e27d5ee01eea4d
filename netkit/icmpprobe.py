"""ICMP echo packets as in.mpathd's probes carry them: made, patched, recognised.

An echo request carries our payload (:data:`MAGIC`: other software may echo
on the same NIC) and an identifier per probing member; a reply is ours when
it carries both.  The sockets that send and read them are in
:mod:`rcm_netkit.probeio` (every member's probes in one system call).

Why raw sockets and not "ping sockets" (``SOCK_DGRAM``/``IPPROTO_ICMP``):
those are allowed only to groups in ``net.ipv4.ping_group_range``, which is
``1 0`` (nobody, not even root) on this machine and in every new network
namespace; rcmd runs as root, and a raw socket needs nothing changed on the
host.  docs/ipmp.md has the measurement.  No ``ping`` process, ever.
"""

from __future__ import annotations

import socket
import struct

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
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)

MAGIC = b"rcmprobe"  # our payload: other software may echo on the same NIC
_ECHO = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence


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


def parse_echo_reply(data: bytes | memoryview, v6: bool) -> tuple[int, int] | None:
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
