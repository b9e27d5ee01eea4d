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
from pathlib import Path

import pluggy

from rcm import hookspecs
from rcm.entrypoints import entry_points  # not importlib.metadata: see rcm.entrypoints
from rcm.errors import RcmError

ENTRY_POINT_GROUP = "rcm.plugins"


class UnsafePlugin(RcmError):
    """A plugin file or directory could be written by someone other than its owner."""


def _module_paths(module: str) -> list[Path]:
    """Every file and folder that importing ``module`` could execute from,
    found without importing anything.

    For a package: the folder it sits in, and everything inside it (any
    module of the package may be imported, and a planted ``__pycache__`` file
    would be run instead of its source).  For a single-file module: the
    folder it sits in, the file, and its ``__pycache__``.
    """
    top = module.partition(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise RcmError(f"plugin module {module!r} cannot be found")
    if spec.submodule_search_locations:
        paths: list[Path] = []
        for location in spec.submodule_search_locations:
            base = Path(location)
            paths += [base.parent, base]
            paths += sorted(base.rglob("*"))
        return paths
    if spec.origin is None or not Path(spec.origin).exists():
        return []  # built-in or frozen: nothing on disk to check
    origin = Path(spec.origin)
    cache = origin.parent / "__pycache__"
    return [origin.parent, origin, cache, *sorted(cache.glob(origin.stem + ".*"))]


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
                raise RcmError(
                    f"two plugins are named {ep.name!r} (entry point {ep.value!r} and"
                    f" {pm.get_plugin(ep.name)!r}); uninstall one"
                )
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
