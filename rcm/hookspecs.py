"""Hook specifications: the contract between the coordinator and its handlers.

A handler (an RCM module, in Solaris words) is a plain Python module or object
with functions named after these hooks and marked with :data:`rcm.hookimpl`.
It is found through the ``rcm.plugins`` entry-point group, exactly as the
built-in IPMP handler is::

    [project.entry-points."rcm.plugins"]
    myhandler = "my_package.rcm_handler"

Every hook receives ``ctx``, a :class:`rcm.context.HandlerContext`: the
handler's logger, its configuration, its persistent store, and the way to ask
the coordinator to act on resources that depend on the one in hand.  A hook
implementation may accept any subset of the arguments named here.

The coordinator calls handlers one at a time, from one worker thread, each call
under a timeout (``[handlers] timeout`` in rcm.toml, 60 s by default).  No hook
is async and no handler needs to know about threads or event loops.

A hook that raises makes the phase fail: the coordinator rolls back what
already happened (``rcm_notify_online`` to every handler that had released, in
reverse order).  Refusing is not failing: a veto is a return value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from rcm.context import HandlerContext
    from rcm.model import Event, Veto
    from rcm.protocols import ApBackend, EventSource

hookspec = pluggy.HookspecMarker("rcm")


@hookspec
def rcm_configure(ctx: HandlerContext) -> None:
    """Load and check the handler's configuration, once, before anything runs.

    Raise :class:`rcm.errors.ConfigError` naming the file, the key and the
    fault for anything malformed or contradictory: rcmd then refuses to start
    (and cfgadm refuses to act), so no configuration is ever half-applied.
    """


@hookspec
def rcm_register(ctx: HandlerContext) -> list[str] | None:
    """Return the names of the resources this handler is interested in.

    Called at start and again whenever devices come or go, so the answer may
    change.  Names are strings in the documented forms: a udev device path
    (``/devices/pci0000:00/0000:00:03.0``), ``net/<ifname>``,
    ``ip/<address>``, ``mount/<path>`` …  A resource that may be absent now
    (a NIC missing at boot) can be registered all the same.
    """


@hookspec
def rcm_get_info(ctx: HandlerContext, resource: str) -> str | None:
    """Return one usage line for ``resource``, or None if it is not in use.

    Shown by ``cfgadm -lv`` and in the "Resource Information" table beside a
    veto, e.g. ``nic0: hosts data addresses 192.0.2.10/24 of IPMP group g``.
    """


@hookspec
def rcm_request_offline(
    ctx: HandlerContext, resource: str, query: bool, force: bool
) -> Veto | str | None:
    """May ``resource`` go offline, and if ``query`` is false, release it.

    With ``query=True`` only answer: return None to agree, or a
    :class:`rcm.model.Veto` (or a plain string, read as a ``data`` veto) to
    refuse.  Every handler is asked and every reason is shown at once.

    With ``query=False`` the admin's decision is made (all agreed, or ``force``
    overrode ``data`` vetoes): release the resource now (the IPMP handler
    fails data addresses over).  Raise to fail the operation and roll back.
    Resources that depend on this one are taken offline through
    ``ctx.request_offline(dependent, query=...)``, so that the coordinator
    keeps the order and can undo them.
    """


@hookspec
def rcm_notify_online(ctx: HandlerContext, resource: str) -> None:
    """``resource`` is back (or an offline is being rolled back): restore it.

    Sent after an attach, when a device reappears, and during rollback to
    every handler that had released the resource.  Must be idempotent: it can
    arrive for a resource that was never taken offline.
    """


@hookspec
def rcm_notify_remove(ctx: HandlerContext, resource: str, surprise: bool) -> None:
    """``resource`` is gone: forget it (and record what must come back).

    ``surprise`` is true when no offline preceded the removal (a NIC pulled, a
    link moved away by hand): act after the fact, e.g. fail addresses over at
    once.  Errors here are logged; the hardware is already gone.
    """


@hookspec
def rcm_notify_event(ctx: HandlerContext, event: Event) -> None:
    """A raw event (udev uevent, netlink link change, …) for every handler.

    Handlers that map events to resources (the network handler turns a udev
    ``remove`` of a net device into ``ctx.resource_removed("net/nic0")``) or
    that react to link state (carrier lost) implement this.
    """


@hookspec
def rcm_reconcile(ctx: HandlerContext, reason: str) -> None:
    """Bring what the handler manages in line with the kernel.

    Called when rcmd starts (``reason="start"``: NICs missing at boot are
    handled here) and after events may have been lost (``reason="overflow"``
    when the uevent socket overflowed).  Must be idempotent.
    """


@hookspec
def rcm_ap_backends(ctx: HandlerContext) -> list[ApBackend] | None:
    """Return attachment-point classes this plugin provides (cfgadm's aps).

    Each backend lists its aps, names the resources an ap's occupant carries,
    and performs the hardware step (connect/disconnect).  See
    :class:`rcm.protocols.ApBackend`.
    """


@hookspec
def rcm_event_sources(ctx: HandlerContext) -> list[EventSource] | None:
    """Return listeners that rcmd runs for the plugin (e.g. netlink links).

    Each is started in a thread of its own and hands events to
    ``ctx.post_event``; they are delivered through ``rcm_notify_event`` on the
    coordinator's worker, in order with every other operation.  See
    :class:`rcm.protocols.EventSource`.
    """
