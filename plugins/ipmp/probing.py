"""Probe-based failure detection: in.mpathd's targets and state machine.

Each member with a test address sends an ICMP echo from that address, out of
that NIC only, every ``failure_detection_time / 7`` with a random jitter
(each interval between 0.85 and 1 times that), to its targets in turn.  The
members of one family and one detection time probe together, in rounds
(:class:`_Cohort`): one echo request, patched once per round, sent by every
member in one system call, and every reply read in another
(:mod:`rcm_netkit.probeio`); a reply is a member's by the NIC it came back
on and the address it came back to.  A probe not answered when the round
after next goes (1.7 to 2 intervals after it went) is lost: on a loaded host
a reply may come a little after the next round.  Five lost in a row: the
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

One thread runs every member (a heap of next-round times and a wake-up
pipe): :class:`Prober` is the IPMP handler's event source.  It posts an Event
(source ``ipmp``, action ``probe``, ``IFNAME`` and ``STATE``) when a member
fails or is repaired, which reaches the handler on rcmd's worker like a
carrier change, and it also runs the handler's timers (action ``stable``:
a flapping link has stayed up long enough).
"""

from __future__ import annotations

import contextlib
import errno
import functools
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

from rcm_netkit.probeio import Answers, Endpoint, ProbeIO, Reply, source_text

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
STRAYS_EVERY = 1024  # rounds between two sweeps of answers no round will ask for
SLACK = 0.002  # seconds: rounds due this close together go in one wake-up
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

    def judge(self, answered: bool, rtt_ms: float = 0.0) -> str | None:
        """One probe's outcome, counted once: answered (in time, with its
        round trip), or lost.  Returns
        ``failed`` when this loss makes the member fail (the fifth in a
        row), ``ok`` when this answer repairs it (the tenth in a row)."""
        if answered:
            self.answered += 1
            self.answered_in_row += 1
            self.lost_in_row = 0
            self.rtts.append(rtt_ms)
            if self.state == "unknown":
                self.state = "ok"  # in service already: nothing to announce
            elif self.state == "failed" and self.answered_in_row >= REPAIR_AFTER:
                self.state = "ok"
                return "ok"
            return None
        self.lost += 1
        self.lost_in_row += 1
        self.answered_in_row = 0
        if self.lost_in_row >= FAILURE_AFTER and self.state != "failed":
            self.state = "failed"
            return "failed"
        return None

    def reset(self) -> str | None:
        """Probing stopped (socket gone, no targets): back to unknown.  Returns
        ``unknown`` if the member was failed (its failure no longer stands)."""
        was = self.state
        self.state = "unknown"
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


@functools.lru_cache(maxsize=1024)
def _family(address: str) -> int:
    """4 or 6 (cached: every member's targets are looked at every
    :data:`REFRESH_EVERY` rounds, and parsing them was ~0.3% of a core at
    100 members and 100 ms)."""
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
    """A probed member: its configuration, state, probe route and turn."""

    __slots__ = (
        "config",
        "probe",
        "endpoint",
        "v6",
        "interval",
        "turn",
        "until_refresh",
        "discovering",
        "discovered",
    )

    def __init__(self, config: ProbeConfig) -> None:
        self.config = config
        self.interval = config.detection_ms / 1000 / PROBES_PER_DETECTION
        self.probe = MemberProbe(config.ifname, self.interval)
        self.endpoint: Endpoint | None = None  # its probe route, once its NIC is there
        self.v6 = _family(config.test_address or "0.0.0.0") == 6
        self.turn = 0  # which target next
        self.until_refresh = 0
        self.discovering = False
        self.discovered: list[str] = []


class _Round:
    """One round's probes: their sequence number, when they went, and who
    sent one (with the route it went by: a member whose route was closed
    and made again since is not judged by this round)."""

    __slots__ = ("seq", "sent_ns", "members")

    def __init__(self, seq: int, sent_ns: int, members: list[tuple[_Member, Endpoint]]) -> None:
        self.seq = seq
        self.sent_ns = sent_ns
        self.members = members


class _Cohort:
    """The members of one family probed at one interval: they probe together,
    in rounds (one ``sendmmsg``, one patched echo request), each round
    ``interval`` times a random jitter after the last.  The jitter is the
    round's rather than each member's, as in.mpathd's is its socket's: it
    keeps this host's probes from locking step with another's.  ``pending``
    holds the last two rounds, not yet judged in full."""

    __slots__ = ("interval", "v6", "members", "pending", "live")

    def __init__(self, interval: float, v6: bool) -> None:
        self.interval = interval
        self.v6 = v6
        self.members: list[_Member] = []
        self.pending: deque[_Round] = deque()
        self.live = True


class Prober:
    """The IPMP handler's event source: probes every member, runs timers.

    Thread-safe to configure (:meth:`configure`, :meth:`hold`) and to read
    (:meth:`snapshot`) from other threads; everything else happens on the
    thread in :meth:`run`.  ``routes`` returns (family, gateway, ifname) of
    the main table and ``local_addresses`` the host's addresses; both are
    called on the probing thread (defaults: rtnetlink in this namespace).

    Why rounds (docs/performance.md, "Probe-based failure detection"): at
    100 members and 100 ms that is 7,000 probes and 7,000 replies a second,
    and per probe the Python of a member's own schedule, sequence numbers,
    packet and table of outstanding probes was most of rcmd's cost.  In a
    round the members share one echo request (patched once), a probe's
    answer is one dictionary entry keyed by (sequence number, NIC, our
    address), and a round is judged when the next round goes: its members'
    answers are counted, and when the round after goes, whoever has still
    not answered (the probe is then 1.7-2 intervals old: two jittered
    intervals) has lost that probe.
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
        # (group, family, configured targets) -> (the routes read, targets chosen from them)
        self._chosen: dict[tuple[str, int, tuple[str, ...]], tuple[object, list[str]]] = {}
        self._changed = True
        self._cohorts: dict[tuple[float, bool], _Cohort] = {}
        self._queue: list[tuple[float, int, _Cohort]] = []
        self._order = 0
        self._by_key: dict[tuple[int, bytes], _Member] = {}  # probe route -> member
        self._io: dict[bool, ProbeIO | None] = {}  # by "is IPv6"; None: cannot be made
        # answers not yet counted: (seq, ifindex, our address) -> receive time
        self._answers: dict[bool, Answers] = {False: {}, True: {}}
        self._seq = {False: 0, True: 0}
        self._rpipe, self._wpipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._ident = random.randrange(0x10000)
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

    def _apply_config(self, now: float) -> None:
        with self._lock:
            if not self._changed:
                return
            self._changed = False
            self._chosen.clear()  # the groups' members may have changed
            wanted = {n: c for n, c in self._wanted.items() if c.test_address}
            for name in list(self._members):
                if name not in wanted or self._members[name].config != wanted[name]:
                    gone = self._members.pop(name)
                    self._close(gone)
                    cohort = self._cohorts[(gone.interval, gone.v6)]
                    cohort.members.remove(gone)
                    if not cohort.members:
                        cohort.live = False  # its queued round is skipped
                        del self._cohorts[(gone.interval, gone.v6)]
            for name, cfg in sorted(wanted.items()):
                if name in self._members:
                    continue
                member = self._members[name] = _Member(cfg)
                cohort = self._cohorts.get((member.interval, member.v6))
                if cohort is None:
                    cohort = self._cohorts[(member.interval, member.v6)] = _Cohort(
                        member.interval, member.v6
                    )
                    # Its first round within one interval, not at once.
                    self._schedule(cohort, now + self._rng.uniform(0, member.interval))
                cohort.members.append(member)  # probes from the cohort's next round

    def _schedule(self, cohort: _Cohort, at: float) -> None:
        self._order += 1
        heapq.heappush(self._queue, (at, self._order, cohort))

    def _close(self, member: _Member) -> None:
        if member.endpoint is not None:
            self._by_key.pop(member.endpoint.key, None)
        member.endpoint = None

    def _io_for(self, v6: bool) -> ProbeIO | None:
        """The raw socket of a family, made on first use (None if it cannot be:
        said once in the log; the members of that family are judged by link)."""
        if v6 not in self._io:
            try:
                self._io[v6] = ProbeIO(v6, self._ident)
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
            member.endpoint = io.endpoint(cfg.ifname, source)
        except OSError as e:  # no such NIC (yet): judged by its link
            log.debug("%s: cannot probe: %s", cfg.ifname, e)
            return False
        self._by_key[member.endpoint.key] = member
        return True

    def _refresh_targets(self, member: _Member) -> None:
        cfg = member.config
        family = _family(cfg.test_address or "0.0.0.0")
        try:
            routes = self._routes()
        except Exception as e:  # noqa: BLE001 - a failed lookup keeps the old targets
            log.warning("%s: cannot read routes for probe targets: %s", cfg.ifname, e)
            return
        # The same for every member of the group while the routes read are
        # the same: chosen once (100 members choosing from 100 routes every
        # REFRESH_EVERY rounds was ~1% of a core at 100 ms).
        key = (cfg.group, family, cfg.targets)
        chosen = self._chosen.get(key)
        if chosen is None or chosen[0] is not routes:
            group = [c.ifname for c in self._wanted.values() if c.group == cfg.group]
            targets = choose_targets(family, group, routes, cfg.targets)
            chosen = self._chosen[key] = (routes, targets)
        found = list(chosen[1])
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

    def _judge(self, cohort: _Cohort, post: Callable[[Event], None]) -> None:
        """Before a round goes: the last round's answers are counted, and the
        round before it is judged in full (who has not answered has lost)."""
        answers = self._answers[cohort.v6]
        pending = cohort.pending
        if len(pending) >= 2:
            oldest = pending.popleft()
            for member, endpoint in oldest.members:
                if member.endpoint is endpoint:  # else closed meanwhile (it was reset)
                    received = answers.pop((oldest.seq, *endpoint.key), None)
                    self._count(member, oldest, received, post)
        if pending:
            last, waiting = pending[-1], []
            for pair in last.members:
                member, endpoint = pair
                received = answers.pop((last.seq, *endpoint.key), None)
                if received is None:
                    waiting.append(pair)  # judged at the next round
                elif member.endpoint is endpoint:
                    self._count(member, last, received, post)
            last.members = waiting

    def _count(
        self,
        member: _Member,
        round_: _Round,
        received: tuple[int, int] | None,
        post: Callable[[Event], None],
    ) -> None:
        """One probe of ``round_`` answered (``received``: the kernel's
        receive time) or lost (None), and the event if it changes the member."""
        if received is None:
            changed = member.probe.judge(False)
        else:
            sec, nsec = received
            changed = member.probe.judge(True, (sec * 1_000_000_000 + nsec - round_.sent_ns) / 1e6)
        if changed is not None:
            self._post(post, member, changed)

    def _round(self, cohort: _Cohort, now: float, post: Callable[[Event], None]) -> None:
        """One round of ``cohort``: judge the rounds before, then every member
        that can probe sends one probe to its next target (one call), and a
        member with no target asks the link who answers."""
        self._judge(cohort, post)
        low, high = JITTER
        self._schedule(cohort, now + cohort.interval * (low + (high - low) * self._rng.random()))
        headers: list[bytes] = []
        probing: list[tuple[_Member, Endpoint]] = []
        asking: list[tuple[_Member, Endpoint]] = []
        for member in cohort.members:
            member.discovering = False  # the answers to its last question came, or none did
            if member.endpoint is None and not self._open(member):
                self._post(post, member, member.probe.reset())
                continue
            endpoint = member.endpoint
            assert endpoint is not None  # opened above
            member.until_refresh -= 1
            probe = member.probe
            if member.until_refresh <= 0 or not probe.targets:
                self._refresh_targets(member)
            targets = probe.targets
            if not targets:
                # in.mpathd: no router, no target: ask the link who answers.
                self._post(post, member, probe.reset())
                asking.append((member, endpoint))
                continue
            headers.append(endpoint.header(targets[member.turn % len(targets)]))
            member.turn += 1
            probing.append((member, endpoint))
        io = self._io.get(cohort.v6)
        if io is None:
            return
        if probing:
            seq = self._seq[cohort.v6] = (self._seq[cohort.v6] + 1) % DISCOVERY_SEQ
            if seq % STRAYS_EVERY == 0:
                # Late answers left behind, before their sequence number comes
                # round again (every ~15 minutes at 100 ms) and is taken for a
                # new round's.
                self._forget_strays(cohort.v6)
            io.prepare(seq)
            sent_ns, errors = io.send(headers)
            if errors:
                self._refused([m for m, _e in probing], errors, post)
                probing = [pair for i, pair in enumerate(probing) if i not in errors]
            for member, _endpoint in probing:
                member.probe.sent += 1
            cohort.pending.append(_Round(seq, sent_ns, probing))
        if asking:
            io.prepare(DISCOVERY_SEQ)
            everyone = ALL_HOSTS[6 if cohort.v6 else 4]
            _sent, errors = io.send([endpoint.header(everyone) for _m, endpoint in asking])
            if errors:
                self._refused([m for m, _e in asking], errors, post)
            for member, _endpoint in asking:
                member.discovering = member.endpoint is not None

    def _refused(
        self, members: list[_Member], errors: dict[int, OSError], post: Callable[[Event], None]
    ) -> None:
        for position, error in errors.items():
            member = members[position]
            log.debug("%s: probe not sent: %s", member.config.ifname, error)
            if error.errno in TRANSIENT:
                continue  # this probe only (not judged): the next one goes at the next round
            # The NIC left, or lost its test address: it cannot be judged
            # by probes now (its link state says the rest).
            self._close(member)
            self._post(post, member, member.probe.reset())

    def _read_replies(self) -> None:
        """Every reply queued now, kept for its round's judgement: a probe's
        answer is one dictionary entry (:meth:`ProbeIO.collect`).  Answers to
        the all-hosts question of members discovering targets go to
        :meth:`_discovered`."""
        for v6, io in self._io.items():
            if io is None:
                continue
            answers = self._answers[v6]
            try:
                found = io.collect(answers, DISCOVERY_SEQ)
            except OSError as e:
                log.debug("cannot read probe replies: %s", e)
                continue
            if len(answers) > 4 * len(self._members) + 64:
                self._forget_strays(v6)
            if found:
                self._discovered(found)

    def _forget_strays(self, v6: bool) -> None:
        """Answers no pending round will ask for (late, duplicated, or for a
        member gone): dropped, so the table stays the size of two rounds."""
        live = {r.seq for c in self._cohorts.values() if c.v6 == v6 for r in c.pending}
        answers = self._answers[v6]
        for key in [k for k in answers if k[0] not in live]:
            del answers[key]

    def _discovered(self, found: list[Reply]) -> None:
        """Answers to the all-hosts echo of members discovering targets."""
        try:
            # Read now, not cached: the host's own addresses answer the
            # all-hosts echo too, and must never be targets.
            local = self._local()
        except Exception as e:  # noqa: BLE001
            log.warning("cannot read the host's addresses: %s", e)
            return
        for reply in found:
            member = self._by_key.get((reply.ifindex, reply.destination))
            if member is None or not member.discovering:
                continue
            source = source_text(reply)
            if (
                source not in local
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
        """Probe until ``stop``: cohorts in order of their next round (a
        heap), those due within :data:`SLACK` of each other in one wake-up;
        the replies queued meanwhile are read at each wake-up (they carry
        the kernel's receive time, so reading them late does not lengthen a
        round trip).  The thread sleeps in between: the only thing it waits
        on is the wake-up pipe."""
        sel = selectors.DefaultSelector()
        sel.register(self._rpipe, selectors.EVENT_READ, None)
        try:
            while not stop.is_set():
                now = time.monotonic()
                self._apply_config(now)
                queue = self._queue
                due: list[_Cohort] = []
                while queue and queue[0][0] <= now + SLACK:
                    _at, _order, cohort = heapq.heappop(queue)
                    if cohort.live:
                        due.append(cohort)  # else configured away meanwhile
                with self._lock:
                    self._read_replies()
                    for cohort in due:
                        self._round(cohort, now, post)
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
