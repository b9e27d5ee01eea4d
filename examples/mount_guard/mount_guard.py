"""mount_guard: refuse to detach devices that hold protected mounts.

An example rcm handler, complete and short.  Configuration, in rcm.toml::

    [plugins.mount_guard]
    protect = ["/devices/pci0000:00/0000:00:1f.2"]
    reason = "holds /srv/data"          # optional

A detach of an ap whose occupant carries a protected device is vetoed with a
``data`` veto: the admin sees the reason and may override it with
``cfgadm -f``.  A real guard would unmount on a forced offline and remount on
online; this one records what it released in its store, so that rollback,
reattach and a restart after a crash all find the record.
"""

from __future__ import annotations

from rcm import hookimpl
from rcm.context import HandlerContext
from rcm.errors import ConfigError
from rcm.model import Impact, Veto

DEFAULT_REASON = "holds a protected mount"


class MountGuard:
    def __init__(self) -> None:
        self.protect: list[str] = []
        self.reason = DEFAULT_REASON

    @hookimpl
    def rcm_configure(self, ctx: HandlerContext) -> None:
        # Our section is [plugins.<entry-point name>]; rcm checks only the
        # top-level tables, so plugin_settings checks that ours is a table with
        # no key but these, and the values are ours to check.
        section = ctx.plugin_settings(("protect", "reason"))
        path = ctx.config_dir / "rcm.toml"
        protect = section.get("protect", [])
        if not isinstance(protect, list) or not all(isinstance(p, str) for p in protect):
            raise ConfigError(path, f"plugins.{ctx.name}.protect", "must be a list of strings")
        reason = section.get("reason", DEFAULT_REASON)
        if not isinstance(reason, str) or not reason:
            raise ConfigError(path, f"plugins.{ctx.name}.reason", "must be a non-empty string")
        self.protect, self.reason = protect, reason

    @hookimpl
    def rcm_register(self, ctx: HandlerContext) -> list[str]:
        return self.protect

    @hookimpl
    def rcm_get_info(self, ctx: HandlerContext, resource: str) -> str | None:
        if resource not in self.protect:  # a registered name may also be a glob
            return None
        released = " (released by force)" if ctx.store.get(f"released:{resource}") else ""
        return f"{resource} {self.reason}{released}"

    @hookimpl
    def rcm_request_offline(
        self, ctx: HandlerContext, resource: str, query: bool, force: bool
    ) -> Veto | None:
        if query:
            # Asked with force=True too: still say no, so the admin sees what
            # -f overrides.  Impact.SYSTEM would make it final.
            return Veto(f"{resource} {self.reason}", Impact.DATA)
        # Only reached when the admin forced past our veto: release now.  Write
        # the record first, so that a crash right after still leaves a trace.
        ctx.store.set(f"released:{resource}", True)
        ctx.message(f"{ctx.name}: {resource} released by force; it {self.reason}")
        return None

    @hookimpl
    def rcm_notify_online(self, ctx: HandlerContext, resource: str) -> None:
        # Idempotent: may come for a resource we never released.
        if ctx.store.get(f"released:{resource}"):
            ctx.store.delete(f"released:{resource}")
            ctx.message(f"{ctx.name}: {resource} is back; protection restored")

    @hookimpl
    def rcm_notify_remove(self, ctx: HandlerContext, resource: str, surprise: bool) -> None:
        ctx.store.delete(f"released:{resource}")
        if surprise:
            ctx.log.error("%s was removed without warning; it %s", resource, self.reason)


plugin = MountGuard()
