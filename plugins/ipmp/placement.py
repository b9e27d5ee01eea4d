"""Where each data address of an IPMP group should live: a pure decision.

The handler observes the kernel (which members are usable, which NIC holds
each address), asks :func:`plan_group` what to change, and carries out the
moves (add on the new NIC, announce, delete from the old).  Keeping the
decision pure makes it testable by property -- every address ends on exactly
one usable member, planning again changes nothing -- and keeps it identical
for failures, detaches, attaches and the boot-time "NIC missing" case.

Solaris 10 semantics:

* An address whose home NIC is usable goes home if the group fails back, or
  if it is not on a usable NIC at all; without failback it stays on whatever
  usable member holds it.
* An address whose home is not usable stays on the usable member holding it;
  otherwise it moves to a usable member: standby members first (a standby
  is there to take over from a failed member, as Solaris' in.mpathd
  activates one), then the one holding the fewest of the group's data
  addresses in the resulting placement, then name order.  A standby that
  is not needed hosts nothing: with failback, a repaired member takes its
  addresses back and the standby is idle again.
* With no usable member the address cannot move: it is reported as
  :class:`Unhosted` ("couldn't move; no alternative interface").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .config import IPAddress, IPInterface, IpmpConfig


@dataclass(frozen=True)
class Move:
    """Put ``address`` on ``dst``, taking it off ``src``.

    ``src`` is the NIC that holds the address now according to ``hosted``
    (normally a member of the group; an unusable one when failing over), or
    None when no NIC holds it (e.g. its home was missing at boot): then there
    is nothing to delete.
    """

    address: IPInterface
    src: str | None
    dst: str


@dataclass(frozen=True)
class Unhosted:
    """``address`` (homed on ``home``) has no usable member to live on.

    ``src`` is where it is now (None: nowhere); the handler leaves it there.
    """

    address: IPInterface
    home: str
    src: str | None = None


@dataclass(frozen=True)
class Plan:
    """What to do for one group.  Empty moves: nothing to change."""

    moves: tuple[Move, ...] = ()
    unhosted: tuple[Unhosted, ...] = ()


Hosted = Mapping[IPInterface | IPAddress, str]
"""Where addresses are now: address -> ifname.  Keys are matched by IP alone."""


def _by_ip(hosted: Hosted) -> dict[IPAddress, str]:
    """Index ``hosted`` by bare IP, so a kernel prefix that differs from the
    configured one (or a bare address key) still finds the address."""
    out: dict[IPAddress, str] = {}
    for key, nic in hosted.items():
        ip = key.ip if isinstance(key, ipaddress.IPv4Interface | ipaddress.IPv6Interface) else key
        out[ip] = nic
    return out


def plan_group(
    config: IpmpConfig,
    group: str,
    usable: set[str] | frozenset[str],
    hosted: Hosted,
) -> Plan:
    """Decide where each data address of ``group`` should be.

    ``usable``: NICs that may host data addresses now (present, up, carrier
    on, not being taken offline); names that are not members of ``group`` are
    ignored.  ``hosted``: where each address is now; an address absent from
    it is on no NIC.  Entries for other groups' addresses are ignored: a plan
    only ever moves this group's addresses, and only onto usable members.

    Deterministic: addresses are considered in home-name then file order, and
    ties are broken by name.  Idempotent: applying the moves to ``hosted`` and
    planning again yields no moves.

    Raises KeyError if ``group`` is not declared.
    """
    failback = config.groups[group].failback
    members = config.members(group)
    candidates = sorted(nic.name for nic in members if nic.name in usable)
    where = _by_ip(hosted)
    addresses = config.data_addresses(group)
    if not candidates:
        return _nowhere_to_go(addresses, where)
    target, homeless = _settled(addresses, where, set(candidates), failback)
    standby = {nic.name for nic in members if nic.standby}
    _place_homeless(homeless, target, candidates, standby)
    return Plan(moves=_moves(addresses, where, target))


Placed = list[tuple[IPInterface, str]]
"""Data addresses with a NIC: their home, or the NIC they are to move to."""


def _nowhere_to_go(addresses: Placed, where: Mapping[IPAddress, str]) -> Plan:
    """No member is usable: every address stays where it is, unhosted."""
    return Plan(
        unhosted=tuple(Unhosted(address=a, home=home, src=where.get(a.ip)) for a, home in addresses)
    )


def _settled(
    addresses: Placed, where: Mapping[IPAddress, str], usable: set[str], failback: bool
) -> tuple[dict[IPAddress, str], list[IPInterface]]:
    """Where each address goes without a choice to make, and the homeless rest.

    An address goes home if its home is usable and the group fails back (or
    it is on no usable NIC); otherwise it stays on the usable member holding
    it.  One with neither is homeless: it needs a new NIC.
    """
    target: dict[IPAddress, str] = {}
    homeless: list[IPInterface] = []
    for a, home in addresses:
        now = where.get(a.ip)
        if home in usable and (failback or now not in usable):
            target[a.ip] = home
        elif now in usable:
            target[a.ip] = now
        else:
            homeless.append(a)
    return target, homeless


def _place_homeless(
    homeless: list[IPInterface],
    target: dict[IPAddress, str],
    candidates: list[str],
    standby: set[str],
) -> None:
    """Give each homeless address a NIC, adding it to ``target``: standby
    members first, then the least loaded, then name order.

    One at a time, so that each choice sees the previous ones: the addresses
    of one failed NIC spread over the survivors.
    """
    load = {nic: 0 for nic in candidates}
    for nic in target.values():
        load[nic] += 1
    for a in homeless:
        dst = min(candidates, key=lambda nic: (nic not in standby, load[nic], nic))
        target[a.ip] = dst
        load[dst] += 1


def _moves(
    addresses: Placed, where: Mapping[IPAddress, str], target: Mapping[IPAddress, str]
) -> tuple[Move, ...]:
    """A move for every address whose target is not where it is now."""
    return tuple(
        Move(address=a, src=where.get(a.ip), dst=target[a.ip])
        for a, _home in addresses
        if where.get(a.ip) != target[a.ip]
    )


def apply_plan(plan: Plan, hosted: Hosted) -> dict[IPAddress, str]:
    """``hosted`` (indexed by IP) as it is after the plan's moves: for tests
    and for a handler that wants to predict the result before acting."""
    after = _by_ip(hosted)
    for move in plan.moves:
        after[move.address.ip] = move.dst
    return after


# -- what the admin is told -------------------------------------------------------

FailoverReport = Mapping[str, Iterable[tuple[IPInterface, str | None]]]
"""Failed ifname -> each of its addresses with the NIC it moved to, or None
if it could not move."""


def failover_report(
    plan: Plan, config: IpmpConfig, usable: set[str] | frozenset[str]
) -> dict[str, list[tuple[IPInterface, str | None]]]:
    """The part of ``plan`` that is a failover, grouped by failed NIC.

    A move counts when the NIC it leaves is not usable (it leaves a failed,
    missing or departing NIC); its failed NIC is ``src``, or the address's home
    when it is on no NIC (a NIC missing at boot).  Failback moves leave a
    usable NIC and are not failovers.  Every :class:`Unhosted` counts, under
    the NIC it sits on, or its home.  Feed the result to
    :func:`failover_messages`.
    """
    report: dict[str, list[tuple[IPInterface, str | None]]] = {}
    for move in plan.moves:
        failed = move.src if move.src is not None else config.home_of(move.address)
        if failed is None or failed in usable:
            continue
        report.setdefault(failed, []).append((move.address, move.dst))
    for u in plan.unhosted:
        failed = u.src if u.src is not None else u.home
        report.setdefault(failed, []).append((u.address, None))
    return report


NO_ALTERNATIVE = "couldn't move; no alternative interface"


def failover_messages(report: FailoverReport) -> list[str]:
    """The lines Solaris printed when addresses left failed NICs.

    ``report`` maps each failed ifname to ``(address, dst)`` pairs, ``dst``
    being the NIC the address moved to or None if it could not move (see
    :func:`failover_report`).  One line per address family that has any
    address, IPv4 first::

        moving addresses from failed IPv4 interfaces: nic0 (moved to nic1)
        moving addresses from failed IPv6 interfaces: nic0 (couldn't move; no alternative interface)

    Several failed NICs are listed in name order, joined by ", ".  Solaris
    moved all of a NIC's addresses to one NIC; ours may spread them, so a NIC
    whose addresses went to several NICs appears once per destination
    (``nic0 (moved to nic1), nic0 (moved to nic2)``, destinations in name
    order), followed by a "couldn't move" entry if some could not move.
    """
    pairs = {failed: list(items) for failed, items in report.items()}  # iterated twice
    lines = []
    for version, family in ((4, "IPv4"), (6, "IPv6")):
        entries = []
        for failed in sorted(pairs):
            dsts = {dst for a, dst in pairs[failed] if a.version == version}
            if not dsts:
                continue
            for dst in sorted(d for d in dsts if d is not None):
                entries.append(f"{failed} (moved to {dst})")
            if None in dsts:
                entries.append(f"{failed} ({NO_ALTERNATIVE})")
        if entries:
            lines.append(f"moving addresses from failed {family} interfaces: " + ", ".join(entries))
    return lines
