"""ipmpstat's output modes as fields: what each column is called, how wide it
starts, and how its value is read from rcmd's ``ipmp`` report.

Pure functions of the report (plain data, see rcm_ipmp.state.report), so the
tables are tested without a daemon.  A value is a string; ``None`` is "no
value", printed ``--`` in a table and empty in parsable output, as Solaris'
ipmpstat does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Row = Mapping[str, Any]
Names = Callable[[str], str]
"""Shows an IP address: its host name (from /etc/hosts) or the address (-n)."""


@dataclass(frozen=True)
class FieldSpec:
    name: str  # upper case, as in the header
    width: int  # the column's least width (it grows to fit, never cuts)
    value: Callable[[Row, Names], str | None]
    default: bool = True  # shown when no -o is given


def _bare(address: str) -> str:
    return address.partition("/")[0]


def _fdt(row: Row, _n: Names) -> str | None:
    ms = row.get("fdt_ms")
    return None if ms is None else f"{ms / 1000:.2f}s"


def _underlying(row: Row, _n: Names) -> str | None:
    """Solaris' INTERFACES: active, then (inactive), then [unusable]."""
    parts = list(row["active"])
    if row["inactive"]:
        parts.append("(" + " ".join(row["inactive"]) + ")")
    if row["unusable"]:
        parts.append("[" + " ".join(row["unusable"]) + "]")
    return " ".join(parts) or None


GROUP_FIELDS = (
    FieldSpec("GROUP", 10, lambda r, n: r["name"]),
    FieldSpec("GROUPNAME", 10, lambda r, n: r["name"]),
    FieldSpec("STATE", 10, lambda r, n: r["state"]),
    FieldSpec("FDT", 10, _fdt),
    FieldSpec("INTERFACES", 0, _underlying),
    FieldSpec("FAILBACK", 9, lambda r, n: "yes" if r["failback"] else "no", default=False),
)


def _flags(row: Row, _n: Names) -> str:
    """Solaris' seven flag letters; those Linux has no notion of stay ``-``
    (m, b, M: multicast/broadcast nomination; h: duplicate hardware address)."""
    usable = row["state"] in ("ok", "standby")
    return "".join(
        (
            "i" if usable and not row["active"] else "-",
            "s" if row["standby"] else "-",
            "-",
            "-",
            "-",
            "d" if row["why"] == "down" else "-",
            "-",
        )
    )


def _solaris_state(row: Row, _n: Names) -> str:
    """ok, failed, offline (an idle standby is ok: standby is its flag)."""
    return "ok" if row["state"] == "standby" else row["state"]


INTERFACE_FIELDS = (
    FieldSpec("INTERFACE", 12, lambda r, n: r["name"]),
    FieldSpec("ACTIVE", 8, lambda r, n: "yes" if r["active"] else "no"),
    FieldSpec("GROUP", 12, lambda r, n: r["group"]),
    FieldSpec("FLAGS", 10, _flags),
    FieldSpec("LINK", 10, lambda r, n: r["link"]),
    FieldSpec("PROBE", 10, lambda r, n: r["probe"]),
    FieldSpec("STATE", 10, _solaris_state),
    FieldSpec("WHY", 8, lambda r, n: r["why"], default=False),
)


ADDRESS_FIELDS = (
    FieldSpec("ADDRESS", 20, lambda r, n: n(_bare(r["address"]))),
    FieldSpec("STATE", 8, lambda r, n: r["state"]),
    FieldSpec("GROUP", 12, lambda r, n: r["group"]),
    FieldSpec("INBOUND", 12, lambda r, n: r["on"]),
    FieldSpec("OUTBOUND", 12, lambda r, n: r["on"]),
    FieldSpec("HOME", 0, lambda r, n: r["home"]),
)


def _mode(row: Row, _n: Names) -> str:
    probe = row.get("_probe") or {}
    if probe.get("mode"):
        return str(probe["mode"])
    if row["probe"] in ("disabled", "unknown") or not probe:
        return "disabled"
    return "routes" if probe.get("targets") else "multicast"


def _testaddr(row: Row, n: Names) -> str | None:
    probe = row.get("_probe") or {}
    addr = probe.get("test_address") or (row["test_addresses"] or [None])[0]
    return None if not addr else n(_bare(str(addr)))


def _targets(row: Row, n: Names) -> str | None:
    probe = row.get("_probe") or {}
    return " ".join(n(_bare(str(t))) for t in probe.get("targets", [])) or None


TARGET_FIELDS = (
    FieldSpec("INTERFACE", 12, lambda r, n: r["name"]),
    FieldSpec("MODE", 11, _mode),
    FieldSpec("TESTADDR", 20, _testaddr),
    FieldSpec("TARGETS", 0, _targets),
)


PROBE_FIELDS = (
    FieldSpec("TIME", 10, lambda r, n: r["time"]),
    FieldSpec("INTERFACE", 12, lambda r, n: r["interface"]),
    FieldSpec("PROBE", 7, lambda r, n: r["probe"]),
    FieldSpec("NETRTT", 10, lambda r, n: r["rtt"]),
    FieldSpec("RTT", 10, lambda r, n: r["rtt"]),
    FieldSpec("RTTAVG", 10, lambda r, n: r["rttavg"]),
    FieldSpec("TARGET", 0, lambda r, n: r["target"]),
)

MODES: dict[str, tuple[FieldSpec, ...]] = {
    "a": ADDRESS_FIELDS,
    "g": GROUP_FIELDS,
    "i": INTERFACE_FIELDS,
    "p": PROBE_FIELDS,
    "t": TARGET_FIELDS,
}


def rows_for(mode: str, report: Mapping[str, Any]) -> list[Row]:
    """The rows of one output mode (all but -p, which is a stream)."""
    if mode == "g":
        return list(report["groups"])
    if mode == "a":
        return list(report["addresses"])
    interfaces = list(report["interfaces"])
    if mode == "t":
        probes = report.get("probes", {})
        return [{**r, "_probe": probes.get(r["name"])} for r in interfaces]
    return interfaces


class FieldError(ValueError):
    """A -o list that names no field of the mode, or is empty."""


def select(mode: str, names: str | None) -> list[FieldSpec]:
    """The fields ``-o`` asks for (case-insensitive, ``all`` for every one),
    or the mode's defaults."""
    specs = MODES[mode]
    if names is None:
        return [f for f in specs if f.default]
    chosen: list[FieldSpec] = []
    for raw in names.split(","):
        name = raw.strip().upper()
        if name == "ALL":
            chosen.extend(specs)
            continue
        found = next((f for f in specs if f.name == name), None)
        if found is None:
            known = ", ".join(f.name.lower() for f in specs)
            raise FieldError(f'unknown output field "{raw.strip()}" (fields: {known})')
        chosen.append(found)
    if not chosen:
        raise FieldError("no output field given to -o")
    return chosen


def table(fields: list[FieldSpec], rows: list[Row], names: Names, header: bool = True) -> list[str]:
    """Left-aligned columns, each as wide as its least width or its longest
    value plus one space; ``--`` for no value; the last column unpadded."""
    cells = [[_shown(f.value(r, names)) for f in fields] for r in rows]
    widths = [
        max([f.width, len(f.name) + 1] + [len(c[i]) + 1 for c in cells])
        for i, f in enumerate(fields)
    ]
    lines = []
    heading = [[f.name for f in fields]] if header else []
    for values in heading + cells:
        text = "".join(v.ljust(w) for v, w in zip(values[:-1], widths[:-1], strict=True))
        lines.append((text + values[-1]).rstrip())
    return lines


def _shown(value: str | None) -> str:
    return "--" if value is None or value == "" else value


def parsable(fields: list[FieldSpec], rows: list[Row], names: Names) -> list[str]:
    """``-P``: no header, fields joined by ``:``, empty for no value; with
    more than one field a ``:`` or ``\\`` in a value is escaped with ``\\``."""
    out = []
    for r in rows:
        values = [f.value(r, names) or "" for f in fields]
        if len(fields) > 1:
            values = [v.replace("\\", "\\\\").replace(":", "\\:") for v in values]
        out.append(":".join(values))
    return out
