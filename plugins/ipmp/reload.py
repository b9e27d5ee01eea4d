"""What a live reload changes: the difference between two IPMP configurations.

The handler applies a new configuration by reconciling with it (only what the
plan says moves); this module says, in one line, what changed, and which
addresses the handler owned before and owns no longer (those it deletes).
Pure, so that the summary ``rcmd reload`` prints is testable without a lab.
"""

from __future__ import annotations

from dataclasses import fields

from .config import IPAddress, IpmpConfig
from .messages import listed


def dropped_addresses(old: IpmpConfig, new: IpmpConfig) -> set[IPAddress]:
    """Data and test addresses the old configuration owned and the new does not."""
    return {
        a.ip
        for nic in old.interfaces.values()
        for a in (*nic.addresses, *nic.test_addresses)
        if not new.owns(a.ip)
    }


def changed_interfaces(old: IpmpConfig, new: IpmpConfig) -> list[str]:
    """NICs whose file is new or says something else now (to plumb again)."""
    return sorted(n for n, nic in new.interfaces.items() if old.interfaces.get(n) != nic)


def summary(old: IpmpConfig, new: IpmpConfig) -> str:
    """One line: what the reload changed, e.g. ``added nic2 (group g); nic0:
    data addresses +192.0.2.12/24; group g: announce_count 3 -> 5``."""
    parts: list[str] = []
    for name in sorted(set(old.groups) | set(new.groups)):
        if name not in old.groups:
            parts.append(f"added group {name}")
        elif name not in new.groups:
            parts.append(f"removed group {name}")
        else:
            a, b = old.groups[name], new.groups[name]
            diffs = [
                f"{f.name} {getattr(a, f.name)!s} -> {getattr(b, f.name)!s}".replace(
                    "True", "true"
                ).replace("False", "false")
                for f in fields(a)
                if f.name != "name" and getattr(a, f.name) != getattr(b, f.name)
            ]
            if diffs:
                parts.append(f"group {name}: {', '.join(diffs)}")
    for name in sorted(set(old.interfaces) | set(new.interfaces)):
        a_nic, b_nic = old.interfaces.get(name), new.interfaces.get(name)
        if a_nic is None and b_nic is not None:
            where = f" (group {b_nic.group})" if b_nic.group else ""
            parts.append(f"added {name}{where}")
            continue
        if b_nic is None:
            parts.append(f"removed {name}")
            continue
        assert a_nic is not None
        changes = []
        if a_nic.group != b_nic.group:
            changes.append(f"group {a_nic.group or '(none)'} -> {b_nic.group or '(none)'}")
        if a_nic.standby != b_nic.standby:
            changes.append(f"standby {str(b_nic.standby).lower()}")
        for key, label in (("addresses", "data"), ("test_addresses", "test")):
            before, after = set(getattr(a_nic, key)), set(getattr(b_nic, key))
            if after - before or before - after:
                delta = []
                if after - before:
                    delta.append("+" + listed(after - before).replace(", ", ", +"))
                if before - after:
                    delta.append("-" + listed(before - after).replace(", ", ", -"))
                changes.append(f"{label} addresses {' '.join(delta)}")
        if changes:
            parts.append(f"{name}: {'; '.join(changes)}")
    return "; ".join(parts) if parts else "no change"
