"""The IPMP handler's configuration: one file per NIC, one file for the groups.

Layout (``$RCM_CONFIG_DIR``, /etc/rcm by default), as Solaris had
``/etc/hostname.<if>``::

    interfaces/<ifname>.toml   group, addresses, test_addresses, standby
    ipmp.toml                  [groups.<name>] failback, failure_detection_time_ms, targets,
                               announce_count, announce_interval_ms

Loading is all-or-nothing: a malformed or contradictory configuration raises
exactly one :class:`rcm.errors.ConfigError` naming the file, the key and the
fault, and nothing is applied.  Files are read in sorted order and the first
fault found is the one reported, so the same tree always gives the same
message (an admin fixing faults one by one sees them in a stable order).

Files and folders are read through :mod:`rcm.configfile` (owned by root, not
writable by others, regular files of at most 1 MiB).  This module does no I/O
besides reading those files: it is the pure core that
the handler, cfgadm's checks and the tests all share.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rcm_netkit.names import ifname_fault

from rcm.configfile import list_config_folder, read_config_toml
from rcm.errors import ConfigError

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
"""A configured address: an IP address with its prefix length."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

INTERFACES_DIR = "interfaces"
GROUPS_FILE = "ipmp.toml"

GROUP_NAME_MAX = 31
"""Solaris' LIFGRNAMSIZ (32) less the NUL: long enough, short enough to print."""

INTERFACE_KEYS = ("group", "addresses", "test_addresses", "standby")
GROUP_KEYS = (
    "failback",
    "failure_detection_time_ms",
    "targets",
    "announce_count",
    "announce_interval_ms",
)

FAILURE_DETECTION_DEFAULT_MS = 10_000
"""in.mpathd's FAILURE_DETECTION_TIME default (/etc/default/mpathd)."""
FAILURE_DETECTION_MIN_MS = 100
"""in.mpathd's floor: probes then go every ~14 ms."""
FAILURE_DETECTION_MAX_MS = 3_600_000
"""An hour: beyond it a failure is not "detected" in any useful sense, and a
huge value would overflow the prober's timers."""

ANNOUNCE_COUNT = 3
"""Gratuitous ARPs / unsolicited NAs sent per moved address, the first at once."""
ANNOUNCE_INTERVAL_MS = 200
ANNOUNCE_COUNT_RANGE = (1, 100)
ANNOUNCE_INTERVAL_RANGE = (10, 60_000)

# One spelling only: "address/prefixlen", the prefix in plain decimal.  Netmask
# notation and zone ids ("%eth0") are refused: the NIC is implied by the file,
# and a single form keeps duplicates and messages unambiguous.
_ADDRESS_FORM = re.compile(r"[0-9A-Fa-f:.]+/(0|[1-9][0-9]{0,2})", re.ASCII)


@dataclass(frozen=True)
class InterfaceConfig:
    """What ``interfaces/<name>.toml`` says about one NIC.

    ``addresses`` are data addresses homed on this NIC: relocatable, the IPMP
    handler moves them to another member when this NIC fails or is detached,
    and back when it returns (if the group fails back).  ``test_addresses``
    are stationary: they never move and are unconfigured when the NIC goes
    offline.  A ``standby`` NIC hosts data addresses only when a non-standby
    member cannot, so it homes none.
    """

    name: str
    path: Path
    group: str | None = None
    addresses: tuple[IPInterface, ...] = ()
    test_addresses: tuple[IPInterface, ...] = ()
    standby: bool = False


@dataclass(frozen=True)
class GroupConfig:
    """Group-wide settings from ``[groups.<name>]`` in ``ipmp.toml``.

    ``failback``: when a NIC becomes usable again its data addresses return to
    it (Solaris' FAILBACK=yes).  With ``False`` they stay where they are until
    the NIC hosting them fails.

    ``failure_detection_time_ms``: how long a failure may go unnoticed by
    probes (and how long a flapping link must stay up); probes go every
    seventh of it.  ``targets``: probe targets used when no on-link router
    is known (in.mpathd's host routes), tried in the order given.
    ``announce_count`` / ``announce_interval_ms``: each address that moves is
    announced (gratuitous ARP, unsolicited NA) that many times, the first at
    once and the others that far apart: one frame can be lost, and a peer
    that missed it would keep sending to the old MAC.
    """

    name: str
    failback: bool = True
    failure_detection_time_ms: int = FAILURE_DETECTION_DEFAULT_MS
    targets: tuple[IPAddress, ...] = ()
    announce_count: int = ANNOUNCE_COUNT
    announce_interval_ms: int = ANNOUNCE_INTERVAL_MS


@dataclass(frozen=True)
class IpmpConfig:
    """The whole IPMP configuration, checked for consistency.

    Construct it with :func:`load_config`; building one by hand (tests do) is
    fine as long as the same invariants hold: every address appears once,
    every named group is declared.
    """

    interfaces: dict[str, InterfaceConfig] = field(default_factory=dict)
    groups: dict[str, GroupConfig] = field(default_factory=dict)
    _homes: dict[IPAddress, str] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _owned: frozenset[IPAddress] = field(
        init=False, repr=False, compare=False, default_factory=frozenset
    )

    def __post_init__(self) -> None:
        # home_of is asked for every address the kernel reports: index once.
        homes: dict[IPAddress, str] = {}
        for nic in self.interfaces.values():
            for address in nic.addresses:
                homes.setdefault(address.ip, nic.name)
        object.__setattr__(self, "_homes", homes)
        owned = {
            a.ip for nic in self.interfaces.values() for a in (*nic.addresses, *nic.test_addresses)
        }
        object.__setattr__(self, "_owned", frozenset(owned))

    def members(self, group: str) -> list[InterfaceConfig]:
        """The NICs configured in ``group``, sorted by name (for stable plans)."""
        return sorted(
            (nic for nic in self.interfaces.values() if nic.group == group),
            key=lambda nic: nic.name,
        )

    def home_of(self, address: IPInterface | IPAddress | str) -> str | None:
        """The NIC whose file lists ``address`` as a data address, or None.

        Matched by IP address alone (the prefix length is ignored), so an
        address the kernel reports with another prefix is still recognised.
        Test addresses have no home in this sense: they are not the handler's
        to move.  A string that is not an address gives None.
        """
        ip = _ip_of(address)
        return None if ip is None else self._homes.get(ip)

    def group_of(self, ifname: str) -> str | None:
        """The group ``ifname`` belongs to; None if in none or not configured."""
        nic = self.interfaces.get(ifname)
        return None if nic is None else nic.group

    def data_addresses(self, group: str) -> list[tuple[IPInterface, str]]:
        """Every data address of ``group`` with its home NIC.

        Ordered by home name, then as listed in the file: the order in which
        placement considers them, hence deterministic plans.
        """
        return [(a, nic.name) for nic in self.members(group) for a in nic.addresses]

    def owns(self, address: IPInterface | IPAddress | str) -> bool:
        """Whether ``address`` is the handler's: a data or test address of some NIC.

        Everything else on a NIC belongs to someone else and is left alone.
        """
        ip = _ip_of(address)
        return ip is not None and ip in self._owned


def _ip_of(address: IPInterface | IPAddress | str) -> IPAddress | None:
    if isinstance(address, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return address.ip
    if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return address
    try:
        return ipaddress.ip_interface(str(address)).ip
    except ValueError:
        return None


# -- validation helpers -------------------------------------------------------


def valid_group_name(name: str) -> str | None:
    """Why ``name`` cannot name a group, or None if it can.

    Group names appear in messages and resource names: non-empty, printable,
    no whitespace, at most 31 characters (Solaris' limit).
    """
    if not name:
        return "a group name cannot be empty"
    if len(name) > GROUP_NAME_MAX:
        return f"group name {name!r} is longer than {GROUP_NAME_MAX} characters"
    for ch in name:
        if ch.isspace() or not ch.isprintable():
            return f"group name {name!r} contains {ch!r}"
    return None


def parse_address(text: str) -> IPInterface:
    """Parse one configured address, ``"192.0.2.10/24"`` or ``"2001:db8::10/64"``.

    Raises ValueError with the fault.  Refused, besides what is not an
    address at all: no prefix length; netmask notation and zone ids (one
    spelling only); and whatever cannot be a host's unicast address --
    unspecified, loopback, multicast, IPv4-mapped IPv6, and a *network form*:
    a host part of all zeros (IPv4 up to /30: the network address; IPv6 up to
    /126: the subnet-router anycast address) or, for IPv4, all ones (the
    broadcast address).  So ``192.0.2.0/24`` and ``192.0.2.255/24`` are
    refused, ``192.0.3.0/23`` is a host and accepted, and /31, /32, /127 and
    /128 accept every address (RFC 3021, RFC 6164).
    """
    if "/" not in text:
        raise ValueError(f"{text!r} has no prefix length (write e.g. {text}/24)")
    if not _ADDRESS_FORM.fullmatch(text):
        prefix = text.rpartition("/")[2]
        hint = ""
        if "%" in text:
            hint = " (zone ids are not accepted: the file names the NIC)"
        elif "." in prefix:
            hint = " (write a prefix length such as /24, not a netmask)"
        elif prefix.isdigit() and prefix.startswith("0") and len(prefix) > 1:
            hint = " (write the prefix length without leading zeros)"
        raise ValueError(f"{text!r} is not an IP address with a prefix length{hint}")
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address with a prefix length") from None
    ip, net = iface.ip, iface.network
    if ip.is_unspecified:
        raise ValueError(f"{text!r} is the unspecified address")
    if ip.is_loopback:
        raise ValueError(f"{text!r} is a loopback address")
    if ip.is_multicast:
        raise ValueError(f"{text!r} is a multicast address")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        raise ValueError(f"{text!r} is an IPv4-mapped IPv6 address; write the IPv4 address")
    if isinstance(ip, ipaddress.IPv4Address) and net.prefixlen <= 30:
        if ip == net.network_address:
            raise ValueError(f"{text!r} is the network address of {net}, not a host address")
        if ip == net.broadcast_address:
            raise ValueError(f"{text!r} is the broadcast address of {net}, not a host address")
    if isinstance(ip, ipaddress.IPv6Address) and net.prefixlen <= 126:
        if ip == net.network_address:
            raise ValueError(
                f"{text!r} is the subnet-router anycast address of {net}, not a host address"
            )
    return iface


# -- loading --------------------------------------------------------------------


def load_config(config_dir: Path) -> IpmpConfig:
    """Read ``ipmp.toml`` and ``interfaces/*.toml`` under ``config_dir``.

    Raises :class:`ConfigError` at the first fault.  ``ipmp.toml`` is read
    first (interface files refer to its groups), then interface files in
    sorted order; within a file keys are checked in a fixed order.  A missing
    ``ipmp.toml`` declares no groups; a missing ``interfaces`` directory
    configures no NICs.
    """
    config_dir = Path(config_dir)
    groups = _load_groups(config_dir / GROUPS_FILE)
    interfaces = _load_interfaces(config_dir / INTERFACES_DIR, config_dir / GROUPS_FILE, groups)
    return IpmpConfig(interfaces=interfaces, groups=groups)


def _read_toml(path: Path) -> dict[str, Any]:
    """Parse one TOML file; every way it can fail becomes a ConfigError.

    Read through :func:`rcm.configfile.read_config_toml` (ownership, type,
    size, encoding); a file that vanished since it was listed is a fault.
    """
    doc = read_config_toml(path)
    if doc is None:
        raise ConfigError(path, "", "cannot read: No such file or directory")
    return doc


def _type_name(value: object) -> str:
    """TOML's word for a parsed value's type, for messages an admin can act on."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"  # dates and times


def _unknown_keys(path: Path, table: dict[str, Any], known: Iterable[str], prefix: str) -> None:
    known = tuple(known)
    for key in sorted(table):
        if key not in known:
            raise ConfigError(path, prefix + key, f"unknown key (known keys: {', '.join(known)})")


def _load_groups(path: Path) -> dict[str, GroupConfig]:
    doc = read_config_toml(path)
    if doc is None:
        return {}
    _unknown_keys(path, doc, ("groups",), "")
    tables = doc.get("groups", {})
    if not isinstance(tables, dict):
        raise ConfigError(path, "groups", f"must be a table, not {_type_name(tables)}")
    groups: dict[str, GroupConfig] = {}
    for name in sorted(tables):
        key = f"groups.{name}"
        why = valid_group_name(name)
        if why:
            raise ConfigError(path, key, why)
        table = tables[name]
        if not isinstance(table, dict):
            raise ConfigError(path, key, f"must be a table, not {_type_name(table)}")
        _unknown_keys(path, table, GROUP_KEYS, key + ".")
        failback = table.get("failback", True)
        if not isinstance(failback, bool):
            raise ConfigError(
                path, key + ".failback", f"must be true or false, not {_type_name(failback)}"
            )
        fdt = table.get("failure_detection_time_ms", FAILURE_DETECTION_DEFAULT_MS)
        if not isinstance(fdt, int) or isinstance(fdt, bool):
            raise ConfigError(
                path,
                key + ".failure_detection_time_ms",
                f"must be an integer (milliseconds), not {_type_name(fdt)}",
            )
        if fdt < FAILURE_DETECTION_MIN_MS:
            raise ConfigError(
                path,
                key + ".failure_detection_time_ms",
                f"{fdt} is below the minimum of {FAILURE_DETECTION_MIN_MS} ms",
            )
        if fdt > FAILURE_DETECTION_MAX_MS:
            raise ConfigError(
                path,
                key + ".failure_detection_time_ms",
                f"{fdt} is above the maximum of {FAILURE_DETECTION_MAX_MS} ms (an hour)",
            )
        targets = _targets(path, key + ".targets", table.get("targets", []))
        count = _bounded_int(path, key + ".announce_count", table, ANNOUNCE_COUNT_RANGE)
        interval = _bounded_int(path, key + ".announce_interval_ms", table, ANNOUNCE_INTERVAL_RANGE)
        groups[name] = GroupConfig(
            name=name,
            failback=failback,
            failure_detection_time_ms=fdt,
            targets=targets,
            announce_count=ANNOUNCE_COUNT if count is None else count,
            announce_interval_ms=ANNOUNCE_INTERVAL_MS if interval is None else interval,
        )
    return groups


def _targets(path: Path, key: str, values: object) -> tuple[IPAddress, ...]:
    """A group's probe targets: unicast IP addresses without a prefix, each once."""
    if not isinstance(values, list):
        raise ConfigError(path, key, f"must be an array of strings, not {_type_name(values)}")
    parsed: list[IPAddress] = []
    for i, text in enumerate(values):
        where = f"{key}[{i}]"
        if not isinstance(text, str):
            raise ConfigError(path, where, f"must be a string, not {_type_name(text)}")
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            hint = " (write the address alone, no prefix length)" if "/" in text else ""
            raise ConfigError(path, where, f"{text!r} is not an IP address{hint}") from None
        if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
            raise ConfigError(path, where, f"{text!r} cannot be a probe target (not unicast)")
        if ip.version == 6 and not ip.is_link_local:
            raise ConfigError(
                path,
                where,
                f"{text!r}: an IPv6 probe target must be link-local (fe80::/10), as"
                " IPv6 probes go from the link-local address",
            )
        if ip in parsed:
            raise ConfigError(path, where, f"{text!r} is listed twice")
        parsed.append(ip)
    return tuple(parsed)


def _bounded_int(
    path: Path, key: str, table: dict[str, Any], bounds: tuple[int, int]
) -> int | None:
    """``table``'s value for ``key``'s last part: an integer within ``bounds``
    (inclusive), or None if absent.  A boolean is not an integer here."""
    value = table.get(key.rpartition(".")[2])
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, key, f"must be an integer, not {_type_name(value)}")
    low, high = bounds
    if not low <= value <= high:
        raise ConfigError(path, key, f"must be from {low} to {high}, not {value}")
    return value


def _load_interfaces(
    directory: Path, groups_path: Path, groups: dict[str, GroupConfig]
) -> dict[str, InterfaceConfig]:
    names = list_config_folder(directory, ".toml", "<ifname>.toml files")
    if names is None:
        return {}

    interfaces: dict[str, InterfaceConfig] = {}
    # Every address seen so far (data and test, all files): which file, which key.
    seen: dict[IPAddress, tuple[str, Path, str, str]] = {}
    for filename in names:
        path = directory / filename
        ifname = filename[: -len(".toml")]
        why = ifname_fault(ifname)
        if why:
            raise ConfigError(path, "", f"file name must be <ifname>.toml: {why}")
        nic = _load_interface(path, ifname, groups_path, groups, seen)
        interfaces[ifname] = nic
    return interfaces


def _load_interface(
    path: Path,
    ifname: str,
    groups_path: Path,
    groups: dict[str, GroupConfig],
    seen: dict[IPAddress, tuple[str, Path, str, str]],
) -> InterfaceConfig:
    doc = _read_toml(path)
    _unknown_keys(path, doc, INTERFACE_KEYS, "")

    group = doc.get("group")
    if group is not None:
        if not isinstance(group, str):
            raise ConfigError(path, "group", f"must be a string, not {_type_name(group)}")
        why = valid_group_name(group)
        if why:
            raise ConfigError(path, "group", why)
        if group not in groups:
            raise ConfigError(
                path,
                "group",
                f"group {group!r} is not declared in {groups_path} (add [groups.{group}])",
            )

    addresses = _address_list(path, doc, "addresses", ifname, seen)
    test_addresses = _address_list(path, doc, "test_addresses", ifname, seen)

    standby = doc.get("standby", False)
    if not isinstance(standby, bool):
        raise ConfigError(path, "standby", f"must be true or false, not {_type_name(standby)}")
    if standby and addresses:
        raise ConfigError(
            path,
            "standby",
            "a standby interface cannot home data addresses "
            "(move them to a non-standby member, or set standby = false)",
        )
    if standby and group is None:
        raise ConfigError(
            path, "standby", "a standby interface must be in a group (set group = ...)"
        )

    return InterfaceConfig(
        name=ifname,
        path=path,
        group=group,
        addresses=addresses,
        test_addresses=test_addresses,
        standby=standby,
    )


_KIND = {"addresses": "data address", "test_addresses": "test address"}


def _address_list(
    path: Path,
    doc: dict[str, Any],
    key: str,
    ifname: str,
    seen: dict[IPAddress, tuple[str, Path, str, str]],
) -> tuple[IPInterface, ...]:
    """Parse ``doc[key]`` and check each address against every one seen before.

    An IP may appear once in the whole configuration (prefix aside): twice in
    a list, as both data and test address, or on two NICs are each refused
    with a message that names both places.
    """
    values = doc.get(key, [])
    if not isinstance(values, list):
        raise ConfigError(path, key, f"must be an array of strings, not {_type_name(values)}")
    parsed: list[IPInterface] = []
    for i, text in enumerate(values):
        where = f"{key}[{i}]"
        if not isinstance(text, str):
            raise ConfigError(path, where, f"must be a string, not {_type_name(text)}")
        try:
            iface = parse_address(text)
        except ValueError as e:
            raise ConfigError(path, where, str(e)) from None
        prior = seen.get(iface.ip)
        if prior is not None:
            raise ConfigError(path, where, _clash(text, key, ifname, prior))
        seen[iface.ip] = (ifname, path, where, key)
        parsed.append(iface)
    return tuple(parsed)


def _clash(text: str, key: str, ifname: str, prior: tuple[str, Path, str, str]) -> str:
    other_if, other_path, other_where, other_key = prior
    if other_if == ifname and other_key == key:
        return f"{text!r} is listed twice (also {other_where})"
    if other_if == ifname:
        return f"{text!r} is listed as both a data address and a test address (also {other_where})"
    if key == "addresses" and other_key == "addresses":
        return f"{text!r} is also homed on {other_if} ({other_path}: {other_where})"
    return (
        f"{text!r} is also configured as a {_KIND[other_key]} of {other_if} "
        f"({other_path}: {other_where})"
    )
