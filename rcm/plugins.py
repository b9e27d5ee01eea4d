"""Loading handlers: one entry-point group for built-in and third-party alike.

A handler runs as root inside rcmd, so a handler file that another user can
write is a way to become root.  Before anything is imported, every plugin's
module file and package directory is checked: owned by root (or the user
running rcm) and not writable by group or others.  An unsafe plugin stops
rcmd from starting: running with a handler missing would approve detaches that
handler would have vetoed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import stat
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path

import pluggy

from rcm import hookspecs
from rcm.errors import RcmError

ENTRY_POINT_GROUP = "rcm.plugins"


class UnsafePlugin(RcmError):
    """A plugin file or directory could be written by someone other than its owner."""


def _module_paths(module: str) -> list[Path]:
    """The files and directories that importing ``module`` would execute from,
    found without importing anything."""
    top, _, rest = module.partition(".")
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise RcmError(f"plugin module {module!r} cannot be found")
    paths: list[Path] = []
    if spec.submodule_search_locations:
        base = Path(next(iter(spec.submodule_search_locations)))
        paths.append(base)
        if spec.origin:
            paths.append(Path(spec.origin))
        parts = rest.split(".") if rest else []
        for i, part in enumerate(parts):
            cand_dir = base.joinpath(*parts[: i + 1])
            if cand_dir.is_dir():
                paths.append(cand_dir)
                init = cand_dir / "__init__.py"
                if init.exists():
                    paths.append(init)
            else:
                paths.append(base.joinpath(*parts[:i], part + ".py"))
    elif spec.origin:
        paths.append(Path(spec.origin))
    return paths


def check_safe(name: str, module: str) -> None:
    """Raise UnsafePlugin if another user could change what ``module`` runs."""
    me = os.geteuid()
    for path in _module_paths(module):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if st.st_uid not in (0, me):
            raise UnsafePlugin(
                f"refusing plugin {name!r}: {path} is owned by uid {st.st_uid}, not root"
            )
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise UnsafePlugin(
                f"refusing plugin {name!r}: {path} is writable by group or others"
                f" (mode {stat.S_IMODE(st.st_mode):o})"
            )


def make_plugin_manager(
    load_entry_points: bool = True, extra: Iterable[tuple[str, object]] = ()
) -> pluggy.PluginManager:
    """A plugin manager with the hook specs, the installed handlers and any
    ``extra`` (name, plugin) pairs (tests register their own handlers)."""
    pm = pluggy.PluginManager("rcm")
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if pm.has_plugin(ep.name):
                continue
            check_safe(ep.name, ep.module)
            plugin = importlib.import_module(ep.module)
            if ep.attr:
                for attr in ep.attr.split("."):
                    plugin = getattr(plugin, attr)
            pm.register(plugin, name=ep.name)
    for name, plugin in extra:
        pm.register(plugin, name=name)
    pm.check_pending()
    return pm
