"""rcm: the dynamic-reconfiguration coordinator (engine, daemon, hook specs).

Nothing in this package knows about networks: the network and IPMP handlers
are plugins (``rcm_net``, ``rcm_ipmp``) loaded through the ``rcm.plugins``
entry-point group like any third-party handler.

Importing ``rcm`` imports nothing else: cfgadm's client path (``rcm.client``,
``rcm.model``) runs on every ``cfgadm -l`` and must not pay for pluggy (and
its importlib.metadata), which only the engine and the handlers need.
:data:`hookimpl` is made on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pluggy

    hookimpl: pluggy.HookimplMarker
    """Marker for handler functions: ``@rcm.hookimpl def rcm_register(ctx): ...``."""

__all__ = ["hookimpl"]


def __getattr__(name: str) -> Any:
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker("rcm")
        globals()["hookimpl"] = marker  # made once: later reads find the global
        return marker
    raise AttributeError(f"module 'rcm' has no attribute {name!r}")
