"""rcm: the dynamic-reconfiguration coordinator (engine, daemon, hook specs).

Nothing in this package knows about networks: the network and IPMP handlers
are plugins (``rcm_net``, ``rcm_ipmp``) loaded through the ``rcm.plugins``
entry-point group like any third-party handler.
"""

import pluggy

hookimpl = pluggy.HookimplMarker("rcm")
"""Marker for handler functions: ``@rcm.hookimpl def rcm_register(ctx): ...``."""

__all__ = ["hookimpl"]
