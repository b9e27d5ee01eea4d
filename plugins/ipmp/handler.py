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
from collections import defaultdict
from dataclasses import dataclass, field

from rcm_netkit.announce import Announcer, RepeatingAnnouncer
from rcm_netkit.names import RESOURCE_PREFIX, LinkEvent, NetResource
from rcm_netkit.netlink import Address, Link, Netlink, NetlinkError
from rcm_netkit.sysctl import prepare_member

from rcm import hookimpl
from rcm.context import HandlerContext
from rcm.model import Event, Impact, Veto

from . import reload as reloading
from . import state as states
from .config import IPInterface, IpmpConfig, load_config
from .messages import config_summary, in_order, listed, moved_messages
from .placement import Plan, failover_messages, failover_report, plan_group

OFFLINE_IN_PLACE = "offline"  # ctx.operation_action of if_mpadm -d (and its rollback)
ONLINE_IN_PLACE = "online"  # ... of if_mpadm -r

CARRIER_WAIT = 3.0  # seconds a NIC just brought up may take to show carrier


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


class IpmpHandler:
    def __init__(self) -> None:
        self.config = IpmpConfig()
        self._local = threading.local()
        self._usable_seen: dict[str, bool] = {}
        self._macs: dict[str, str] = {}

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
            if link.up and link.carrier and name not in offline
        }

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
    def _setup(self, name: str, world: World) -> None:
        """Plumb a configured NIC as its interface file says (boot or reattach)."""
        nic = self.config.interfaces.get(name)
        link = world.links.get(name)
        if nic is None or link is None:
            return
        nl = self._nl()
        if nic.group:
            prepare_member(name)
        if not link.up:
            nl.set_link_up(name, True)
        wanted = [str(a) for a in nic.test_addresses]
        if not nic.group:
            wanted += [str(a) for a in nic.addresses]  # no group: they simply live here
        if wanted:
            errors = nl.add_addresses(name, wanted)
            if errors:
                raise NetlinkError("; ".join(errors.values()))

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
        self, ctx: HandlerContext, group: str, world: World, offline: set[str]
    ) -> tuple[Plan, set[str]]:
        """Move the group's data addresses to where the plan says; returns the
        plan and the usable set it was made for."""
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
        plan = plan_group(self.config, group, usable, hosted)
        self._apply(plan, world, group)
        moving = {m.address.ip for m in plan.moves}
        leftovers: dict[str, list[IPInterface]] = defaultdict(list)
        for name, address in extras:
            if address.ip not in moving:
                leftovers[name].append(address)
        nl = self._nl()
        for name, addresses in leftovers.items():  # one call per NIC
            self._delete(nl, world, name, addresses)
        _log_moves(ctx, plan)
        return plan, usable

    def _apply(self, plan: Plan, world: World, group: str | None = None) -> None:
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
        deletes both need the interpreter."""
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
        for dst, cidrs in by_dst.items():
            link = world.links[dst]
            for batch in _growing(cidrs):
                errors = nl.add_addresses(dst, batch, index=link.index)
                if errors:
                    raise NetlinkError("; ".join(errors.values()))
                self._announcements().announce(dst, link.mac, batch, count, interval)
        for src, cidrs in by_src.items():
            errors = self._delete(nl, world, src, cidrs)
            if errors:
                raise NetlinkError("; ".join(errors.values()))

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
        line = reloading.summary(old, new)
        if moved:
            line += f"; {moved} data address{'' if moved == 1 else 'es'} placed"
        return line

    # -- hooks -------------------------------------------------------------------
    @hookimpl
    def rcm_configure(self, ctx: HandlerContext) -> str:
        self.config = load_config(ctx.config_dir)
        return config_summary(self.config, ctx.config_dir)

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
            return self._vet(ctx, name, group, world)
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
            stationary = [str(a) for a in nic.test_addresses]
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
        if name in self.config.interfaces:
            self._setup(name, world)
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
        """Carrier or admin state of a member changed: fail over or back."""
        link = LinkEvent.from_event(event)
        if link is None:
            return
        name = link.ifname
        group = self.config.group_of(name)
        if not group:
            return
        usable_now = link.usable
        if self._usable_seen.get(name) == usable_now:
            return
        self._usable_seen[name] = usable_now
        plan, usable = self._reconcile_group(ctx, group, self._observe(), self._offline(ctx))
        self._report(ctx, plan, usable)

    @hookimpl
    def rcm_reconcile(self, ctx: HandlerContext, reason: str) -> None:
        """At start (boot) plumb every configured NIC that is present, then
        place every group's addresses: a NIC missing at boot has its data
        addresses hosted by another member, as Solaris' boot scripts did."""
        world = self._observe()
        present = [n for n in sorted(self.config.interfaces) if n in world.links]
        for name in present:
            self._setup(name, world)
        self._wait_for_carrier(present)
        world = self._observe()
        offline = self._offline(ctx)
        for group in sorted(self.config.groups):
            plan, usable = self._reconcile_group(ctx, group, world, offline)
            for nic in self.config.members(group):
                self._usable_seen[nic.name] = nic.name in usable
            self._report(ctx, plan, usable)
            world = self._observe() if plan.moves else world
