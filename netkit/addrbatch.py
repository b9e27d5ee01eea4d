"""The one hand-encoded netlink path: bulk address add/delete and the address dump.

Everything else in rcm_netkit goes through pyroute2.  This module exists
because moving 1000 data addresses must cost about what ``ip -batch`` costs,
and pyroute2 spends ~27 us encoding each message in Python and more decoding
each answer.  Measured in one run (``python bench/bench_pyroute2.py --runs
11``, 2026-12-02, a shared 2-core machine under load: read the ratios), 1000
IPv4 addresses moved (added on one link, deleted from another), medians:

====================================================  ========  =====  =======  =====
approach                                              wall      vs ip  CPU      vs ip
====================================================  ========  =====  =======  =====
``ip -batch``                                         118 ms    1.0x   69 ms    1.0x
``Netlink`` add + delete (this module, with lookups)  106 ms    0.9x   61 ms    0.9x
this module alone (templates patched and sent)        65 ms     0.5x   43 ms    0.6x
pyroute2 ``nlm_request_batch`` (100 per call)         1467 ms   12.4x  835 ms   12.1x
pyroute2 ``IPRoute.addr()`` loop                      2152 ms   18.3x  1508 ms  21.9x
====================================================  ========  =====  =======  =====

and reading the 1000 addresses back: this module's dump 13 ms, pyroute2's
``addr("dump")`` 140 ms, so the address dumps an operation reads stay here
too (docs/performance.md, "netlink").

How the messages are built: pyroute2 encodes one ``ifaddrmsg`` per (message
type, family) as a template; a call patches the link index in once, and each
address copies it and patches prefix length, scope, the address bytes and
(when sent) the sequence number; the offsets are read from the template
itself, and a test checks the result equals pyroute2's own encoding.  The
constants are pyroute2's.  Many messages go in one ``send()`` (:data:`BATCH`);
every acknowledgement is matched to its request by sequence number, so each
address gets its own result.

Bounded by design: one :data:`TIMEOUT` deadline covers a whole exchange (not
each ``recv``); when the receive buffer overflows (ENOBUFS), the
acknowledgements still queued are read and the requests whose ones were lost
are reported as such, instead of waited for; a dump the
kernel keeps interrupting (NLM_F_DUMP_INTR) is retried, then raises.
"""

from __future__ import annotations

import errno
import ipaddress
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pyroute2.netlink import (
    NLM_F_ACK,
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_EXCL,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    nlmsgerr,
)
from pyroute2.netlink.rtnl import RTM_DELADDR, RTM_GETADDR, RTM_NEWADDR, rt_scope
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD, ifaddrmsg

from .netlink import (
    DUMP_ATTEMPTS,
    TIMEOUT,
    Address,
    IPInterface,
    NetlinkError,
    describe,
    scope_name,
)

#: Messages per send().  The kernel handles a whole send() before we read, so
#: every acknowledgement of a chunk must fit the receive buffer at once.
BATCH = 256
RECV_SIZE = 1 << 16


def _nla(cls: type, name: str) -> int:
    """The attribute number pyroute2 gives ``name`` in ``cls.nla_map``."""
    for i, entry in enumerate(cls.nla_map):
        if len(entry) == 3 and entry[1] == name:
            return entry[0]
        if entry[0] == name:
            return i
    raise KeyError(name)


IFA_ADDRESS = _nla(ifaddrmsg, "IFA_ADDRESS")
IFA_LOCAL = _nla(ifaddrmsg, "IFA_LOCAL")
IFA_FLAGS = _nla(ifaddrmsg, "IFA_FLAGS")
NLMSGERR_ATTR_MSG = _nla(nlmsgerr, "NLMSGERR_ATTR_MSG")

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_NLA = struct.Struct("=HH")
_IFADDR = struct.Struct("=BBBBi")  # ifaddrmsg: family, prefixlen, flags, scope, index
_ERRNO = struct.Struct("=i")
_U32 = struct.Struct("=I")
_SEQ_AT = 8
_IFADDR_AT = _HDR.size
_PREFIXLEN_AT = _IFADDR_AT + 1
_SCOPE_AT = _IFADDR_AT + 3
_SCOPE_HOST = rt_scope["host"]  # IPv4 loopback addresses (127/8) are host-scoped


@dataclass(frozen=True)
class _Template:
    data: bytes
    addr_at: tuple[int, ...]  # offsets of the IFA_LOCAL / IFA_ADDRESS payloads


_templates: dict[tuple[int, int], _Template] = {}


def _template(kind: int, family: int) -> _Template:
    """One pyroute2-encoded ifaddrmsg for (RTM_NEWADDR|RTM_DELADDR, family)."""
    key = (kind, family)
    tpl = _templates.get(key)
    if tpl is not None:
        return tpl
    zero = "0.0.0.0" if family == socket.AF_INET else "::"
    msg = ifaddrmsg()
    msg["family"] = family
    # IPv6 skips duplicate address detection so the address is usable at once.
    msg["flags"] = IFA_F_NODAD if (family == socket.AF_INET6 and kind == RTM_NEWADDR) else 0
    msg["attrs"] = [("IFA_LOCAL", zero), ("IFA_ADDRESS", zero)]
    msg["header"]["type"] = kind
    flags = NLM_F_REQUEST | NLM_F_ACK
    if kind == RTM_NEWADDR:
        flags |= NLM_F_CREATE | NLM_F_EXCL
    msg["header"]["flags"] = flags
    msg["header"]["sequence_number"] = 0
    msg["header"]["pid"] = 0
    msg.encode()
    data = bytes(msg.data)
    offsets = []
    for nla_kind, start, _end in _walk_nlas(data, _IFADDR_AT + _IFADDR.size, len(data)):
        if nla_kind in (IFA_LOCAL, IFA_ADDRESS):
            offsets.append(start)
    tpl = _templates[key] = _Template(data, tuple(offsets))
    return tpl


def _walk_nlas(buf: bytes | memoryview, offset: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(type, payload start, payload end) of each attribute in ``buf[offset:end]``."""
    while offset + 4 <= end:
        length, kind = _NLA.unpack_from(buf, offset)
        if length < 4:
            return
        yield kind & 0x3FFF, offset + 4, offset + length
        offset += (length + 3) & ~3


def parse_error(flags: int, body: memoryview) -> tuple[int, str]:
    """(errno, extended-ack text) of an NLMSG_ERROR body; errno 0 is an ACK."""
    err = -_ERRNO.unpack_from(body, 0)[0]
    text = ""
    if flags & NLM_F_ACK_TLVS and len(body) >= 4 + _HDR.size:
        orig_len = _HDR.unpack_from(body, 4)[0]
        start = 4 + (_HDR.size if flags & NLM_F_CAPPED else orig_len)
        for kind, first, last in _walk_nlas(body, (start + 3) & ~3, len(body)):
            if kind == NLMSGERR_ATTR_MSG:
                text = bytes(body[first:last]).split(b"\0", 1)[0].decode(errors="replace")
    return err, text


class _Reply:
    __slots__ = ("error", "text", "data", "interrupted")

    def __init__(self) -> None:
        self.error = 0
        self.text = ""
        self.data: list[bytes] = []
        self.interrupted = False


class AddressBatch:
    """Bulk address requests on one netlink socket (its namespace is the one
    the socket was created in).  Thread-safe: requests are serialised."""

    def __init__(self, sock: socket.socket, where: str, timeout: float = TIMEOUT) -> None:
        self.sock = sock
        sock.setblocking(False)  # reads never block; waits go through _wait (bounded)
        self.where = where
        self.timeout = timeout
        self._seq = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self.sock.close()

    # -- exchange -------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        return self._seq

    def exchange(self, messages: Sequence[bytearray]) -> list[_Reply]:
        """Send encoded messages (their seq is set here), BATCH per send(); one reply each.

        A request is complete at its ack, a dump at NLMSG_DONE.  Kernel
        failures, a lost acknowledgement (ENOBUFS) and the deadline are
        recorded in the replies, never raised; a dead socket raises.
        """
        replies: list[_Reply] = []
        deadline = time.monotonic() + self.timeout
        with self._lock:
            for start in range(0, len(messages), BATCH):
                pending: dict[int, _Reply] = {}
                chunk = messages[start : start + BATCH]
                for msg in chunk:
                    seq = self._next_seq()
                    struct.pack_into("=I", msg, _SEQ_AT, seq)
                    pending[seq] = reply = _Reply()
                    replies.append(reply)
                try:
                    self.sock.send(b"".join(chunk))
                except OSError as e:
                    raise NetlinkError(f"netlink send in {self.where}: {e.strerror}") from e
                self._collect(pending, deadline)
        return replies

    def _wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the socket to be readable; False on timeout."""
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        return bool(poller.poll(max(seconds, 0) * 1000))

    def _collect(self, pending: dict[int, _Reply], deadline: float) -> None:
        """Read answers until every pending request has its own, or the
        deadline passes.  The socket is non-blocking: a read that finds
        nothing waits in :meth:`_wait`, bounded by what is left of the deadline."""
        recv = self.sock.recv
        overflowed = False
        while pending:
            try:
                data = recv(RECV_SIZE)
            except BlockingIOError:
                if overflowed:
                    # The acknowledgements still queued after an overflow have
                    # been read: the kernel dropped the others, and what
                    # happened to those requests is unknown (re-read the state).
                    for r in pending.values():
                        r.error, r.text = errno.ENOBUFS, "acknowledgement lost; state unknown"
                    return
                if not self._wait(deadline - time.monotonic()):
                    for r in pending.values():
                        r.error, r.text = errno.ETIMEDOUT, f"no answer within {self.timeout:g} s"
                    return
                continue
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    overflowed = True
                    continue
                raise NetlinkError(f"netlink receive in {self.where}: {e.strerror}") from e
            offset, size = 0, len(data)
            while offset + _HDR.size <= size:
                length, kind, flags, seq, _pid = _HDR.unpack_from(data, offset)
                if length < _HDR.size:
                    break
                reply = pending.get(seq)  # None: a late answer to a request that timed out
                if reply is not None:
                    body = offset + _HDR.size
                    if kind == NLMSG_ERROR:
                        if _ERRNO.unpack_from(data, body)[0]:
                            view = memoryview(data)[body : offset + length]
                            reply.error, reply.text = parse_error(flags, view)
                        del pending[seq]
                    elif kind == NLMSG_DONE:
                        if length - _HDR.size >= 4:
                            reply.error = -_ERRNO.unpack_from(data, body)[0]
                        del pending[seq]
                    else:
                        if flags & NLM_F_DUMP_INTR:
                            reply.interrupted = True
                        reply.data.append(data[body : offset + length])
                offset += (length + 3) & ~3

    # -- the address dump -----------------------------------------------------

    def dump_raw(self) -> list[bytes]:
        """Every RTM_NEWADDR body of the namespace, in the kernel's order.

        A dump the kernel marks interrupted (addresses changed while it ran)
        is retried; after DUMP_ATTEMPTS interrupted ones it raises rather
        than return a possibly inconsistent list.
        """
        for _attempt in range(DUMP_ATTEMPTS):
            size = _HDR.size + _IFADDR.size
            msg = bytearray(_HDR.pack(size, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 0, 0))
            msg += _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
            (reply,) = self.exchange([msg])
            if reply.error:
                raise NetlinkError(
                    f"address dump in {self.where}: {describe(reply.error, reply.text)}"
                )
            if not reply.interrupted:
                return reply.data
        raise NetlinkError(
            f"address dump in {self.where}: interrupted {DUMP_ATTEMPTS} times in a row "
            "(addresses keep changing); giving up"
        )

    def _dumped(self, index: int | None) -> Iterator[tuple[int, int, int, int, int, bytes]]:
        """(family, prefixlen, flags, scope, index, packed address) of each IPv4/IPv6
        address in the kernel's list order (of link ``index`` only, if given)."""
        inet, inet6 = socket.AF_INET, socket.AF_INET6
        for body in self.dump_raw():
            family, prefixlen, flags, scope, ifindex = _IFADDR.unpack_from(body, 0)
            if (index is not None and ifindex != index) or (family != inet and family != inet6):
                continue
            local = address = None
            offset, end = _IFADDR.size, len(body)
            while offset + 4 <= end:
                length, kind = _NLA.unpack_from(body, offset)
                if length < 4:
                    break
                kind &= 0x3FFF
                if kind == IFA_LOCAL:
                    local = body[offset + 4 : offset + length]
                elif kind == IFA_ADDRESS:
                    address = body[offset + 4 : offset + length]
                elif kind == IFA_FLAGS:
                    flags = _U32.unpack_from(body, offset + 4)[0]
                offset += (length + 3) & ~3
            packed = local or address
            if packed is not None:
                yield family, prefixlen, flags, scope, ifindex, packed

    def addresses(self, names: dict[int, str], index: int | None = None) -> list[Address]:
        """Decoded addresses (of link ``index`` only, if given); ``names`` maps index -> name."""
        scopes: dict[int, str] = {}
        out = []
        for family, prefixlen, flags, scope, ifindex, packed in self._dumped(index):
            name = scopes.get(scope)
            if name is None:
                name = scopes[scope] = scope_name(scope)
            out.append(
                Address(
                    ifname=names.get(ifindex, ""),
                    index=ifindex,
                    family=4 if family == socket.AF_INET else 6,
                    address=socket.inet_ntop(family, packed),
                    prefixlen=prefixlen,
                    scope=name,
                    flags=flags,
                )
            )
        return out

    def _kernel_order(self, index: int) -> list[tuple[bytes, int]]:
        """(packed address, prefixlen) of link ``index`` in the kernel's list order:
        for IPv4, primaries first, then secondaries as they were added."""
        return [(packed, plen) for _f, plen, _fl, _s, _i, packed in self._dumped(index)]

    # -- add / delete -----------------------------------------------------------

    @staticmethod
    def _messages(kind: int, index: int, ifaces: Sequence[IPInterface]) -> list[bytearray]:
        """One request per address: the template for its family, with index
        (once per call), prefix length, scope and address bytes patched in."""
        by_length: dict[int, tuple[bytes, tuple[int, ...]]] = {}  # address length -> template
        for length, family in ((4, socket.AF_INET), (16, socket.AF_INET6)):
            tpl = _template(kind, family)
            data = bytearray(tpl.data)
            struct.pack_into("=i", data, _IFADDR_AT + 4, index)
            by_length[length] = (bytes(data), tpl.addr_at)
        out = []
        for iface in ifaces:
            packed = iface.ip.packed
            data, addr_at = by_length[len(packed)]
            msg = bytearray(data)
            msg[_PREFIXLEN_AT] = iface.network.prefixlen
            if len(packed) == 4 and packed[0] == 127:
                msg[_SCOPE_AT] = _SCOPE_HOST
            for at in addr_at:
                msg[at : at + len(packed)] = packed
            out.append(msg)
        return out

    def add(self, ifname: str, index: int, parsed: list[tuple[str, IPInterface]]) -> dict[str, str]:
        """Add each address; {cidr: error} for those that failed (EEXIST counts as added)."""
        replies = self.exchange(self._messages(RTM_NEWADDR, index, [i for _c, i in parsed]))
        errors = {}
        for (cidr, _iface), reply in zip(parsed, replies, strict=True):
            if reply.error and reply.error != errno.EEXIST:
                errors[cidr] = f"{ifname}: cannot add {cidr}: {describe(reply.error, reply.text)}"
        return errors

    def delete(
        self,
        ifname: str,
        index: int,
        parsed: list[tuple[str, IPInterface, bool]],
        present: list[tuple[bytes, int]] | None = None,
    ) -> dict[str, str]:
        """Delete each address, secondaries before their primary; {cidr: error} for failures.

        ``exact`` False (a bare address, no /prefix) deletes it whatever its
        prefix length.  An absent address counts as deleted.

        Order: reverse of the kernel's list.  With promote_secondaries=1
        (sysctl.prepare_member), deleting a primary first makes the kernel
        promote a secondary and rebuild its routes on every delete: 1000
        deletes take ~4 s instead of ~40 ms.  One dump (~12 ms with 1000
        addresses in the namespace) buys the order, unless the caller gives
        it: ``present``, (packed address, prefixlen) of the link's addresses
        in the kernel's order, read by the caller in the same step.
        """
        bare = [iface.ip.packed for _c, iface, exact in parsed if not exact]
        if present is not None and bare and not set(bare) <= {p for p, _l in present}:
            present = None  # a bare address it does not know: ask the kernel
        if present is None:
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
            # Absent ones (-1) are still asked for, last: they may have appeared since.
            todo.append((position.get((packed, iface.network.prefixlen), -1), cidr, iface))
        todo.sort(key=lambda item: item[0], reverse=True)
        replies = self.exchange(self._messages(RTM_DELADDR, index, [i for _p, _c, i in todo]))
        errors = {}
        for (_pos, cidr, _iface), reply in zip(todo, replies, strict=True):
            if reply.error and reply.error not in (errno.EADDRNOTAVAIL, errno.ENODEV):
                errors[cidr] = (
                    f"{ifname}: cannot delete {cidr}: {describe(reply.error, reply.text)}"
                )
        return errors
