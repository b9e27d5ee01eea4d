"""Where the hardware plugins read the system: one setting they share.

``[plugins.hw]`` in rcm.toml (every key optional)::

    [plugins.hw]
    sysfs = "/sys"                      # the sysfs tree every ap class reads
    proc = "/proc"                      # /proc/<pid>/status (the CPU handler)
    mountinfo = "/proc/self/mountinfo"  # mounted filesystems (the storage handler)
    swaps = "/proc/swaps"               # active swap (the storage handler)

The hw, storage and cpu plugins all read this one section (tests point it at
a fake tree), so it is checked in one place, here, and each plugin takes it
and its sysfs from :class:`UsesRoots`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rcm.context import HandlerContext
from rcm.errors import ConfigError
from rcm.settings import plugin_section

from .sysfs import Sysfs, open_sysfs

SECTION = "hw"
DEFAULTS = {
    "sysfs": "/sys",
    "proc": "/proc",
    "mountinfo": "/proc/self/mountinfo",
    "swaps": "/proc/swaps",
}


class Roots:
    """The checked paths (plain attributes)."""

    def __init__(self, sysfs: str, proc: str, mountinfo: str, swaps: str) -> None:
        self.sysfs = Path(sysfs)
        self.proc = Path(proc)
        self.mountinfo = Path(mountinfo)
        self.swaps = Path(swaps)

    def describe(self) -> str:
        return f"sysfs {self.sysfs}"


def read_roots(settings: dict[str, Any], config_dir: Path) -> Roots:
    """The ``[plugins.hw]`` paths, each an absolute path; a ConfigError
    naming rcm.toml and the key otherwise."""
    section = plugin_section(settings, config_dir, SECTION, tuple(DEFAULTS))
    path = config_dir / "rcm.toml"
    where = f"plugins.{SECTION}"
    values = {}
    for key, default in DEFAULTS.items():
        value = section.get(key, default)
        if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
            raise ConfigError(path, f"{where}.{key}", f"must be an absolute path, not {value!r}")
        values[key] = value
    if "proc" in section:  # the /proc files follow a moved proc root unless set
        if "mountinfo" not in section:
            values["mountinfo"] = values["proc"] + "/self/mountinfo"
        if "swaps" not in section:
            values["swaps"] = values["proc"] + "/swaps"
    return Roots(**values)


class UsesRoots:
    """What every hardware plugin does with ``[plugins.hw]``: read it when
    configured (:meth:`configure_roots`, from ``rcm_configure``) and open the
    sysfs it names on each use (:attr:`sysfs`)."""

    roots: Roots | None = None
    """None until :meth:`configure_roots`."""

    @property
    def sysfs(self) -> Sysfs:
        """The configured tree, or the fake kernel a test registered for it."""
        assert self.roots is not None, "configured first"
        return open_sysfs(self.roots.sysfs)

    def configure_roots(self, ctx: HandlerContext) -> Roots:
        """Read and keep ``[plugins.hw]``; a ConfigError stops the start."""
        self.roots = read_roots(ctx.settings, ctx.config_dir)
        return self.roots
