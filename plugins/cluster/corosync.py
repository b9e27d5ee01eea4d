"""corosync.conf: its brace syntax, and the ring addresses of each node.

The syntax, as corosync's own parser (exec/coroparse.c) reads it: one item a
line; ``name {`` opens a section, ``}`` closes one, ``key: value`` sets a key
(the value runs to the end of the line, spaces trimmed); blank lines and lines
whose first non-blank character is ``#`` are ignored.  Anything else, a ``}``
with no section open, or a section left open at the end is refused with one
line naming the file and the line (:class:`rcm.errors.ConfigError`).

Of the whole file this module keeps what the handler needs: the nodelist's
nodes, each with its ``nodeid``, ``name`` and ``ringN_addr`` keys.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import NamedTuple

from rcm.errors import ConfigError

_RING_KEY = re.compile(r"^ring(\d+)_addr$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class Section:
    """One ``name { … }`` block (the file itself is the unnamed top section).

    Plain classes here, not dataclasses: this module is imported by every
    engine start, cfgadm's included, and a dataclass costs an ``exec`` per
    generated method.
    """

    __slots__ = ("name", "line", "keys", "sections")

    def __init__(self, name: str, line: int) -> None:
        self.name = name
        self.line = line
        self.keys: list[tuple[str, str, int]] = []
        """(key, value, line number) in file order."""
        self.sections: list[Section] = []

    def children(self, name: str) -> list[Section]:
        return [s for s in self.sections if s.name == name]


def parse(text: str, path: Path | str) -> Section:
    """The file as nested sections; ConfigError naming ``path`` and the line."""
    top = Section("", 0)
    stack = [top]
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"line {number}"
        if line.endswith("{"):
            name = line[:-1].strip()
            if not _NAME.match(name):
                raise ConfigError(
                    path, where, f"{raw.strip()!r}: a section needs a name: 'name {{'"
                )
            section = Section(name, number)
            stack[-1].sections.append(section)
            stack.append(section)
        elif line == "}":
            if len(stack) == 1:
                raise ConfigError(path, where, "'}' closes no section")
            stack.pop()
        elif ":" in line:
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if not _NAME.match(key):
                raise ConfigError(path, where, f"{key!r} is not a key name")
            if "{" in value or "}" in value:
                raise ConfigError(path, where, f"{line!r}: one item a line ('key: value')")
            stack[-1].keys.append((key, value, number))
        else:
            raise ConfigError(path, where, f"{line!r} is not 'key: value', 'name {{' or '}}'")
    if len(stack) > 1:
        open_ = stack[-1]
        raise ConfigError(
            path, f"line {open_.line}", f"section {open_.name!r} is never closed (no '}}')"
        )
    return top


class Ring(NamedTuple):
    """One ring address of a node."""

    number: int
    address: str
    """As written: an IP address, or a host name (which rcm does not resolve)."""

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The address if it is an IP literal, else None: rcmd does no DNS."""
        try:
            return ipaddress.ip_address(self.address.split("%", 1)[0])
        except ValueError:
            return None

    def __str__(self) -> str:
        return f"ring {self.number} ({self.address})"


class Node(NamedTuple):
    nodeid: str
    name: str
    rings: tuple[Ring, ...]


def nodes(top: Section, path: Path | str) -> list[Node]:
    """The nodes of every ``nodelist { node { … } }``, rings in number order."""
    found: list[Node] = []
    for nodelist in top.children("nodelist"):
        for node in nodelist.children("node"):
            rings: dict[int, Ring] = {}
            ident = {"nodeid": "", "name": ""}
            for key, value, number in node.keys:
                match = _RING_KEY.match(key)
                if match:
                    n = int(match.group(1))
                    if n in rings:
                        raise ConfigError(path, f"line {number}", f"{key} is set twice in one node")
                    if not value:
                        raise ConfigError(path, f"line {number}", f"{key} has no address")
                    rings[n] = Ring(n, value)
                elif key in ident:
                    ident[key] = value
            found.append(
                Node(ident["nodeid"], ident["name"], tuple(rings[n] for n in sorted(rings)))
            )
    return found


def load(path: Path) -> list[Node]:
    """The nodes of the corosync.conf at ``path`` (which must exist)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(path, "", f"cannot read: {getattr(e, 'strerror', None) or e}") from None
    return nodes(parse(text, path), path)
