"""Probe-based failure detection: in.mpathd's targets and state machine.

Each member with a test address sends an ICMP echo from that address, out of
that NIC only (:mod:`rcm_netkit.probeio`: every member due in one wake-up is
probed in one system call, and every reply is read in another), every
``failure_detection_time / 7`` with a random jitter (each interval between
0.85 and 1 times that), to its targets in turn.  A probe not answered within
1.5 intervals is lost (counted as the probe after next goes: on a loaded host
a reply may come a little after the next probe).  Five lost in a row: the
member has failed; ten answered in a row: it is repaired.  So a path that
dies is noticed within seven intervals at worst, the detection time.

Targets, as in.mpathd chooses them: the gateways of routes through any
member of the group (on-link routers); else the group's configured
``targets``; else on-link hosts that answer an echo to the all-hosts group
(224.0.0.1, or ff02::1 for IPv6), at most :data:`MAX_TARGETS`, never the
host's own addresses.  IPv6 probes go from the NIC's link-local address to
link-local targets, as in.mpathd's do (docs/ipmp.md says why).  A member
with no target cannot be judged by probes: its state is ``unknown`` and only
its link counts.

One thread runs every member (a heap of next-probe times and a wake-up
pipe): :class:`Prober` is the IPMP handler's event source.  It posts an Event
(source ``ipmp``, action ``probe``, ``IFNAME`` and ``STATE``) when a member
fails or is repaired, which reaches the handler on rcmd's worker like a
carrier change, and it also runs the handler's timers (action ``stable``:
a flapping link has stayed up long enough).
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import ipaddress
import logging
import os
import random
import selectors
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rcm_netkit.probeio import Endpoint, ProbeIO, Reply, source_text

from rcm.model import Event

log = logging.getLogger(__name__)

SOURCE = "ipmp"
PROBE = "probe"
STABLE = "stable"

PROBES_PER_DETECTION = 7  # in.mpathd: the detection time is 7 probe intervals
FAILURE_AFTER = 5  # lost in a row
REPAIR_AFTER = 10  # answered in a row
JITTER = (0.85, 1.0)  # each interval is this fraction of detection time / 7
MAX_TARGETS = 5  # in.mpathd's MAX_PROBE_TARGETS
RTTS_KEPT = 8
REFRESH_EVERY = 50  # probes between two looks for routers / configured targets
TIMEOUT_INTERVALS = 1.5  # a probe unanswered this many intervals is lost
SLACK = 0.002  # seconds: members due this close together are probed in one wake-up
TRANSIENT = frozenset({errno.EAGAIN, errno.ENOBUFS, errno.EINTR})  # a probe not sent, no more
ROUTES_TTL = 30.0  # seconds a route dump serves every member (see _routes)
ALL_HOSTS = {4: "224.0.0.1", 6: "ff02::1"}
DISCOVERY_SEQ = 0xFFFF  # the sequence number of a discovery echo (never a probe's)
IFA_F_TENTATIVE = 0x40  # linux/if_addr.h
IFA_F_DADFAILED = 0x08


@dataclass(frozen=True)
class ProbeConfig:
    """What to probe for one member (from the IPMP configuration)."""

    ifname: str
    group: str
    test_address: str | None  # the source of its probes; None: link state only
    detection_ms: int
    targets: tuple[str, ...] = ()  # the group's configured targets


@dataclass
class MemberProbe:
    """One member's probe state: counters and the five/ten rule.  Pure (no
    sockets), so the rule is tested without a network."""

    ifname: str
    interval: float  # seconds between probes (before jitter)
    state: str = "unknown"  # ok | failed | unknown (disabled: no test address)
    targets: list[str] = field(default_factory=list)
    sent: int = 0
    answered: int = 0
    lost: int = 0
    lost_in_row: int = 0
    answered_in_row: int = 0
    rtts: deque[float] = field(default_factory=lambda: deque(maxlen=RTTS_KEPT))
    outstanding: dict[int, int] = field(default_factory=dict)  # seq -> sent (ns)
    next_seq: int = 0

    def take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq = (seq + 1) % DISCOVERY_SEQ
        return seq

    def on_sent(self, seq: int, sent_ns: int) -> None:
        self.sent += 1
        self.outstanding[seq] = sent_ns

    def expire(self, now_ns: int | None = None, timeout_ns: int = 0) -> str | None:
        """Probes unanswered for ``timeout_ns`` (all of them without
        ``now_ns``) are lost; called as the next probe goes.  Returns
        ``failed`` when this makes the member fail."""
        changed = None
        for seq, sent_ns in list(self.outstanding.items()):
            if now_ns is not None and sent_ns > now_ns - timeout_ns:
                continue  # still in time
            del self.outstanding[seq]
            self.lost += 1
            self.lost_in_row += 1
            self.answered_in_row = 0
            if self.lost_in_row >= FAILURE_AFTER and self.state != "failed":
                self.state = changed = "failed"
        return changed

    def on_reply(self, seq: int, received_ns: int) -> str | None:
        """An answer; returns ``ok`` when it repairs a failed member."""
        sent_ns = self.outstanding.pop(seq, None)
        if sent_ns is None:
            return None  # late (already counted lost) or a duplicate
        self.answered += 1
        self.answered_in_row += 1
        self.lost_in_row = 0
        self.rtts.append((received_ns - sent_ns) / 1e6)
        if self.state == "unknown":
            self.state = "ok"  # in service already: nothing to announce
        elif self.state == "failed" and self.answered_in_row >= REPAIR_AFTER:
            self.state = "ok"
            return "ok"
        return None

    def reset(self) -> str | None:
        """Probing stopped (socket gone, no targets): back to unknown.  Returns
        ``unknown`` if the member was failed (its failure no longer stands)."""
        was = self.state
        self.state = "unknown"
        self.outstanding.clear()
        self.lost_in_row = self.answered_in_row = 0
        return "unknown" if was == "failed" else None

    def snapshot(self, test_address: str | None) -> dict[str, object]:
        return {
            "state": self.state,
            "targets": list(self.targets),
            "sent": self.sent,
            "answered": self.answered,
            "lost": self.lost,
            "rtt_ms": [round(r, 3) for r in self.rtts],
            "test_address": test_address,
        }


def _family(address: str) -> int:
    return ipaddress.ip_address(address).version


def choose_targets(
    family: int,
    group_members: Iterable[str],
    routes: Iterable[tuple[int, str | None, str]],
    configured: Iterable[str],
) -> list[str]:
    """Routers first (gateways of routes through a group member), else the
    configured targets, of ``family``; at most MAX_TARGETS, in order.
    ``routes`` are (family, gateway, ifname)."""
    members = set(group_members)
    routers: list[str] = []
    for fam, gateway, ifname in routes:
        if fam != family or not gateway or ifname not in members or gateway in routers:
            continue
        if family == 6 and not ipaddress.ip_address(gateway).is_link_local:
            continue  # IPv6 probes reach link-local targets only
        routers.append(gateway)
    if routers:
        return routers[:MAX_TARGETS]
    return [t for t in configured if _family(t) == family][:MAX_TARGETS]


class _Member:
    """A probed member: its configuration, state, socket and next send time."""

    def __init__(self, config: ProbeConfig, ident: int) -> None:
        self.config = config
        self.ident = ident
        self.probe = MemberProbe(config.ifname, config.detection_ms / 1000 / PROBES_PER_DETECTION)
        self.endpoint: Endpoint | None = None  # its probe packet, once its NIC is there
        self.v6 = _family(config.test_address or "0.0.0.0") == 6
        self.turn = 0  # which target next
        self.until_refresh = 0
        self.discovering = False
        self.discovered: list[str] = []
        # A probe is lost once it is TIMEOUT_INTERVALS old: the one sent at the
        # previous turn still has time (on a loaded host the kernel may deliver
        # its reply a little late), the one before not.
        self.timeout_ns = int(self.probe.interval * TIMEOUT_INTERVALS * 1e9)


class Prober:
    """The IPMP handler's event source: probes every member, runs timers.

    Thread-safe to configure (:meth:`configure`, :meth:`hold`) and to read
    (:meth:`snapshot`) from other threads; everything else happens on the
    thread in :meth:`run`.  ``routes`` returns (family, gateway, ifname) of
    the main table and ``local_addresses`` the host's addresses; both are
    called on the probing thread (defaults: rtnetlink in this namespace).
    """

    name = "ipmp-probe"

    def __init__(
        self,
        routes: Callable[[], list[tuple[int, str | None, str]]] | None = None,
        local_addresses: Callable[[], set[str]] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._wanted: dict[str, ProbeConfig] = {}
        self._members: dict[str, _Member] = {}
        self._timers: list[tuple[float, int, str, dict[str, str]]] = []
        self._timer_seq = 0
        self._routes_fn = routes
        self._local_fn = local_addresses
        self._nl = None
        self._route_cache: tuple[float, list[tuple[int, str | None, str]]] | None = None
        self._changed = True
        self._queue: list[tuple[float, int, _Member]] = []
        self._order = 0
        self._by_ident: dict[int, _Member] = {}
        self._io: dict[bool, ProbeIO | None] = {}  # by "is IPv6"; None: cannot be made
        self._rpipe, self._wpipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._ident_base = random.randrange(0x10000)
        self._rng = random.Random()

    # -- other threads -----------------------------------------------------------
    def configure(self, members: Iterable[ProbeConfig]) -> None:
        """The members to probe (all of them, replacing the previous list)."""
        with self._lock:
            self._wanted = {m.ifname: m for m in members}
            self._changed = True
        self._wake()

    def hold(self, ifname: str, seconds: float, token: str) -> None:
        """Post a ``stable`` event for ``ifname`` with ``token`` after ``seconds``."""
        with self._lock:
            self._timer_seq += 1
            heapq.heappush(
                self._timers,
                (time.monotonic() + seconds, self._timer_seq, ifname, {"TOKEN": token}),
            )
        self._wake()

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Probe state of every configured member (see docs/ipmp.md)."""
        with self._lock:
            out: dict[str, dict[str, object]] = {}
            for name, cfg in sorted(self._wanted.items()):
                member = self._members.get(name)
                if cfg.test_address is None:
                    out[name] = MemberProbe(name, 0, state="disabled").snapshot(None)
                elif member is None:
                    out[name] = MemberProbe(name, 0).snapshot(cfg.test_address)
                else:
                    out[name] = member.probe.snapshot(cfg.test_address)
            return out

    def failed(self) -> set[str]:
        """Members whose probes say failed now."""
        with self._lock:
            return {n for n, m in self._members.items() if m.probe.state == "failed"}

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wpipe, b"x")

    # -- the probing thread --------------------------------------------------------
    def _routes(self) -> list[tuple[int, str | None, str]]:
        """The main table's routes, read at most every :data:`ROUTES_TTL`
        for all members: a dump (with the link dump that names the routes'
        NICs) decoded by pyroute2 costs ~0.1 s of CPU with 100 NICs, so a dump
        per member per refresh took most of a core, and one a second 10%.
        A router added is noticed within that time."""
        now = time.monotonic()
        if self._route_cache is None or now - self._route_cache[0] > ROUTES_TTL:
            self._route_cache = (now, self._read_routes())
        return self._route_cache[1]

    def _read_routes(self) -> list[tuple[int, str | None, str]]:
        if self._routes_fn is not None:
            return self._routes_fn()
        from rcm_netkit.netlink import Netlink

        if self._nl is None:
            self._nl = Netlink()
        return [(r.family, r.gateway, r.ifname) for r in self._nl.routes()]

    def _link_local(self, ifname: str) -> str | None:
        """The NIC's IPv6 link-local address once duplicate address detection
        has passed, or None.  IPv6 probes go from it by name: from "::" the
        kernel picks a global source while the link-local one is tentative,
        and then the hosts that have global addresses answer from those (not
        targets) while a host with only a link-local one (the lab's bridge)
        answers from it: discovery settled on the bridge alone, and the
        client was never a target (seen as a flaky lab test)."""
        from rcm_netkit.netlink import Netlink

        if self._nl is None:
            self._nl = Netlink()
        for a in self._nl.addresses(ifname):
            if (
                a.family == 6
                and a.scope == "link"
                and not a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)
            ):
                return a.address
        return None

    def _local(self) -> set[str]:
        if self._local_fn is not None:
            return self._local_fn()
        from rcm_netkit.netlink import Netlink

        if self._nl is None:
            self._nl = Netlink()
        return {a.address for a in self._nl.addresses()}

    def _schedule(self, member: _Member, at: float) -> None:
        self._order += 1
        heapq.heappush(self._queue, (at, self._order, member))

    def _apply_config(self, now: float) -> None:
        with self._lock:
            if not self._changed:
                return
            self._changed = False
            wanted = {n: c for n, c in self._wanted.items() if c.test_address}
            for name in list(self._members):
                if name not in wanted or self._members[name].config != wanted[name]:
                    gone = self._members.pop(name)
                    self._close(gone)
                    self._by_ident.pop(gone.ident, None)
            for i, (name, cfg) in enumerate(sorted(wanted.items())):
                if name not in self._members:
                    member = _Member(cfg, (self._ident_base + i * 7919) & 0xFFFF)
                    while member.ident in self._by_ident:  # unique among the members
                        member.ident = (member.ident + 1) & 0xFFFF
                    self._members[name] = member
                    self._by_ident[member.ident] = member
                    # Start spread over one interval, not all at once.
                    self._schedule(member, now + self._rng.uniform(0, member.probe.interval))

    @staticmethod
    def _close(member: _Member) -> None:
        member.endpoint = None

    def _io_for(self, v6: bool) -> ProbeIO | None:
        """The raw socket of a family, made on first use (None if it cannot be:
        said once in the log; the members of that family are judged by link)."""
        if v6 not in self._io:
            try:
                self._io[v6] = ProbeIO(v6)
            except OSError as e:
                log.warning("cannot open a raw ICMP%s socket to probe: %s", "v6" if v6 else "", e)
                self._io[v6] = None
        return self._io[v6]

    def _open(self, member: _Member) -> bool:
        cfg = member.config
        assert cfg.test_address is not None
        io = self._io_for(member.v6)
        if io is None:
            return False
        # IPv6 probes go from the link-local address, once it may be used.
        source = self._link_local(cfg.ifname) if member.v6 else cfg.test_address
        if source is None:
            return False  # DAD still running, or no link-local address: next turn
        try:
            member.endpoint = io.endpoint(cfg.ifname, source, member.ident)
        except OSError as e:  # no such NIC (yet): judged by its link
            log.debug("%s: cannot probe: %s", cfg.ifname, e)
            return False
        return True

    def _refresh_targets(self, member: _Member) -> None:
        cfg = member.config
        family = _family(cfg.test_address or "0.0.0.0")
        group = [c.ifname for c in self._wanted.values() if c.group == cfg.group]
        try:
            routes = self._routes()
        except Exception as e:  # noqa: BLE001 - a failed lookup keeps the old targets
            log.warning("%s: cannot read routes for probe targets: %s", cfg.ifname, e)
            return
        found = choose_targets(family, group, routes, cfg.targets)
        if found:
            member.discovered = []
        elif member.discovered:
            found = member.discovered
        elif member.probe.state == "failed" and member.probe.targets:
            found = member.probe.targets  # keep judging against what answered before
        if found != member.probe.targets:
            member.probe.targets = found
            member.turn = 0
            if found:
                log.info("%s: probe targets %s", cfg.ifname, ", ".join(found))
        member.until_refresh = REFRESH_EVERY

    def _probe(self, due: list[_Member], now: float, post: Callable[[Event], None]) -> None:
        """The turn of every member in ``due``: count its unanswered probe
        lost, prepare the next, and send them all (one call per family)."""
        now_ns = time.time_ns()
        batches: dict[bool, list[tuple[_Member, str, int]]] = {}
        for member in due:
            prepared = self._prepare(member, now, now_ns, post)
            if prepared is not None:
                batches.setdefault(member.v6, []).append((member, *prepared))
        for v6, batch in batches.items():
            io = self._io[v6]
            assert io is not None
            sent_ns, errors = io.send([(m.endpoint, target) for m, target, _ in batch])  # type: ignore[misc]
            for position, (member, target, seq) in enumerate(batch):
                error = errors.get(position)
                if error is None:
                    if seq != DISCOVERY_SEQ:
                        member.probe.on_sent(seq, sent_ns)
                    continue
                log.debug("%s: probe to %s not sent: %s", member.config.ifname, target, error)
                if error.errno in TRANSIENT:
                    continue  # this probe only: the next one goes at the next turn
                # The NIC left, or lost its test address: it cannot be judged
                # by probes now (its link state says the rest).
                self._close(member)
                self._post(post, member, member.probe.reset())

    def _prepare(
        self, member: _Member, now: float, now_ns: int, post: Callable[[Event], None]
    ) -> tuple[str, int] | None:
        """One member's turn up to the send: (target, sequence number), its
        packet prepared, or None when it cannot probe now.  The next turn
        counts from now: the members due in one wake-up stay together, so a
        round of 100 members is a few system calls."""
        probe = member.probe
        low, high = JITTER
        self._order += 1
        heapq.heappush(
            self._queue,
            (now + probe.interval * (low + (high - low) * self._rng.random()), self._order, member),
        )
        changed = None
        if member.discovering:
            member.discovering = False  # the answers came, or none did
        elif probe.outstanding:
            changed = probe.expire(now_ns, member.timeout_ns)
        if member.endpoint is None and not self._open(member):
            self._post(post, member, probe.reset() or changed)
            return None
        assert member.endpoint is not None
        member.until_refresh -= 1
        if member.until_refresh <= 0 or not probe.targets:
            self._refresh_targets(member)
        if not probe.targets:
            # in.mpathd: no router, no target: ask the link who answers.
            changed = probe.reset() or changed
            target, seq, member.discovering = ALL_HOSTS[6 if member.v6 else 4], DISCOVERY_SEQ, True
        else:
            target = probe.targets[member.turn % len(probe.targets)]
            member.turn += 1
            seq = probe.take_seq()
        member.endpoint.prepare(seq)
        if changed is not None:
            self._post(post, member, changed)
        return target, seq

    def _read_replies(self, post: Callable[[Event], None]) -> None:
        """Every reply queued now, to the member that sent the probe: by its
        echo identifier, and only if it came back on that member's NIC."""
        for io in self._io.values():
            if io is None:
                continue
            try:
                replies = io.receive()
            except OSError as e:
                log.debug("cannot read probe replies: %s", e)
                continue
            found: dict[_Member, list[Reply]] = {}
            for reply in replies:
                member = self._by_ident.get(reply.ident)
                if (
                    member is None
                    or member.endpoint is None
                    or member.v6 != io.v6
                    or reply.ifindex != member.endpoint.ifindex
                ):
                    continue
                if reply.seq == DISCOVERY_SEQ:
                    found.setdefault(member, []).append(reply)
                else:
                    self._post(post, member, member.probe.on_reply(reply.seq, reply.received_ns))
            if found:
                self._discovered(found)

    def _discovered(self, found: dict[_Member, list[Reply]]) -> None:
        """Answers to the all-hosts echo of members discovering targets."""
        try:
            # Read now, not cached: the host's own addresses answer the
            # all-hosts echo too, and must never be targets.
            local = self._local()
        except Exception as e:  # noqa: BLE001
            log.warning("cannot read the host's addresses: %s", e)
            return
        for member, replies in found.items():
            for reply in replies:
                source = source_text(reply)
                if (
                    member.discovering
                    and source not in local
                    and _usable_target(source)
                    and source not in member.discovered
                    and len(member.discovered) < MAX_TARGETS
                ):
                    member.discovered.append(source)
                    member.probe.targets = list(member.discovered)
                    log.info(
                        "%s: probe targets %s (answered %s)",
                        member.config.ifname,
                        ", ".join(member.discovered),
                        ALL_HOSTS[6 if member.v6 else 4],
                    )

    @staticmethod
    def _post(post: Callable[[Event], None], member: _Member, state: str | None) -> None:
        if state is None:
            return
        log.debug("%s: probes say %s", member.config.ifname, state)
        post(Event(SOURCE, PROBE, {"IFNAME": member.config.ifname, "STATE": state}))

    def run(self, post: Callable[[Event], None], stop: threading.Event) -> None:
        """Probe until ``stop``: members in order of their next probe (a
        heap), those due within :data:`SLACK` of each other in one wake-up
        and one send; the replies queued meanwhile are read at each wake-up
        (they carry the kernel's receive time, so reading them late does not
        lengthen a round trip).  The thread sleeps in between: the only thing
        it waits on is the wake-up pipe."""
        sel = selectors.DefaultSelector()
        sel.register(self._rpipe, selectors.EVENT_READ, None)
        try:
            while not stop.is_set():
                now = time.monotonic()
                self._apply_config(now)
                queue = self._queue
                due: list[_Member] = []
                while queue and queue[0][0] <= now + SLACK:
                    _at, _order, member = heapq.heappop(queue)
                    if self._members.get(member.config.ifname) is member:
                        due.append(member)  # else configured away meanwhile
                with self._lock:
                    self._read_replies(post)
                    if due:
                        self._probe(due, now, post)
                self._fire_timers(post, now)
                deadline = min(
                    queue[0][0] if queue else now + 0.5,
                    self._timers[0][0] if self._timers else now + 0.5,
                )
                if sel.select(max(0.0, deadline - time.monotonic())):
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._rpipe, 4096)
        finally:
            for member in list(self._members.values()):
                self._close(member)
            for io in self._io.values():
                if io is not None:
                    io.close()
            self._io.clear()
            sel.close()
            if self._nl is not None:
                self._nl.close()
                self._nl = None

    def _fire_timers(self, post: Callable[[Event], None], now: float) -> None:
        while True:
            with self._lock:
                if not self._timers or self._timers[0][0] > now:
                    return
                _at, _seq, ifname, props = heapq.heappop(self._timers)
            post(Event(SOURCE, STABLE, {"IFNAME": ifname, **props}))


def probe_configs(config: object) -> list[ProbeConfig]:
    """What to probe, from an :class:`rcm_ipmp.config.IpmpConfig`: every
    group member, with its first test address (IPv4 preferred) or None."""
    out = []
    for nic in config.interfaces.values():  # type: ignore[attr-defined]
        if not nic.group:
            continue
        group = config.groups[nic.group]  # type: ignore[attr-defined]
        tests = sorted(nic.test_addresses, key=lambda a: a.version)
        test = str(tests[0].ip) if tests else None
        family = tests[0].version if tests else 4
        out.append(
            ProbeConfig(
                ifname=nic.name,
                group=nic.group,
                test_address=test,
                detection_ms=group.failure_detection_time_ms,
                targets=tuple(str(t) for t in group.targets if t.version == family),
            )
        )
    return out


def _usable_target(source: str) -> bool:
    """Whether an answer to the all-hosts echo may become a target.  IPv6:
    only a link-local one.  The discovery echo goes from the link-local
    address, but while that address is still tentative (DAD, just after the
    link came up) the kernel sends it from a global one, and hosts answer
    from theirs; a global target becomes unreachable through the NIC once
    its data addresses fail over (docs/ipmp.md), so it would fail a healthy
    member.  Such an answer is ignored and discovery tries again."""
    if ":" not in source:
        return True
    return ipaddress.ip_address(source.partition("%")[0]).is_link_local
