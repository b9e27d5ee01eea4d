"""The IPMP handler: Solaris 10 IP multipathing semantics, on Linux.

Every hook does the same three things: observe the kernel (links, addresses),
ask :func:`placement.plan_group` where the group's data addresses should be,
and carry out the difference (add on the new NIC, announce, delete from the
old).  So a detach, a failure, a reattach, a NIC missing at boot and the
clean-up after a crash are one idempotent path, and the kernel stays the
source of truth.  The handler persists only what the kernel cannot hold:

- ``offline:<ifname>``: NICs that rcm is taking away (between offline and
  remove, they host nothing even though they are still present);
- ``detached:<mac>``: a record of each NIC rcm detached or saw vanish (its
  name, group and the addresses it hosted), shown to the admin until it is
  back;
- ``admin:<ifname>``: members the admin took out of service in place
  (``if_mpadm -d``): they stay plumbed, keep their test addresses, and host
  no data addresses until ``if_mpadm -r``, across rcmd restarts.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

from rcm_netkit.announce import Announcer, RepeatingAnnouncer
from rcm_netkit.names import RESOURCE_PREFIX, LinkEvent, NetResource
from rcm_netkit.netlink import Address, Link, Netlink, NetlinkError
from rcm_netkit.sysctl import prepare_member, set_conf

from rcm import hookimpl
from rcm.context import HandlerContext
from rcm.failpoints import failpoint
from rcm.model import Event, Impact, Veto

from . import reload as reloading
from . import state as states
from .config import IPInterface, IpmpConfig, load_config
from .messages import (
    all_failed,
    config_summary,
    failed_back,
    failed_over,
    group_repaired,
    in_order,
    listed,
    moved_messages,
    nic_failure,
    nic_repair,
)
from .placement import Plan, failover_messages, failover_report, plan_group
from .probing import PROBE, SOURCE, STABLE, Prober, probe_configs

OFFLINE_IN_PLACE = "offline"  # ctx.operation_action of if_mpadm -d (and its rollback)
ONLINE_IN_PLACE = "online"  # ... of if_mpadm -r

CARRIER_WAIT = 3.0  # seconds a NIC just brought up may take to show carrier
FLAP_WINDOW = 60.0  # seconds: a link that came back up more than
FLAP_LIMIT = 2  # this often within the window is held until stable


def test_address_cidr(address: IPInterface) -> str:
    """How a test address is plumbed: as a host address (/32, /128), whatever
    prefix the file gives.  IPv4: so it is never the primary address of the
    data addresses' subnet nor the source of a connected route.  IPv6: so it
    does not keep the NIC's prefix route alive once its data addresses have
    left (the kernel keeps a prefix route while another permanent address of
    that prefix is on the NIC).  docs/ipmp.md has the measurements."""
    return f"{address.ip}/{address.max_prefixlen}"


@dataclass
class World:
    """One observation of the host namespace, indexed by IP address (a group
    may hold thousands: every lookup must be O(1))."""

    links: dict[str, Link]
    addrs: dict[str, list[Address]] = field(default_factory=lambda: defaultdict(list))
    by_ip: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, list[str]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, addr: Address) -> None:
        self.addrs[addr.ifname].append(addr)
        self.by_ip[ip_of(addr)].append(addr.ifname)

    def where(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
        return sorted(self.by_ip.get(ip, ()))


_IPS: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address] = {}


def ip_of(addr: Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The kernel's address text parsed, remembered: every observation sees the
    same thousands of addresses again, and parsing them is most of building a
    World (~5 ms per 1000)."""
    ip = _IPS.get(addr.address)
    if ip is None:
        if len(_IPS) > 100_000:
            _IPS.clear()
        ip = _IPS[addr.address] = ipaddress.ip_address(addr.address)
    return ip


def _ifname(resource: str) -> str | None:
    """The NIC a resource names, or None: not ours to answer for."""
    nic = NetResource.parse(resource)
    return nic.ifname if nic is not None else None


def _growing(
    items: list[IPInterface], first: int = 64, factor: int = 16
) -> list[list[IPInterface]]:
    """``items`` cut into batches of 64, 1024, 16384 ... (the last one shorter):
    few batches, since each add call is one more exchange with the kernel."""
    batches, start, size = [], 0, first
    while start < len(items):
        batches.append(items[start : start + size])
        start += size
        size *= factor
    return batches


def _log_moves(ctx: HandlerContext, plan: Plan) -> None:
    """One log line per (from, to) pair with the addresses it moved; a line
    per address (1000 in a large group) cost ~25 ms of formatting."""
    pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for move in plan.moves:
        pairs[(move.src or "(nowhere)", move.dst)].append(str(move.address))
    for (src, dst), moved in pairs.items():
        shown = ", ".join(moved[:5]) + (f" and {len(moved) - 5} more" if len(moved) > 5 else "")
        ctx.log.info(
            "%s -> %s: %d address%s: %s",
            src,
            dst,
            len(moved),
            "" if len(moved) == 1 else "es",
            shown,
        )


def _errors_line(errors: dict[str, str], shown: int = 3) -> str:
    """Netlink errors in one line: the first few, and how many more."""
    lines = list(errors.values())
    more = f"; and {len(lines) - shown} more" if len(lines) > shown else ""
    return "; ".join(lines[:shown]) + more


class IpmpHandler:
    def __init__(self) -> None:
        self.config = IpmpConfig()
        self._local = threading.local()
        self._usable_seen: dict[str, bool] = {}
        self._macs: dict[str, str] = {}
        self.prober = Prober()
        self.probe_failed: set[str] = set()
        """Members failed by probes (the handler's view: updated on its thread)."""
        self.flapping: set[str] = set()
        """Members whose link flapped and has not been up for the detection time."""
        self._ups: dict[str, deque[float]] = defaultdict(deque)
        self._hold_token: dict[str, str] = {}
        self._link_seen: dict[str, bool] = {}

    # -- kernel access (per thread: the handler's own) ---------------------------
    def _nl(self) -> Netlink:
        nl = getattr(self._local, "nl", None)
        if nl is None:
            nl = self._local.nl = Netlink()
        return nl

    def _announcer(self) -> Announcer:
        a = getattr(self._local, "announcer", None)
        if a is None:
            a = self._local.announcer = Announcer()
        return a

    def _announcements(self) -> RepeatingAnnouncer:
        """The announcer with each group's repeats (announce_count, _interval_ms)."""
        r = getattr(self._local, "repeater", None)
        if r is None:
            r = self._local.repeater = RepeatingAnnouncer(self._announcer())
        return r

    def _observe(self) -> World:
        """Links and addresses, read now: one link dump names the addresses."""
        nl = self._nl()
        links = nl.links()
        world = World({link.name: link for link in links if link.name != "lo"})
        for addr in nl.addresses(links=links):
            world.add(addr)
        for name, link in world.links.items():
            self._macs[name] = link.mac
        return world

    def _offline(self, ctx: HandlerContext) -> set[str]:
        """Members that may not host data addresses whatever the kernel says:
        being detached (``offline:``) or out of service (``admin:``)."""
        return self._detaching(ctx) | self._admin(ctx)

    @staticmethod
    def _detaching(ctx: HandlerContext) -> set[str]:
        return {k.split(":", 1)[1] for k, _ in ctx.store.items("offline:")}

    @staticmethod
    def _admin(ctx: HandlerContext) -> set[str]:
        return {k.split(":", 1)[1] for k, _ in ctx.store.items("admin:")}

    def _usable(self, world: World, offline: set[str]) -> set[str]:
        return {
            name
            for name, link in world.links.items()
            if link.up
            and link.carrier
            and name not in offline
            and name not in self.probe_failed
            and name not in self.flapping
        }

    def probe_snapshot(self) -> dict[str, dict[str, object]]:
        """Probe state by member: {"state": ok|failed|disabled|unknown,
        "targets", "sent", "answered", "lost", "rtt_ms" (the last few),
        "test_address"} (docs/ipmp.md)."""
        return self.prober.snapshot()

    def _foreign(self, world: World, name: str) -> list[str]:
        """Global addresses on ``name`` that are not ours: someone else's."""
        return [
            a.cidr
            for a in world.addrs.get(name, [])
            if a.scope == "global" and not self.config.owns(ip_of(a))
        ]

    def _group_here(self, world: World, name: str, group: str) -> list[str]:
        """Data addresses of ``group`` that ``name`` hosts now."""
        mine = {a.ip for a, _home in self.config.data_addresses(group)}
        return [a.cidr for a in world.addrs.get(name, []) if ip_of(a) in mine]

    # -- acting ------------------------------------------------------------------
    def _setup(self, name: str, world: World) -> bool:
        """Plumb a configured NIC as its interface file says (boot or reattach).

        Returns whether it changed the link (brought it up, added an
        address): only then is ``world`` stale and worth reading again (with
        10,000 addresses a read is a dump of all of them)."""
        nic = self.config.interfaces.get(name)
        link = world.links.get(name)
        if nic is None or link is None:
            return False
        nl = self._nl()
        changed = False
        if nic.group:
            prepare_member(name)
        if not link.up:
            nl.set_link_up(name, True)
            changed = True
        if nic.group and nic.test_addresses:
            # Probe replies arrive on the member that sent the probe, while the
            # route back to the target may leave by another member: strict
            # reverse-path filtering (rp_filter=1, some distributions' default)
            # drops them and fails a healthy NIC.  Loose (2) keeps the check
            # (the kernel uses the larger of "all" and the NIC's value).
            set_conf(name, 4, "rp_filter", 2)
        have = {a.cidr for a in world.addrs.get(name, [])}
        for address in nic.test_addresses:  # stationary, never a source for data
            cidr = test_address_cidr(address)
            if cidr not in have:
                nl.add_deprecated_address(name, cidr)
                changed = True
        missing = [] if nic.group else [str(a) for a in nic.addresses if str(a) not in have]
        if missing:  # no group: they simply live here
            errors = nl.add_addresses(name, missing, index=link.index)
            if errors:
                raise NetlinkError("; ".join(errors.values()))
            changed = True
        return changed

    def _wait_for_carrier(self, names: list[str]) -> None:
        deadline = time.monotonic() + CARRIER_WAIT
        nl = self._nl()
        pending = list(names)
        while pending and time.monotonic() < deadline:
            pending = [
                n for n in pending if (lk := nl.link(n)) is not None and lk.up and not lk.carrier
            ]
            if pending:
                time.sleep(0.05)

    def _reconcile_group(
        self,
        ctx: HandlerContext,
        group: str,
        world: World,
        offline: set[str],
        verify: bool = False,
    ) -> tuple[Plan, set[str]]:
        """Move the group's data addresses to where the plan says; returns the
        plan and the usable set it was made for.

        Copies an interrupted move left (an address on two members) are
        deleted in the same calls as the moves' sources; then, or with
        ``verify``, the kernel is read again to check the result
        (:meth:`_verify`)."""
        plan, usable, extras, hosted = self._plan(group, world, offline)
        # Every copy goes, also of an address that moves: the kept one is on
        # ``best`` (the move's source), never on the move's destination.
        copies: dict[str, list[IPInterface]] = defaultdict(list)
        for name, address in extras:
            copies[name].append(address)
        self._apply(plan, world, copies, group)
        _log_moves(ctx, plan)
        if copies:
            n = sum(len(c) for c in copies.values())
            ctx.log.info(
                "IPMP group %s: removed %d cop%s left by an interrupted move from %s",
                group,
                n,
                "y" if n == 1 else "ies",
                ", ".join(sorted(copies)),
            )
        if copies or verify:
            self._verify(ctx, group, plan, hosted)
        return plan, usable

    def _plan(
        self, group: str, world: World, offline: set[str]
    ) -> tuple[
        Plan,
        set[str],
        list[tuple[str, IPInterface]],
        dict[ipaddress.IPv4Interface | ipaddress.IPv6Interface, str],
    ]:
        """Where the group's data addresses should be (nothing applied): the
        plan, the usable members, the extra copies an interrupted move left,
        as (ifname, address), and where each address is kept now."""
        members = {nic.name for nic in self.config.members(group)}
        usable = self._usable(world, offline) & members
        hosted: dict[ipaddress.IPv4Interface | ipaddress.IPv6Interface, str] = {}
        # Copies left by an interrupted move: (ifname, address) of each extra one.
        extras: list[tuple[str, IPInterface]] = []
        for address, home in self.config.data_addresses(group):
            on = world.by_ip.get(address.ip)
            if not on:
                continue
            if len(on) == 1:  # the usual case: on one NIC, nothing to choose
                if on[0] in members:
                    hosted[address] = on[0]
                continue
            where = [n for n in sorted(on) if n in members]
            if not where:
                continue
            best = sorted(where, key=lambda n: (n not in usable, n != home, n))[0]
            hosted[address] = best
            extras += [(n, address) for n in where if n != best]
        return plan_group(self.config, group, usable, hosted), usable, extras, hosted

    def _verify(
        self,
        ctx: HandlerContext,
        group: str,
        plan: Plan,
        hosted: dict[ipaddress.IPv4Interface | ipaddress.IPv6Interface, str],
    ) -> None:
        """Read the kernel again (one dump) and check that each of ``group``'s
        data addresses is on exactly the NIC the plan left it on; raise with
        what is where if not.

        Called after removing copies of an interrupted move (a recovery):
        so that rcm says "restored" for a state the kernel showed, never for
        one it only meant to reach.  The ordinary moves need no second look:
        the kernel acknowledges each add and delete (an error raises)."""
        target = {a.ip: n for a, n in hosted.items()}
        for move in plan.moves:
            target[move.address.ip] = move.dst
        unhosted = {u.address.ip for u in plan.unhosted}
        world = self._local.verified = self._observe()
        members = {nic.name for nic in self.config.members(group)}
        wrong: dict[str, int] = defaultdict(int)
        example: dict[str, str] = {}
        total = 0
        for address, _home in self.config.data_addresses(group):
            if address.ip in unhosted:
                continue
            total += 1
            on = sorted(n for n in world.by_ip.get(address.ip, ()) if n in members)
            want = target.get(address.ip)
            if on == [want]:
                continue
            key = "on no member" if not on else "on " + " and ".join(on)
            wrong[key] += 1
            example.setdefault(key, str(address))
        if not wrong:
            ctx.log.info(
                "IPMP group %s: verified: each of %d data addresses on one member", group, total
            )
            return
        bad = sum(wrong.values())
        where = "; ".join(f"{n} {k} (e.g. {example[k]})" for k, n in sorted(wrong.items()))
        raise NetlinkError(
            f"IPMP group {group}: {bad} of {total} data addresses are not where they belong"
            f" after removing an interrupted move's copies: {where}"
        )

    def _apply(
        self,
        plan: Plan,
        world: World,
        copies: dict[str, list[IPInterface]] | None = None,
        group: str | None = None,
    ) -> None:
        """Add on the new NIC, announce, then delete from the old: the address
        is never absent, and peers learn the new MAC before the old NIC lets go.

        Added and announced in growing batches (64, 1024 ... addresses): in
        a failover every millisecond before the announcement is lost
        traffic, and the first addresses are announced after ~2 ms instead
        of after all of them are added (~35 ms for 1000).  The links'
        indexes and the delete order come from ``world``, read in this
        same step (no lookups, no second address dump).  Serial on
        purpose: announcing on a thread beside the deletes was measured
        (docs/performance.md) and gained nothing that shows through the
        noise, since building the frames and encoding the
        deletes both need the interpreter.

        ``copies``: NIC -> addresses it holds that another member holds too
        (an interrupted move's leftovers), deleted with the moves' sources in
        one call per NIC: in the kernel's reverse order, so secondaries go
        before their primary and no delete makes the kernel promote one."""
        nl = self._nl()
        settings = self.config.groups.get(group) if group else None
        count = settings.announce_count if settings else 1
        interval = settings.announce_interval_ms / 1000 if settings else 0.2
        by_dst: dict[str, list[IPInterface]] = defaultdict(list)
        by_src: dict[str, list[IPInterface]] = defaultdict(list)
        for move in plan.moves:
            by_dst[move.dst].append(move.address)
            if move.src is not None and move.src in world.links:
                by_src[move.src].append(move.address)
        for name, addresses in (copies or {}).items():
            by_src[name].extend(addresses)
        for dst, cidrs in by_dst.items():
            link = world.links[dst]
            for batch in _growing(cidrs):
                errors = nl.add_addresses(dst, batch, index=link.index)
                if errors:
                    raise NetlinkError("; ".join(errors.values()))
                self._announcements().announce(dst, link.mac, batch, count, interval)
        if by_src:
            failpoint("ipmp.move.added")
        for src, cidrs in by_src.items():
            errors = self._delete(nl, world, src, cidrs)
            if errors:
                raise NetlinkError(_errors_line(errors))

    @staticmethod
    def _delete(
        nl: Netlink, world: World, name: str, cidrs: list[IPInterface] | list[str]
    ) -> dict[str, str]:
        """Delete from ``name``, its index and the kernel's address order
        taken from ``world`` (this step's observation) when it has the link."""
        link = world.links.get(name)
        if link is None:
            return nl.del_addresses(name, cidrs)
        return nl.del_addresses(name, cidrs, index=link.index, present=world.addrs.get(name, []))

    def _report(self, ctx: HandlerContext, plan: Plan, usable: set[str]) -> None:
        for line in failover_messages(failover_report(plan, self.config, usable)):
            ctx.message(line)

    def _record_detach(
        self, ctx: HandlerContext, name: str, world: World | None, forced: bool
    ) -> None:
        mac = self._macs.get(name, "")
        group = self.config.group_of(name)
        hosted = self._group_here(world, name, group) if (world and group) else []
        ctx.store.set(
            f"detached:{mac or name}",
            {
                "name": name,
                "mac": mac,
                "group": group,
                "hosted": hosted,
                "forced": forced,
                "time": time.time(),
            },
        )

    def _forget_detach(self, ctx: HandlerContext, name: str, mac: str | None) -> None:
        for key, record in ctx.store.items("detached:"):
            if record.get("name") == name or (mac and record.get("mac") == mac):
                ctx.store.delete(key)

    # -- state (ipmpstat, cfgadm -lv) ---------------------------------------------
    def _probe_snapshot(self) -> dict[str, dict] | None:
        """Probing's view (``probe_snapshot()``), or None while the handler
        has no probing: every member's probe state then reads ``disabled``."""
        snap = getattr(self, "probe_snapshot", None)
        return snap() if callable(snap) else None

    def _states(
        self, ctx: HandlerContext, world: World, snapshot: dict[str, dict] | None
    ) -> dict[str, list[states.MemberState]]:
        links = {n: states.LinkView(lk.up, lk.carrier) for n, lk in world.links.items()}
        hosted_by = {
            nic.name: self._group_here(world, nic.name, group)
            for group in self.config.groups
            for nic in self.config.members(group)
        }
        return states.build_members(
            self.config, links, hosted_by, self._admin(ctx), self._detaching(ctx), snapshot
        )

    def _state_suffix(self, ctx: HandlerContext, world: World, name: str, group: str) -> str:
        members = self._states(ctx, world, self._probe_snapshot()).get(group, [])
        me = next((m for m in members if m.name == name), None)
        if me is None:
            return ""
        return "; " + states.usage_suffix(me, group, states.group_state(members))

    @hookimpl
    def rcm_report(self, ctx: HandlerContext, topic: str) -> dict | None:
        """``ipmp``: groups, members, data addresses and probes (ipmpstat);
        ``ipmp.probes``: probing's counters alone (ipmpstat -p)."""
        if topic == "ipmp.probes":  # ipmpstat -p polls this: no kernel reads
            return {"probes": self._probe_snapshot() or {}}
        if topic != "ipmp":
            return None
        world = self._observe()
        snapshot = self._probe_snapshot()
        members = self._states(ctx, world, snapshot)
        where = {
            str(address): [n for n in world.where(address.ip) if n in self.config.interfaces]
            for group in self.config.groups
            for address, _home in self.config.data_addresses(group)
        }
        return states.report(self.config, members, where, snapshot)

    # -- live reload ---------------------------------------------------------------
    @hookimpl
    def rcm_reload_prepare(self, ctx: HandlerContext) -> IpmpConfig:
        return load_config(ctx.config_dir)  # ConfigError: refused, nothing changes

    @hookimpl
    def rcm_reload_commit(self, ctx: HandlerContext, prepared: IpmpConfig) -> str:
        """Apply only the difference: addresses no file lists any more are
        deleted, new or changed NICs are plumbed as their files say, and every
        group is reconciled, which moves only what the plan says must move
        (an address already where it belongs stays: same kernel object)."""
        old, new = self.config, prepared
        world = self._observe()
        self.config = new
        dropped = reloading.dropped_addresses(old, new)
        if dropped:
            nl = self._nl()
            for name, addrs in world.addrs.items():
                gone = [a.cidr for a in addrs if ip_of(a) in dropped]
                if gone:
                    self._delete(nl, world, name, gone)
        changed = [n for n in reloading.changed_interfaces(old, new) if n in world.links]
        for name in changed:
            self._setup(name, world)
        if changed:
            self._wait_for_carrier(changed)
        world = self._observe()
        offline = self._offline(ctx)
        moved = 0
        for group in sorted(new.groups):
            plan, usable = self._reconcile_group(ctx, group, world, offline)
            for nic in new.members(group):
                self._usable_seen[nic.name] = nic.name in usable
            moved += len(plan.moves)
            if plan.moves:
                world = self._observe()
        self.prober.configure(probe_configs(new))  # a new detection time, test address...
        line = reloading.summary(old, new)
        if moved:
            line += f"; {moved} data address{'' if moved == 1 else 'es'} placed"
        return line

    # -- hooks -------------------------------------------------------------------
    @hookimpl
    def rcm_configure(self, ctx: HandlerContext) -> str:
        # Probing starts once rcm_reconcile has plumbed the members: before
        # that a test address may be there while the route its replies come
        # back by (a data address's subnet) is not, and with rp_filter=2 a
        # 100 ms member "failed" in 71 ms of a start that takes seconds with
        # 100 NICs (bench/bench_probe.py: every member failed once at start).
        self.config = load_config(ctx.config_dir)
        return config_summary(self.config, ctx.config_dir)

    @hookimpl
    def rcm_event_sources(self, ctx: HandlerContext) -> list[Prober]:
        return [self.prober]

    @hookimpl
    def rcm_register(self, ctx: HandlerContext) -> list[str]:
        # Every NIC (a NIC in no group that carries addresses is vetoed too),
        # and each configured NIC by name: present or not, it is expected (the
        # net plugin shows an absent one as an empty receptacle).
        configured = [str(NetResource(n)) for n in sorted(self.config.interfaces)]
        return [RESOURCE_PREFIX + "*", *configured]

    @hookimpl
    def rcm_get_info(self, ctx: HandlerContext, resource: str) -> str | None:
        name = _ifname(resource)
        if name is None:
            return None
        world = self._observe()
        nic = self.config.interfaces.get(name)
        parts = []
        if nic is not None and nic.group:
            if name not in world.links:
                where = sorted(
                    {
                        n
                        for a, home in self.config.data_addresses(nic.group)
                        if home == name
                        for n in world.where(a.ip)
                    }
                )
                on = f"; its data addresses are hosted on {', '.join(where)}" if where else ""
                state = self._state_suffix(ctx, world, name, nic.group)
                parts.append(f"{name}: member of IPMP group {nic.group}, not present{on}{state}")
            else:
                here = in_order(self._group_here(world, name, nic.group))
                role = " (standby)" if nic.standby else ""
                state = self._state_suffix(ctx, world, name, nic.group)
                if here:
                    group = f"IPMP group {nic.group}{role}"
                    parts.append(
                        f"{name}: hosts data addresses {', '.join(here)} of {group}{state}"
                    )
                else:
                    parts.append(
                        f"{name}: member of IPMP group {nic.group}{role}, hosts no data"
                        f" addresses{state}"
                    )
        elif nic is not None and nic.addresses:
            configured = ", ".join(in_order(nic.addresses))
            parts.append(f"{name}: configured addresses {configured} (in no IPMP group)")
        foreign = in_order(self._foreign(world, name))
        if foreign:
            parts.append(f"{name}: carries {', '.join(foreign)} (not managed by rcm)")
        return "; ".join(parts) or None

    @hookimpl
    def rcm_request_offline(
        self, ctx: HandlerContext, resource: str, query: bool, force: bool
    ) -> Veto | None:
        name = _ifname(resource)
        if name is None:
            return None
        world = self._observe()
        if ctx.operation_action == OFFLINE_IN_PLACE:
            return self._offline_in_place(ctx, name, world, query)
        if name not in world.links:
            return None  # nothing here to release
        group = self.config.group_of(name)
        if query:
            veto = self._vet(ctx, name, group, world)
            if group:  # what the offline would do (cfgadm --dry-run): the same plan
                plan, _usable, _extras, _hosted = self._plan(
                    group, world, self._offline(ctx) | {name}
                )
                for line in moved_messages(plan, self.config):
                    ctx.plan(line)
                stranded = [u.address for u in plan.unhosted if u.src == name]
                if stranded:
                    ctx.plan(
                        f"{name}: {listed(stranded)} of IPMP group {group} couldn't move;"
                        " no alternative interface"
                    )
            return veto
        ctx.store.set(f"offline:{name}", True)  # durable before acting
        self._record_detach(ctx, name, world, force)
        offline = self._offline(ctx)
        if group:
            plan, usable = self._reconcile_group(ctx, group, world, offline)
            for line in moved_messages(plan, self.config):
                ctx.message(line)
            stranded = [u.address for u in plan.unhosted if u.src == name]
            if stranded:
                ctx.message(
                    f"{name}: {listed(stranded)} of IPMP group {group} couldn't move; no"
                    " alternative interface (recorded: they return with the next member)"
                )
        nic = self.config.interfaces.get(name)
        if nic is not None:
            stationary = [test_address_cidr(a) for a in nic.test_addresses]
            if not nic.group:
                stationary += [str(a) for a in nic.addresses]
            if stationary:
                self._delete(self._nl(), world, name, stationary)
        return None

    # -- out of service in place (if_mpadm) ----------------------------------
    def _offline_in_place(
        self, ctx: HandlerContext, name: str, world: World, query: bool
    ) -> Veto | None:
        """``if_mpadm -d``: the member's data addresses move to the others; it
        stays plumbed and up with its test addresses (probing goes on), and
        the ``admin:`` record, written before anything moves, keeps it out of
        service until ``if_mpadm -r``, across restarts."""
        group = self.config.group_of(name)
        if query:
            if group is None:
                return Veto(f"{name} is not a member of any IPMP group", Impact.SYSTEM)
            if name not in world.links:
                return Veto(f"{name} is not present", Impact.SYSTEM)
            if name in self._admin(ctx):
                return Veto(f"{name} is already offline", Impact.SYSTEM)
            members = {nic.name for nic in self.config.members(group)}
            if not (self._usable(world, self._offline(ctx)) & members) - {name}:
                return Veto(
                    f"minimum redundancy required: {name} is the last working member of"
                    f" IPMP group {group}",
                    Impact.DATA,
                )
            return None
        if group is None:
            return None
        ctx.store.set(f"admin:{name}", {"time": time.time()})  # durable before acting
        plan, _usable = self._reconcile_group(ctx, group, world, self._offline(ctx))
        for line in moved_messages(plan, self.config):
            ctx.message(line)
        return None

    def _vet(self, ctx: HandlerContext, name: str, group: str | None, world: World) -> Veto | None:
        foreign = in_order(self._foreign(world, name))
        if group is None:
            nic = self.config.interfaces.get(name)
            ours = [
                a.cidr for a in world.addrs.get(name, []) if nic and self.config.owns(a.address)
            ]
            carried = in_order(ours + foreign)
            if carried:
                return Veto(
                    f"{name} is in no IPMP group and carries {', '.join(carried)}: detaching it"
                    " takes them off the network",
                    Impact.DATA,
                )
            return None
        members = {nic.name for nic in self.config.members(group)}
        others = (self._usable(world, self._offline(ctx)) & members) - {name}
        if not others:
            here = in_order(self._group_here(world, name, group))
            tail = (
                f"; its data addresses {', '.join(here)} would have nowhere to go" if here else ""
            )
            return Veto(
                f"{name} is the last working member of IPMP group {group}{tail}", Impact.DATA
            )
        if foreign:
            return Veto(
                f"{name} (IPMP group {group}) also carries {', '.join(foreign)}, not managed by"
                " rcm: those would be lost",
                Impact.DATA,
            )
        return None

    @hookimpl
    def rcm_notify_online(self, ctx: HandlerContext, resource: str) -> None:
        name = _ifname(resource)
        if name is None:
            return
        ctx.store.delete(f"offline:{name}")
        if ctx.operation_action in (ONLINE_IN_PLACE, OFFLINE_IN_PLACE):
            # if_mpadm -r, or the rollback of an if_mpadm -d: back in service.
            # Any other online (a reattach) leaves the admin's decision alone.
            ctx.store.delete(f"admin:{name}")
        world = self._observe()
        link = world.links.get(name)
        if link is None:
            return  # still away
        self._forget_detach(ctx, name, link.mac)
        if name in self.config.interfaces and (self._setup(name, world) or not link.carrier):
            self._wait_for_carrier([name])
            world = self._observe()
        group = self.config.group_of(name)
        if group:
            _plan, usable = self._reconcile_group(ctx, group, world, self._offline(ctx))
            self._usable_seen[name] = name in usable

    @hookimpl
    def rcm_notify_remove(self, ctx: HandlerContext, resource: str, surprise: bool) -> None:
        name = _ifname(resource)
        if name is None:
            return
        ctx.store.delete(f"offline:{name}")
        if not surprise:
            return
        self._record_detach(ctx, name, None, forced=False)
        group = self.config.group_of(name)
        if group:
            plan, usable = self._reconcile_group(ctx, group, self._observe(), self._offline(ctx))
            self._report(ctx, plan, usable)

    @hookimpl
    def rcm_notify_event(self, ctx: HandlerContext, event: Event) -> None:
        """Carrier or admin state of a member changed, or its probes say it
        failed or was repaired, or a flapping link held long enough: fail
        over or back (one path for all of them, as for carrier loss)."""
        if event.source == SOURCE:
            self._probe_event(ctx, event)
            return
        link = LinkEvent.from_event(event)
        if link is None:
            return
        name = link.ifname
        group = self.config.group_of(name)
        if not group:
            return
        was_up = self._link_seen.get(name)
        self._link_seen[name] = link.usable
        if link.usable and was_up is False:
            self._note_up(name, group)
        elif not link.usable:
            self.flapping.discard(name)
            self._hold_token.pop(name, None)
        self._member_changed(ctx, name, group)

    def _note_up(self, name: str, group: str) -> None:
        """The link came back: more than FLAP_LIMIT times in FLAP_WINDOW and
        it is held (not usable) until it stays up for the detection time."""
        now = time.monotonic()
        ups = self._ups[name]
        ups.append(now)
        while ups and ups[0] < now - FLAP_WINDOW:
            ups.popleft()
        if len(ups) > FLAP_LIMIT:
            self.flapping.add(name)
            token = f"{now:.6f}"
            self._hold_token[name] = token
            seconds = self.config.groups[group].failure_detection_time_ms / 1000
            self.prober.hold(name, seconds, token)

    def _probe_event(self, ctx: HandlerContext, event: Event) -> None:
        name = event.get("IFNAME")
        group = self.config.group_of(name)
        if not group:
            return
        if event.action == PROBE:
            if event.get("STATE") == "failed":
                self.probe_failed.add(name)
            else:
                self.probe_failed.discard(name)
        elif event.action == STABLE:
            if self._hold_token.get(name) != event.get("TOKEN"):
                return  # the link went down again since: a newer hold counts
            self.flapping.discard(name)
            del self._hold_token[name]
            ctx.log.info("%s: link stable for the detection time; no longer flapping", name)
        else:
            return
        self._member_changed(ctx, name, group)

    def _member_changed(self, ctx: HandlerContext, name: str, group: str) -> None:
        """Reconcile ``group`` if ``name``'s usability changed, with in.mpathd's
        log lines.  A NIC rcm itself is detaching or detached changes quietly
        (no "failure" for a planned detach).

        Whether it changed is read from the kernel now, not from the event
        that brought us here: events queue, so the one handled may be older
        than the link (the "down" of a flap, handled after the "up").  Judged
        by the event, the soak (seed 1, step ~1050) saw a stale "down" record
        nic0 unusable while the world said usable (nothing moved), and then
        the real carrier loss ignored as "no change": nic0 kept its addresses
        with no carrier."""
        world = self._observe()
        link = world.links.get(name)
        usable_now = (
            link is not None
            and link.up
            and link.carrier
            and name not in self.probe_failed
            and name not in self.flapping
        )
        was = self._usable_seen.get(name)
        if was == usable_now:
            return
        members = [nic.name for nic in self.config.members(group)]
        others_usable = any(self._usable_seen.get(n, True) for n in members if n != name)
        self._usable_seen[name] = usable_now
        offline = self._offline(ctx)
        planned = name in offline or any(
            r.get("name") == name for _k, r in ctx.store.items("detached:")
        )
        if not planned:
            if usable_now:
                ctx.log.warning("%s", nic_repair(name, group))
                if not others_usable:
                    ctx.log.warning("%s", group_repaired(name, group))
            else:
                ctx.log.error("%s", nic_failure(name, group))
        plan, usable = self._reconcile_group(ctx, group, world, offline)
        self._report(ctx, plan, usable)
        if planned:
            return
        if not usable_now:
            for dst in sorted({m.dst for m in plan.moves if m.src == name}):
                ctx.log.warning("%s", failed_over(name, dst))
            if not usable:
                ctx.log.error("%s", all_failed(group))
        elif any(m.dst == name for m in plan.moves):
            ctx.log.warning("%s", failed_back(name))

    @hookimpl
    def rcm_reconcile(self, ctx: HandlerContext, reason: str) -> None:
        """At start (boot) plumb every configured NIC that is present, then
        place every group's addresses: a NIC missing at boot has its data
        addresses hosted by another member, as Solaris' boot scripts did.
        Then probing starts (or goes on, after a rescan)."""
        try:
            self._reconcile_all(ctx)
        finally:
            self.prober.configure(probe_configs(self.config))

    def _reconcile_all(self, ctx: HandlerContext) -> None:
        world = self._observe()
        present = [n for n in sorted(self.config.interfaces) if n in world.links]
        changed = [self._setup(name, world) for name in present]
        if any(changed) or not all(world.links[n].carrier for n in present):
            self._wait_for_carrier(present)
            world = self._observe()
        offline = self._offline(ctx)
        failed: list[str] = []
        for group in sorted(self.config.groups):
            try:
                plan, usable = self._reconcile_group(ctx, group, world, offline, verify=True)
            except NetlinkError as e:  # the other groups still get their turn
                failed.append(str(e))
                world = self._observe()
                continue
            for nic in self.config.members(group):
                self._usable_seen[nic.name] = nic.name in usable
            self._report(ctx, plan, usable)
            world = self._local.verified  # read by _verify after this group's changes
        if failed:
            raise NetlinkError("; ".join(failed))
