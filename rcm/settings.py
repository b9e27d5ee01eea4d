"""rcm.toml: the coordinator's own settings.

The engine reads ``[handlers]`` and ``[udev]``; every plugin, built-in or
third-party, reads its own ``[plugins.<name>]`` section (``<name>`` is its
entry-point name) in ``rcm_configure`` and checks its keys there, through
:func:`plugin_section` (``ctx.plugin_settings``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rcm.configfile import read_config_toml
from rcm.errors import ConfigError

DEFAULT_TIMEOUT = 60.0
MIN_TIMEOUT = 0.1
MAX_TIMEOUT = 86400.0
"""``[handlers] timeout`` is 0.1 s to one day: shorter cannot be met by any
handler, longer (and inf, nan) overflows the waits or means "never"."""
KNOWN_TABLES = {"handlers", "udev", "plugins"}
UDEV_FOLDERS = ("database", "sysfs")
MOVED_TABLES = {"netns": "plugins.net"}
"""Tables that older releases read at the top level and a plugin now reads in
its own ``[plugins.<name>]`` section (same keys): an old file gets a pointer
to the new place instead of "unknown table"."""


def load_settings(path: Path) -> dict[str, Any]:
    """Parse and check rcm.toml; a missing file means every default.

    Read through :func:`rcm.configfile.read_config_toml`: ownership, type,
    size and encoding are checked there."""
    data = read_config_toml(path)
    if data is None:
        return {}
    for key, value in data.items():
        if key in MOVED_TABLES:
            new = MOVED_TABLES[key]
            raise ConfigError(path, key, f"this table has moved: write [{new}] instead (same keys)")
        if key not in KNOWN_TABLES:
            raise ConfigError(
                path, key, f"unknown table (known: {', '.join(sorted(KNOWN_TABLES))})"
            )
        if not isinstance(value, dict):
            raise ConfigError(path, key, "must be a table, e.g. [" + key + "]")
    handlers = data.get("handlers", {})
    for key, value in handlers.items():
        if key != "timeout":
            raise ConfigError(path, f"handlers.{key}", "unknown key (known: timeout)")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not MIN_TIMEOUT <= value <= MAX_TIMEOUT  # False for nan
        ):
            raise ConfigError(
                path,
                "handlers.timeout",
                f"must be a number of seconds from {MIN_TIMEOUT:g} to {MAX_TIMEOUT:g} (1 day),"
                f" not {value!r}",
            )
    udev = data.get("udev", {})
    for key, value in udev.items():
        if key in UDEV_FOLDERS:  # the policy's udev database and sysfs (rcm.udevpolicy)
            if not isinstance(value, str) or not value.startswith("/"):
                raise ConfigError(path, f"udev.{key}", f"must be an absolute path, not {value!r}")
            continue
        if key != "receive_buffer":
            raise ConfigError(
                path, f"udev.{key}", "unknown key (known: database, receive_buffer, sysfs)"
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 4096:
            raise ConfigError(
                path, "udev.receive_buffer", f"must be an integer >= 4096 bytes, not {value!r}"
            )
    return data


def plugin_section(
    settings: dict[str, Any], config_dir: Path, name: str, known: Sequence[str]
) -> dict[str, Any]:
    """``[plugins.<name>]`` of rcm.toml, checked: a table whose keys are all in ``known``.

    :func:`load_settings` checks only the top-level tables, so each plugin
    checks its own section; this is that check, shared.  A missing section
    is ``{}`` (every default).  A section that is not a table, or a key not
    in ``known``, raises :class:`~rcm.errors.ConfigError` naming rcm.toml and
    the key (``/etc/rcm/rcm.toml: plugins.net.holdng: unknown key (known:
    holding)``; ``known`` is listed in the order given).  The values are the
    plugin's to check.  Handlers call it as
    :meth:`rcm.context.HandlerContext.plugin_settings`.
    """
    path = config_dir / "rcm.toml"
    where = f"plugins.{name}"
    section = settings.get("plugins", {}).get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(path, where, f"must be a table, e.g. [{where}]")
    for key in sorted(section):
        if key not in known:
            raise ConfigError(path, f"{where}.{key}", f"unknown key (known: {', '.join(known)})")
    return section


def handler_timeout(settings: dict[str, Any]) -> float:
    return float(settings.get("handlers", {}).get("timeout", DEFAULT_TIMEOUT))
