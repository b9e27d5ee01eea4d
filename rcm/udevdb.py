"""Reading udev's database the way libudev does, from a folder we are told.

pyudev's ``Device.properties`` asks libudev, which reads
``/run/udev/data/<device id>`` (a path compiled into libudev): one line per
fact, ``E:KEY=value`` for each property a rule set with ``ENV{KEY}=``,
``G:tag`` for tags, ``S:`` symlinks, ``I:`` the time of initialisation.
Reading the files ourselves gives the same properties with a folder that
tests (and a system without udevd, such as this one) can point elsewhere.

The device id is libudev's (``sd_device_get_device_id``):

- ``b<major>:<minor>`` / ``c<major>:<minor>``: a block / character device node;
- ``n<ifindex>``: a network interface;
- ``+<subsystem>:<sysname>``: anything else (``+pci:0000:00:03.0``).

Everything is read when asked: the kernel and udev are the truth, and a rule
an admin adds takes effect with the next ``udevadm trigger``, not with the
next rcmd start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

DEFAULT_DATABASE = Path("/run/udev/data")
DEFAULT_SYSFS = Path("/sys")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def parse_db(text: str) -> dict[str, str]:
    """The ``E:`` properties of one database file (libudev's reading: the
    first character is the kind, the second a colon; other kinds are skipped)."""
    props: dict[str, str] = {}
    for line in text.splitlines():
        if len(line) < 2 or line[1] != ":" or line[0] != "E":
            continue
        key, eq, value = line[2:].partition("=")
        if eq and key:
            props[key] = value
    return props


def device_id(device: Path) -> str | None:
    """libudev's id of the sysfs device folder ``device``, None if it is not one."""
    subsystem_link = device / "subsystem"
    try:
        subsystem = os.path.basename(os.readlink(subsystem_link))
    except OSError:
        return None
    dev = _read(device / "dev")
    if dev and ":" in dev and dev.split(":", 1)[0] != "0":
        return ("b" if subsystem == "block" else "c") + dev
    ifindex = _read(device / "ifindex")
    if ifindex and ifindex.isdigit() and int(ifindex) > 0:
        return f"n{ifindex}"
    return f"+{subsystem}:{device.name.replace('!', '/')}"


class UdevDatabase:
    """udev's database folder and the sysfs tree its ids point into."""

    def __init__(self, database: Path = DEFAULT_DATABASE, sysfs: Path = DEFAULT_SYSFS) -> None:
        self.database = Path(database)
        self.sysfs = Path(sysfs)

    def file_of(self, device: Path) -> Path | None:
        ident = device_id(device)
        return self.database / ident if ident else None

    def properties(self, device: Path) -> dict[str, str]:
        """The properties udev's rules gave ``device`` ({} if none, or no udev)."""
        path = self.file_of(device)
        text = _read(path) if path is not None else None
        return parse_db(text) if text else {}

    def entries(self) -> Iterator[tuple[str, dict[str, str]]]:
        """Every (device id, properties) in the database."""
        try:
            names = sorted(os.listdir(self.database))
        except OSError:
            return
        for name in names:
            text = _read(self.database / name)
            if text:
                yield name, parse_db(text)

    def device_of_id(self, ident: str) -> Path | None:
        """The sysfs device folder (real path) of a database id, if it exists now."""
        kind, rest = ident[:1], ident[1:]
        candidates: list[Path] = []
        if kind in ("b", "c"):
            candidates.append(self.sysfs / "dev" / ("block" if kind == "b" else "char") / rest)
        elif kind == "n" and rest.isdigit():
            net = self.sysfs / "class" / "net"
            try:
                names = os.listdir(net)
            except OSError:
                names = []
            for name in names:
                if _read(net / name / "ifindex") == rest:
                    candidates.append(net / name)
        elif kind == "+" and ":" in rest:
            subsystem, _, sysname = rest.partition(":")
            sysname = sysname.replace("/", "!")
            candidates += [
                self.sysfs / "bus" / subsystem / "devices" / sysname,
                self.sysfs / "class" / subsystem / sysname,
            ]
        for path in candidates:
            if path.exists():
                return Path(os.path.realpath(path))
        return None
