"""Loading handlers: one entry-point group for built-in and third-party alike.

A handler runs as root inside rcmd, so a handler file that another user can
write is a way to become root.  Before anything is imported, every plugin's
module file and package directory is checked: owned by root (or the user
running rcm) and not writable by group or others.  An unsafe plugin stops
rcmd from starting: running with a handler missing would approve detaches that
handler would have vetoed.

Registration also refuses what the coordinator cannot honour (see the module
docstring of :mod:`rcm.hookspecs`): a hook implementation marked
``hookwrapper=True`` or ``wrapper=True``, and a hook spec marked ``historic``
or ``firstresult``.  Handlers are registered in reverse name order, so that
pluggy's call order (last registered first) is name order, with ``tryfirst``
and ``trylast`` moving an implementation to the front or the back.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path

import pluggy

from rcm import hookspecs
from rcm.configfile import ownership_fault
from rcm.entrypoints import entry_points  # not importlib.metadata: see rcm.entrypoints
from rcm.errors import RcmError

ENTRY_POINT_GROUP = "rcm.plugins"


class UnsafePlugin(RcmError):
    """A plugin file or directory could be written by someone other than its owner."""


class PluginRefused(RcmError, pluggy.PluginValidationError):
    """A plugin asks for something rcm does not do (a hook wrapper, a
    misspelled hook, two plugins of one name).

    Also a :class:`pluggy.PluginValidationError`, so that code catching
    pluggy's error still does; as an :class:`RcmError` it reaches the admin
    as one line, without a traceback.  Raised as ``PluginRefused(plugin, message)``.
    """


class RcmPluginManager(pluggy.PluginManager):
    """pluggy's plugin manager, refusing at registration what the coordinator
    cannot honour.

    The coordinator calls each handler's implementation itself, one handler at
    a time on the handler's own thread, so an implementation that wraps the
    others (``hookwrapper=True``, ``wrapper=True``) would have nothing to wrap,
    and a spec whose result pluggy would shorten (``firstresult``) or replay
    (``historic``) would not mean what it says.  Both are refused with one
    line naming the plugin and the hook.
    """

    def __init__(self) -> None:
        super().__init__("rcm")
        self._registering = ""

    def register(self, plugin: object, name: str | None = None) -> str | None:
        self._registering = name or self.get_canonical_name(plugin)
        try:
            return super().register(plugin, name)
        except PluginRefused:
            raise
        except pluggy.PluginValidationError as e:  # e.g. an argument the hook lacks
            detail = "; ".join(str(e).splitlines()[1:]) or str(e)
            raise PluginRefused(plugin, f"plugin {self._registering!r}: {detail}") from None
        finally:
            self._registering = ""

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None:
            for option in ("hookwrapper", "wrapper"):
                if opts.get(option):
                    hook = opts.get("specname") or name
                    raise PluginRefused(
                        plugin,
                        f"plugin {self._registering!r}: {hook} is marked {option}=True;"
                        " rcm calls each handler on its own thread and has no call to wrap",
                    )
        return opts

    def parse_hookspec_opts(self, module_or_class: object, name: str) -> pluggy.HookspecOpts | None:
        opts = super().parse_hookspec_opts(module_or_class, name)
        if opts is not None:
            for option in ("historic", "firstresult"):
                if opts.get(option):
                    raise PluginRefused(
                        module_or_class,
                        f"hook spec {name} is marked {option}=True; rcm asks every handler"
                        " in turn and keeps every answer, so it cannot honour that",
                    )
        return opts

    def check_pending(self) -> None:
        """Refuse an implementation of a hook that does not exist (a misspelling)."""
        for hook, caller in vars(self.hook).items():
            if not caller.has_spec():
                for impl in caller.get_hookimpls():
                    if not impl.optionalhook:
                        raise self._unknown_hook(impl.plugin, impl.plugin_name, hook)

    def _unknown_hook(self, plugin: object, name: str, hook: str) -> PluginRefused:
        """The error for ``hook``, naming the hook it was probably meant to be."""
        import difflib  # only on this error path: ~3 ms to import

        specs = sorted(n for n, c in vars(self.hook).items() if c.has_spec())
        near = difflib.get_close_matches(hook, specs, n=1)
        hint = f"; did you mean {near[0]}?" if near else ""
        return PluginRefused(plugin, f"plugin {name!r}: unknown hook {hook!r}{hint}")


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
    for path in _module_paths(module):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        fault = ownership_fault(st)  # the rule configuration files get too
        if fault:
            raise UnsafePlugin(f"refusing plugin {name!r}: {path} is {fault}")


def make_plugin_manager(
    load_entry_points: bool = True, extra: Iterable[tuple[str, object]] = ()
) -> RcmPluginManager:
    """A plugin manager with the hook specs, the installed handlers and any
    ``extra`` (name, plugin) pairs (tests register their own handlers).

    Every plugin is registered under its name, in reverse name order, so that
    pluggy calls implementations in name order (``tryfirst``/``trylast``
    aside).  Raises :class:`RcmError` for two plugins of one name, an unsafe
    plugin, or a plugin rcm cannot honour.
    """
    pm = RcmPluginManager()
    pm.add_hookspecs(hookspecs)
    plugins = dict(_installed_plugins()) if load_entry_points else {}
    for name, plugin in extra:
        if name in plugins:
            raise PluginRefused(plugin, f"two plugins are named {name!r}; rename one")
        plugins[name] = plugin
    for name in sorted(plugins, reverse=True):
        pm.register(plugins[name], name=name)
    pm.check_pending()
    return pm


def _installed_plugins() -> Iterable[tuple[str, object]]:
    """(name, plugin) of every ``rcm.plugins`` entry point, checked and
    imported, in name order."""
    seen: dict[str, str] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in seen:
            raise PluginRefused(
                ep.value,
                f"two plugins are named {ep.name!r} (entry points {seen[ep.name]!r} and"
                f" {ep.value!r}); uninstall one",
            )
        seen[ep.name] = ep.value
        check_safe(ep.name, ep.module)
        plugin: object = importlib.import_module(ep.module)
        if ep.attr:
            for attr in ep.attr.split("."):
                plugin = getattr(plugin, attr)
        yield ep.name, plugin
