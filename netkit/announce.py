"""Tell the segment where an address now lives: gratuitous ARP and unsolicited NA.

Linux sends neither when an address is added (arp_notify does nothing for
added addresses; ndisc_notify waits for DAD, ~1.4 s, and we add without DAD),
so after moving an address the handler announces it itself.

One AF_PACKET socket is kept for the life of the Announcer: opening one costs
12-16 ms, sending on a kept one ~29 us.  The socket is bound to the network
namespace it was created in; protocol 0 means it receives nothing, so it never
queues incoming traffic.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import threading
import time
from collections.abc import Sequence

from .netlink import NetlinkError
from .netns import NetnsError, call_in_netns

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST = b"\xff" * 6
ALL_NODES = ipaddress.IPv6Address("ff02::1")
ALL_NODES_MAC = b"\x33\x33\x00\x00\x00\x01"
ND_NEIGHBOR_ADVERT = 136
ND_OPT_TARGET_LL_ADDR = 2
NA_FLAG_OVERRIDE = 0x20000000
IPPROTO_ICMPV6 = 58


def _mac_bytes(mac: str) -> bytes:
    try:
        raw = bytes(int(part, 16) for part in mac.split(":"))
    except ValueError:
        raw = b""
    if len(raw) != 6:
        raise NetlinkError(f"{mac!r} is not an Ethernet MAC address")
    return raw


def arp_frames(mac: bytes, ip: ipaddress.IPv4Address) -> list[bytes]:
    """A gratuitous ARP request and reply (sender = target = ip), broadcast.

    Peers differ in which one they honour; Linux updates an existing entry
    from either when sender and target IP are equal.
    """
    eth = BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    hdr = struct.pack("!HHBB", 1, 0x0800, 6, 4)
    request = eth + hdr + struct.pack("!H", 1) + mac + ip.packed + b"\0" * 6 + ip.packed
    reply = eth + hdr + struct.pack("!H", 2) + mac + ip.packed + mac + ip.packed
    return [request, reply]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def na_frame(mac: bytes, ip: ipaddress.IPv6Address) -> bytes:
    """An unsolicited Neighbour Advertisement for ``ip`` to all nodes (RFC 4861 7.2.6).

    Override set (replace cached link-layer addresses), Solicited clear (a
    solicited NA to a multicast address is dropped), target link-layer
    address option, hop limit 255 (receivers drop anything else); the source
    is the address itself.
    """
    option = struct.pack("!BB", ND_OPT_TARGET_LL_ADDR, 1) + mac
    icmp = struct.pack("!BBHI", ND_NEIGHBOR_ADVERT, 0, 0, NA_FLAG_OVERRIDE) + ip.packed + option
    pseudo = ip.packed + ALL_NODES.packed + struct.pack("!I3xB", len(icmp), IPPROTO_ICMPV6)
    csum = _checksum(pseudo + icmp)
    icmp = icmp[:2] + struct.pack("!H", csum) + icmp[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(icmp), IPPROTO_ICMPV6, 255)
    ip6 += ip.packed + ALL_NODES.packed
    return ALL_NODES_MAC + mac + struct.pack("!H", ETH_P_IPV6) + ip6 + icmp


def frames_for(
    mac: str, addresses: Sequence[str | ipaddress.IPv4Interface | ipaddress.IPv6Interface]
) -> list[bytes]:
    """Every frame that announces ``addresses`` (strings with or without
    /prefix, or parsed interfaces) from ``mac``."""
    raw = _mac_bytes(mac)
    frames: list[bytes] = []
    for text in addresses:
        if isinstance(text, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
            ip = text.ip
        else:
            try:
                ip = ipaddress.ip_interface(text.strip()).ip
            except ValueError as e:
                raise NetlinkError(f"cannot announce {text!r}: not an IP address") from e
        if ip.version == 4:
            frames += arp_frames(raw, ip)
        else:
            frames.append(na_frame(raw, ip))
    return frames


class Announcer:
    """One long-lived AF_PACKET socket (opening one per announcement costs
    12-16 ms; keeping it, ~29 us).

    ``netns`` (an addition): create the socket inside /run/netns/NAME, so it
    announces on that namespace's interfaces; None is the creating thread's
    namespace.  Safe to share between threads.
    """

    def __init__(self, netns: str | None = None) -> None:
        self._lock = threading.Lock()
        try:
            if netns is None:
                self._sock: socket.socket | None = self._open()
            else:
                self._sock = call_in_netns(netns, self._open)
        except (OSError, NetnsError) as e:
            raise NetlinkError(f"cannot open a packet socket for announcements: {e}") from e

    @staticmethod
    def _open() -> socket.socket:
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)

    def announce(
        self,
        ifname: str,
        mac: str,
        addresses: Sequence[str | ipaddress.IPv4Interface | ipaddress.IPv6Interface],
    ) -> None:
        """Send a gratuitous ARP (IPv4) or unsolicited NA (IPv6) for each address.

        ``mac`` is the sender hardware address to advertise: that of
        ``ifname``, which now holds the addresses.
        """
        frames = frames_for(mac, addresses)
        with self._lock:
            if self._sock is None:
                raise NetlinkError(f"{ifname}: announcer is closed")
            for frame in frames:
                proto = struct.unpack_from("!H", frame, 12)[0]
                try:
                    self._sock.sendto(frame, (ifname, proto))
                except OSError as e:
                    shown = ", ".join(str(a) for a in addresses)
                    raise NetlinkError(f"{ifname}: cannot announce {shown}: {e.strerror}") from e

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self) -> Announcer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


log = logging.getLogger("rcm_netkit.announce")

Announced = str | ipaddress.IPv4Interface | ipaddress.IPv6Interface


def _key(address: Announced) -> str:
    """An address's IP as text, whatever form it was given in."""
    text = str(address)
    return text.partition("/")[0].strip()


class RepeatingAnnouncer:
    """Announces each address at once, then ``count - 1`` more times,
    ``interval`` seconds apart, from a thread of its own (a failover never
    waits for the repeats).

    A newer announcement of an address replaces the repeats still pending
    for it, and :meth:`cancel` drops them: an address that moved again is
    never announced at the MAC it left.
    """

    def __init__(self, announcer: Announcer) -> None:
        self.announcer = announcer
        self._cond = threading.Condition()
        # ip -> [ifname, mac, address, repeats left, next due (monotonic), interval]
        self._pending: dict[str, list[object]] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    def announce(
        self,
        ifname: str,
        mac: str,
        addresses: Sequence[Announced],
        count: int = 1,
        interval: float = 0.2,
    ) -> None:
        """Send the first announcement now (errors raise, as
        :meth:`Announcer.announce`) and schedule the repeats."""
        with self._cond:
            for a in addresses:
                self._pending.pop(_key(a), None)
        self.announcer.announce(ifname, mac, addresses)
        if count <= 1 or not addresses:
            return
        due = time.monotonic() + interval
        with self._cond:
            if self._closed:
                return
            for a in addresses:
                self._pending[_key(a)] = [ifname, mac, a, count - 1, due, interval]
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="rcm-announce", daemon=True)
                self._thread.start()
            self._cond.notify()

    def cancel(self, addresses: Sequence[Announced]) -> None:
        """Forget the repeats pending for ``addresses`` (moved or deleted)."""
        with self._cond:
            for a in addresses:
                self._pending.pop(_key(a), None)

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def _due(self, now: float) -> dict[tuple[str, str], list[Announced]]:
        """Under the lock: the repeats due now, by (ifname, mac), rescheduled."""
        batches: dict[tuple[str, str], list[Announced]] = {}
        for key, entry in list(self._pending.items()):
            ifname, mac, address, left, due, interval = entry
            if due > now:  # type: ignore[operator]
                continue
            batches.setdefault((str(ifname), str(mac)), []).append(address)  # type: ignore[arg-type]
            if int(left) <= 1:  # type: ignore[call-overload]
                del self._pending[key]
            else:
                entry[3] = int(left) - 1  # type: ignore[call-overload]
                entry[4] = float(due) + float(interval)  # type: ignore[arg-type]
        return batches

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    now = time.monotonic()
                    soonest = min((float(e[4]) for e in self._pending.values()), default=None)  # type: ignore[arg-type]
                    if soonest is not None and soonest <= now:
                        break
                    self._cond.wait(None if soonest is None else soonest - now)
                if self._closed:
                    return
                batches = self._due(time.monotonic())
            for (ifname, mac), addresses in batches.items():
                try:
                    self.announcer.announce(ifname, mac, addresses)
                except NetlinkError as e:  # the NIC went away meanwhile: nothing to tell
                    log.debug("repeat announcement: %s", e)
                    self.cancel(addresses)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
