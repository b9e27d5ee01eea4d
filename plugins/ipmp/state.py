"""What every IPMP group and member is doing now: a pure reading of one observation.

The handler observes the kernel (links, addresses), knows which members rcm
holds out of service (``admin:`` records: ``if_mpadm -d``; ``offline:``: a
detach in flight) and what probing says, and this module turns that into the
states an admin reads in ``ipmpstat`` and ``cfgadm -lv``:

- a **member** is ``ok``; ``standby`` (a standby hosting nothing: ready to
  take over); ``failed`` (why: ``missing``, ``down``, ``link``, ``probes``);
  or ``offline`` (why: ``admin`` for if_mpadm, ``detach`` while rcm takes it
  away).  ``ok`` and ``standby`` members are usable: they may host data
  addresses.
- a **group** is ``ok`` (every member usable), ``degraded`` (some member
  failed or offline, some usable) or ``failed`` (none usable: its data
  addresses have nowhere to live).

Only the ``admin:`` records are persisted (the kernel cannot hold "out of
service on purpose"); every other state is read afresh from the kernel.  The
report is plain data (it travels as JSON to ``ipmpstat``, which must not
import this package's dependencies).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import IpmpConfig
from .messages import in_order

PROBE_STATES = ("ok", "failed", "disabled", "unknown")


@dataclass(frozen=True)
class LinkView:
    """What the report needs of a link: present, admin up, carrier."""

    up: bool
    carrier: bool


@dataclass
class MemberState:
    name: str
    group: str
    state: str  # ok | standby | failed | offline
    why: str | None  # missing | down | link | probes | admin | detach
    standby: bool
    present: bool
    link: str  # up | down | unknown
    probe: str  # ok | failed | disabled | unknown
    active: bool  # hosts data addresses, or would (a usable non-standby member)
    hosted: list[str] = field(default_factory=list)
    test_addresses: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.state in ("ok", "standby")

    @property
    def described(self) -> str:
        """``offline (admin)``, ``failed (link)``, ``ok`` …"""
        return f"{self.state} ({self.why})" if self.why else self.state


def member_state(
    name: str,
    group: str,
    standby: bool,
    link: LinkView | None,
    hosted: list[str],
    admin: bool,
    detaching: bool,
    probe: str,
) -> tuple[str, str | None]:
    """``(state, why)`` of one member; the first reason that applies wins,
    in the order an admin acts on them (their own decision first)."""
    if admin:
        return "offline", "admin"
    if detaching:
        return "offline", "detach"
    if link is None:
        return "failed", "missing"
    if not link.up:
        return "failed", "down"
    if not link.carrier:
        return "failed", "link"
    if probe == "failed":
        return "failed", "probes"
    if standby and not hosted:
        return "standby", None
    return "ok", None


def group_state(members: list[MemberState]) -> str:
    """ok, degraded or failed (see the module's docstring)."""
    usable = [m for m in members if m.usable]
    if not usable:
        return "failed"
    return "ok" if len(usable) == len(members) else "degraded"


def _probe_of(snapshot: Mapping[str, Mapping[str, Any]] | None, name: str) -> str:
    """A member's probe state from probing's snapshot; ``disabled`` without one."""
    if snapshot is None:
        return "disabled"
    entry = snapshot.get(name)
    if entry is None:
        return "disabled"
    state = str(entry.get("state", "unknown"))
    return state if state in PROBE_STATES else "unknown"


def build_members(
    config: IpmpConfig,
    links: Mapping[str, LinkView],
    hosted_by: Mapping[str, list[str]],
    admin: set[str],
    detaching: set[str],
    snapshot: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, list[MemberState]]:
    """Every group's members (by name), each with its state.

    ``hosted_by``: ifname -> the data addresses of its group that it holds
    now.  ``snapshot``: probing's ``probe_snapshot()``, or None when probing
    is not there.
    """
    groups: dict[str, list[MemberState]] = {g: [] for g in sorted(config.groups)}
    for group in groups:
        for nic in config.members(group):
            link = links.get(nic.name)
            hosted = in_order(hosted_by.get(nic.name, []))
            probe = _probe_of(snapshot, nic.name) if link is not None else "unknown"
            state, why = member_state(
                nic.name,
                group,
                nic.standby,
                link,
                hosted,
                nic.name in admin,
                nic.name in detaching,
                probe,
            )
            if link is None:
                shown_link = "unknown"
            else:
                shown_link = "up" if link.up and link.carrier else "down"
            usable = state in ("ok", "standby")
            groups[group].append(
                MemberState(
                    name=nic.name,
                    group=group,
                    state=state,
                    why=why,
                    standby=nic.standby,
                    present=link is not None,
                    link=shown_link,
                    probe=probe,
                    active=bool(hosted) if nic.standby else (usable or bool(hosted)),
                    hosted=hosted,
                    test_addresses=[str(a) for a in nic.test_addresses],
                )
            )
    return groups


def report(
    config: IpmpConfig,
    members: Mapping[str, list[MemberState]],
    where: Mapping[str, list[str]],
    snapshot: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """The ``ipmp`` report ipmpstat renders (plain data; see docs/ipmpstat.md).

    ``where``: each data address (``addr/prefix``, as configured) -> the
    member NICs holding it now (normally one; none if it has nowhere to live).
    """
    groups = []
    for name, ms in members.items():
        cfg = config.groups[name]
        probing = any(m.probe not in ("disabled", "unknown") for m in ms)
        fdt = getattr(cfg, "failure_detection_time_ms", None)
        groups.append(
            {
                "name": name,
                "state": group_state(ms),
                "failback": cfg.failback,
                "fdt_ms": fdt if probing else None,
                "announce_count": cfg.announce_count,
                "announce_interval_ms": cfg.announce_interval_ms,
                "active": [m.name for m in ms if m.usable and m.active],
                "inactive": [m.name for m in ms if m.usable and not m.active],
                "unusable": [m.name for m in ms if not m.usable],
            }
        )
    interfaces = [asdict(m) for ms in members.values() for m in ms]
    addresses = []
    for group in members:
        for address, home in config.data_addresses(group):
            on = where.get(str(address), [])
            addresses.append(
                {
                    "address": str(address),
                    "group": group,
                    "home": home,
                    "on": on[0] if on else None,
                    "copies": on[1:],
                    "state": "up" if on else "down",
                }
            )
    probes = {n: dict(v) for n, v in (snapshot or {}).items()}
    return {"groups": groups, "interfaces": interfaces, "addresses": addresses, "probes": probes}


def usage_suffix(member: MemberState, group: str, state_of_group: str) -> str:
    """What ``cfgadm -lv`` adds to a member's usage line: ``state ok, group ok``."""
    return f"state {member.described}, group {group} {state_of_group}"
