"""Hook specifications: the one contract between the coordinator and its handlers.

A handler (an RCM module, in Solaris words) is a plain Python module or object
with functions named after these hooks and marked with :data:`rcm.hookimpl`.
It is found through the ``rcm.plugins`` entry-point group, exactly as the
built-in network and IPMP handlers are::

    [project.entry-points."rcm.plugins"]
    myhandler = "my_package.rcm_handler:plugin"

Each hook below says when it is called, its arguments, its result, what
raising does, and the order implementations run in.  docs/hooks.md's hook
reference is generated from these docstrings (``scripts/hook_reference.py``;
a test checks it is current), so this module is the contract and the page
its rendering.

Arguments.  Every hook receives ``ctx``, a :class:`rcm.context.HandlerContext`:
the handler's logger, its configuration, its persistent store, and the way to
ask the coordinator to act on resources that depend on the one in hand.  An
implementation may accept any subset of the arguments named here, by name.

Calls.  The coordinator calls each handler's implementation itself, one
handler at a time, on that handler's own long-lived thread, under a timeout
(``[handlers] timeout`` in rcm.toml, 60 s by default).  No hook is async and
no handler needs to know about threads or event loops.

Raising.  What an exception does depends on the hook and is said for each
below.  Whatever the hook, a call that runs out of time counts as raising,
and its ``ctx`` is fenced (every later use raises
:class:`rcm.errors.OperationFenced`).  The error reaches the admin as one line:
a :class:`rcm.errors.ConfigError` as it is, anything else as ``handler <name>
failed in <hook>(<resource>): <error>``.  Refusing is not failing: a veto is a
return value of ``rcm_request_offline``, never an exception.

Order.  Implementations run in pluggy's call order: those marked
``@hookimpl(tryfirst=True)`` first, those marked ``trylast=True`` last, and
the rest in handler-name order (rcm registers handlers so that pluggy's
last-registered-first order is name order).  The order is per hook: marking
``rcm_request_offline`` tryfirst does not move the handler's
``rcm_notify_remove``.  Two rules of the coordinator come on top and no marker
changes them: every handler is asked in a query, whatever the others answered
(the admin sees every veto at once); and a rollback restores in the reverse
order in which the offline calls completed.  ``specname`` and
``optionalhook`` work as in pluggy.

Why honour pluggy's order rather than refuse its markers: ``tryfirst`` and
``trylast`` have one meaning in a chain of calls and keep it here (a handler
that must see a resource before the others, or after them, can say so), and a
third-party handler written for pluggy does what its author expects.  What
pluggy does *around* a chain cannot carry over, because the coordinator makes
each call on its own, on its own thread, with journal writes between them:

- ``hookwrapper=True`` / ``wrapper=True`` implementations would have no call
  to wrap and would be silently skipped;
- a spec marked ``firstresult`` (stop at the first answer) or ``historic``
  (replay calls to late registrants) would promise what the coordinator does
  not do: every handler is asked, and no call is replayed.

:class:`rcm.plugins.RcmPluginManager` refuses both at registration with one
line naming the plugin and the hook, so nothing is ever silently ignored.
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
def rcm_configure(ctx: HandlerContext) -> str | None:
    """Load and check the handler's configuration, once, before anything runs.

    When: first of all, each time an engine starts: rcmd at start,
    cfgadm's in-process engine (no rcmd running) for each command, and
    ``rcmd --check-config``.  Before ap backends, registrations, journal
    recovery or anything that changes the system.

    Arguments: ``ctx`` only, outside any operation (``ctx.settings`` is the
    parsed rcm.toml; ``ctx.config_dir`` holds any files of your own).

    Returns: None, or a one-line summary of what the handler read, which
    ``rcmd --check-config`` prints beside the handler's name, e.g.
    ``2 interfaces in 1 IPMP group (/etc/rcm/interfaces)``.  Other callers
    ignore it.

    Raising: the engine does not start: rcmd exits 1, cfgadm refuses to act,
    and nothing is applied.  ``ctx.plugin_settings(known_keys)`` reads your
    ``[plugins.<name>]`` section and raises the error itself for a section
    that is not a table or has a key you do not know; raise
    ``rcm.errors.ConfigError(path, key, fault)`` for any value that is
    malformed or contradictory: the admin reads your line as it is
    (``/etc/rcm/rcm.toml: plugins.mount_guard.protect: must be a list of
    strings``); any other exception reads ``handler <name> failed in
    rcm_configure: <error>``.

    Order: call order; the first handler to raise stops the start, and the
    handlers after it are not configured.

    Example::

        @hookimpl
        def rcm_configure(self, ctx):
            section = ctx.plugin_settings(("protect",))  # a table; no other key
            protect = section.get("protect", [])
            if not isinstance(protect, list):
                raise ConfigError(
                    ctx.config_dir / "rcm.toml", f"plugins.{ctx.name}.protect", "must be a list"
                )
            self.protect = protect
            return f"{len(protect)} devices protected"
    """


@hookspec
def rcm_register(ctx: HandlerContext) -> list[str] | None:
    """Name the resources this handler is interested in.

    When: at start (after every ``rcm_configure`` and ``rcm_ap_backends``),
    at the start of an attach's online phase, when a resource appears
    (``ctx.resource_added``), after events may have been lost (a rescan), and
    whenever a handler calls ``ctx.reregister()``.  The answer may change
    between calls.

    Arguments: ``ctx`` only, outside any operation.

    Returns: resource names or glob patterns (``fnmatch``; ``*`` also matches
    ``/``) in the documented forms: a device path as udev names it
    (``/devices/pci0000:00/0000:00:03.0``), ``net/<ifname>``,
    ``ip/<address>``, ``mount/<path>`` …; None for none.  A resource that is
    absent now (a NIC missing at boot) may be registered all the same.  Hooks
    always receive the concrete name, never your pattern.

    Raising: the error is logged and the handler keeps its previous
    registration.  So does an answer that is not None or a list of strings
    (a bare string is not read as a list of its characters).

    Order: call order; it also orders a resource's handlers wherever no hook
    is involved (``Harness.handlers_for``).

    Example::

        @hookimpl
        def rcm_register(self, ctx):
            return [*self.protect, "mount/srv/*"]  # names and patterns
    """


@hookspec
def rcm_get_info(ctx: HandlerContext, resource: str) -> str | None:
    """Say how the handler uses ``resource``, in one line.

    When: ``cfgadm -lv``: for every resource each listed ap carries, to each
    handler whose registration matches it (so a glob registration is asked
    about resources it may not care about).

    Arguments: ``resource``, the concrete name.  Outside any operation.

    Returns: one usage line, shown beside the ap, e.g. ``nic0: hosts data
    addresses 192.0.2.10/24 of IPMP group g``; None if the handler does not
    use it.  Must not change anything.

    Raising: the line reads ``(no information: <error>)``; the listing goes
    on.

    Order: call order, per resource; the lines appear in that order.

    Example::

        @hookimpl
        def rcm_get_info(self, ctx, resource):
            if resource not in self.protect:  # a glob may bring others
                return None
            return f"{resource} holds /srv/data"
    """


@hookspec
def rcm_dependents(ctx: HandlerContext, resource: str) -> list[str] | None:
    """Name the resources that depend on ``resource``: the graph below it.

    When: in a detach, for every resource the ap carries and, in turn, for
    every dependent named (depth first, each resource once); and by
    ``cfgadm -lv`` to show the tree under an ap.  Asked of every handler
    implementing it, registered for ``resource`` or not: a graph crosses
    handlers (the hw plugin names the interfaces stacked on ``net/nic0``,
    the storage handler the partitions and device-mapper devices on
    ``block/sda``).

    Arguments: ``resource``, the concrete name.  Outside any operation.

    Returns: resource names (``net/br0``, ``block/sda1``), or None.  Must not
    change anything.  The coordinator asks a dependent's consumers before
    the resource's own (query), takes dependents offline first, locks them
    with the operation, and restores them in the reverse order on rollback;
    after the hardware step they get ``rcm_notify_remove`` with the rest.

    Raising: the error is logged and the resource is taken to have no
    dependents from this handler.

    Order: call order; the dependents of all handlers are joined, each once.

    Example::

        @hookimpl
        def rcm_dependents(self, ctx, resource):
            # a loop device's backing disk: the loop device sits on it
            backing = self.backing.get(resource)  # e.g. {"block/sdb": "block/loop0"}
            return [backing] if backing else None

    """


@hookspec
def rcm_request_offline(
    ctx: HandlerContext, resource: str, query: bool, force: bool
) -> Veto | str | None:
    """May ``resource`` go offline; and if ``query`` is false, release it.

    When: ``query=True`` in a detach's query phase (``cfgadm -c
    unconfigure|disconnect``, and the query ``cfgadm -f`` shows before asking
    for confirmation), for every resource the ap's occupant carries, before
    anything is released.  ``query=False`` in the offline phase, once the
    admin's decision is made: everyone agreed, or ``force`` overrode ``data``
    vetoes.  Each offline call is written to the journal before it is made.
    Also for a dependent, within the call of the handler that asked for it
    through ``ctx.request_offline(dependent, query=...)``.

    Arguments: ``resource``; ``query``; ``force``, true when the admin passed
    ``-f`` (still return your veto when querying: the admin sees what ``-f``
    overrides, and the coordinator decides).  ``ctx.operation_id`` is None
    during the query and the journal id during the offline.

    Returns: when querying, None (or False) to agree, or refuse with a
    ``rcm.model.Veto`` (or a plain string, read as a ``data`` veto); every
    handler's reason is shown at once.  When releasing, None: release the
    resource now (the IPMP handler moves data addresses to another member)
    and take dependents offline through ``ctx.request_offline(dep,
    query=False, force=force)``; a veto returned here is a failure.  Record
    what you release in ``ctx.store`` before you release it: the rollback may
    reach you after a restart.

    Raising: while querying, the detach fails (``query failed: …``) and
    nothing was released.  While releasing (or returning a veto, or running
    out of time), the detach fails and is rolled back: every handler that had
    released the resource, or begun to, this one included, gets
    ``rcm_notify_online``.

    Order: resources in the order the ap backend lists them; for each, its
    handlers in call order.  A veto does not stop the others being asked.  A
    dependent's handlers run within the call that asked for it, so they
    complete first, and are restored last.

    Example::

        @hookimpl
        def rcm_request_offline(self, ctx, resource, query, force):
            if query:
                return Veto(f"{resource} holds /srv/data", Impact.DATA)  # -f may pass
            ctx.store.set(f"released:{resource}", True)  # record first, then act
            unmount("/srv/data")
            ctx.message(f"{ctx.name}: /srv/data unmounted")
    """


@hookspec
def rcm_notify_online(ctx: HandlerContext, resource: str) -> None:
    """``resource`` is back, or an offline is being undone: restore it.

    When: in an attach's online phase (after re-registration), when a device
    reappears (``ctx.resource_added``), during the rollback of a failed
    detach (also to the handler whose offline failed), during crash recovery,
    and for a dependent when another handler calls ``ctx.notify_online``.
    Must be idempotent: it can arrive for a resource the handler never
    released, twice, or in a fresh process that remembers nothing but
    ``ctx.store``.

    Arguments: ``resource``.

    Returns: None.

    Raising: in an attach, the attach is reported failed (nothing is undone)
    and the other handlers are still told; in a rollback, the result says
    ``rollback incomplete: …`` and the other handlers are still restored;
    on a reappearance it is logged; through ``ctx.notify_online`` it reaches
    the handler that called it.

    Order: call order; but a rollback goes in the reverse order in which the
    offline calls completed, whatever the markers.

    Example::

        @hookimpl
        def rcm_notify_online(self, ctx, resource):
            if ctx.store.get(f"released:{resource}"):  # only what we released
                mount("/srv/data")
                ctx.store.delete(f"released:{resource}")
    """


@hookspec
def rcm_notify_remove(ctx: HandlerContext, resource: str, surprise: bool) -> None:
    """``resource`` is gone: forget it, and record what must come back.

    When: ``surprise=False`` in a detach's remove phase, after the hardware
    step (dependents first, then the ap's resources), and in crash recovery
    when the hardware step had happened.  ``surprise=True`` when a device
    vanished that no rcm operation removed or holds (a NIC pulled, a link
    moved away by hand), reported by a handler through
    ``ctx.resource_removed``; outside any operation.  Also for a dependent
    when another handler calls ``ctx.notify_remove``.

    Arguments: ``resource``; ``surprise``: no offline preceded the removal,
    so act after the fact (the IPMP handler fails addresses over at once).

    Returns: None.

    Raising: in an operation, the error is added to its messages and logged,
    and the operation still succeeds: the hardware is already gone.  On a
    surprise removal it is logged.  Through ``ctx.notify_remove`` it reaches
    the handler that called it.

    Order: call order.

    Example::

        @hookimpl
        def rcm_notify_remove(self, ctx, resource, surprise):
            ctx.store.delete(f"released:{resource}")
            if surprise:
                ctx.log.error("%s vanished with /srv/data mounted", resource)
    """


@hookspec
def rcm_notify_event(ctx: HandlerContext, event: Event) -> None:
    """A raw event (udev uevent, netlink link change, …), for every handler.

    When: for every event posted, one at a time and in order with every
    operation (rcmd runs both on one worker thread).  ``event.source`` is
    ``udev`` (the uevent environment: ``SUBSYSTEM``, ``DEVPATH``,
    ``INTERFACE`` …, action add/remove/move/change), an event source's name
    (the network plugin's link monitor posts ``netlink``), or the test
    harness's ``slot``.  An event with ``action="rescan"`` is not delivered:
    it makes every handler re-register and reconcile instead.

    Arguments: ``event``, an ``rcm.model.Event(source, action, properties)``.
    Outside any operation.

    Returns: None.  Map events to resources with ``ctx.resource_removed`` /
    ``ctx.resource_added`` (the network handler turns a udev ``remove`` of a
    net device into ``ctx.resource_removed("net/nic0")``), or react (carrier
    lost).  Return quickly: operations wait behind events.

    Raising: logged; the other handlers still get the event.

    Order: call order.

    Example::

        @hookimpl
        def rcm_notify_event(self, ctx, event):
            if event.source != "udev" or event.get("SUBSYSTEM") != "block":
                return
            name = "/devices" + event.get("DEVPATH")
            if event.action == "remove":
                ctx.resource_removed(name)  # consumers get surprise removal
            elif event.action == "add":
                ctx.resource_added(name)  # consumers get online
    """


@hookspec
def rcm_reconcile(ctx: HandlerContext, reason: str) -> None:
    """Bring what the handler manages in line with the system, which is the truth.

    When: when rcmd starts, after journal recovery (``reason="start"``: a NIC
    missing at boot is handled here), and after events may have been lost
    (``reason="overflow"`` when the uevent socket overflowed, or another
    reason, e.g. an event source that died).  cfgadm's in-process engine does
    not call it.  Must be idempotent.

    Arguments: ``reason``.  Outside any operation.

    Returns: None.

    Raising: logged; the other handlers still reconcile.

    Order: call order.

    Example::

        @hookimpl
        def rcm_reconcile(self, ctx, reason):
            for key, _ in ctx.store.items("released:"):
                resource = key.removeprefix("released:")
                if is_present(resource):  # it came back while rcmd was down
                    mount("/srv/data")
                    ctx.store.delete(key)
    """


@hookspec
def rcm_ap_backends(ctx: HandlerContext) -> list[ApBackend] | None:
    """Provide attachment-point classes (cfgadm's aps).

    When: once, each time an engine starts, right after every
    ``rcm_configure``.

    Arguments: ``ctx`` only, outside any operation.

    Returns: ``rcm.protocols.ApBackend`` objects, or None.  Each lists its
    aps, names the resources an ap's occupant carries, and performs the
    hardware step (connect/disconnect); the coordinator calls their methods
    on the providing handler's thread, under the same timeout, unfenced.

    Raising: the engine does not start, as for ``rcm_configure``.  Two
    handlers providing the same ``prefix`` stop it too, with a
    ``ConfigError`` naming both.

    Order: call order.

    Example::

        @hookimpl
        def rcm_ap_backends(self, ctx):
            # prefix "slot"; list, get, supports, connect, disconnect, detached:
            # rcm.testing.SlotBackend is a complete one over a sysfs-like tree
            return [SlotBackend(Path("/sys/bus/pci/slots"))]
    """


@hookspec
def rcm_event_sources(ctx: HandlerContext) -> list[EventSource] | None:
    """Provide listeners for rcmd to run (e.g. the network plugin's link monitor).

    When: once, by rcmd at start, after configuration and before journal
    recovery.  cfgadm's in-process engine and the test harness do not run
    event sources.

    Arguments: ``ctx`` only, outside any operation.

    Returns: ``rcm.protocols.EventSource`` objects, or None.  Each runs in a
    thread of its own and hands events to its ``post`` argument; they reach
    every handler through ``rcm_notify_event`` on rcmd's worker.  A source
    that raises is logged and followed by a rescan.

    Raising: rcmd does not start.

    Order: call order; sources are started in that order.

    Example::

        @hookimpl
        def rcm_event_sources(self, ctx):
            # name; run(post, stop) posts Event objects until stop is set
            return [MountWatcher("/proc/self/mountinfo")]
    """


@hookspec
def rcm_report(ctx: HandlerContext, topic: str) -> object:
    """Answer a read-only question about what the handler is doing now.

    When: a ``report`` request on rcmd's control socket, which any user may
    send (``ipmpstat`` asks for the topic ``ipmp``).  Not in an operation,
    and not on rcmd's worker: a report never waits for an operation to
    finish, only for the handler's own thread.

    Arguments: ``topic``, a name the asking tool and the handler agree on;
    the engine gives it no meaning.

    Returns: None when the handler has nothing to say about ``topic``;
    otherwise data made of dicts, lists, strings, numbers, booleans and None
    (it travels as JSON).  The answer maps each handler that gave one to its
    data.  Must not change anything, and should be quick: anyone may ask.

    Raising: the answer for that handler is ``{"error": "<one line>"}``; the
    other handlers still answer.

    Order: call order.

    Example::

        @hookimpl
        def rcm_report(self, ctx, topic):
            if topic != "mount_guard":
                return None
            return {"protected": sorted(self.protect)}
    """


@hookspec
def rcm_reload_prepare(ctx: HandlerContext) -> object:
    """Read and check a new configuration for a live reload, changing nothing.

    When: ``rcmd reload``, ``systemctl reload rcmd`` or SIGHUP, on rcmd's
    worker (between operations, never during one).  Every handler that
    implements this hook prepares first; only when all have succeeded is
    ``rcm_reload_commit`` called on each.  A handler that does not implement
    it keeps the configuration it read at start until rcmd restarts.

    Arguments: ``ctx`` only, outside any operation (``ctx.settings`` is the
    rcm.toml in force, not the new one).

    Returns: anything (typically the parsed configuration); it is handed
    back to the same handler's ``rcm_reload_commit`` as ``prepared``.

    Raising: the reload is refused and nothing changes anywhere: the
    configuration in force stays, every handler's included.  Raise
    ``rcm.errors.ConfigError(path, key, fault)`` for a bad file; its line
    is what ``rcmd reload`` prints and rcmd logs.

    Order: call order; the first handler to raise ends the reload.

    Example::

        @hookimpl
        def rcm_reload_prepare(self, ctx):
            path = ctx.config_dir / "mount_guard.toml"
            doc = read_config_toml(path) or {}  # ConfigError for a bad file
            protect = doc.get("protect", [])
            if not isinstance(protect, list):
                raise ConfigError(path, "protect", "must be a list")
            return protect

    """


@hookspec
def rcm_reload_commit(ctx: HandlerContext, prepared: object) -> str | None:
    """Put the configuration prepared by ``rcm_reload_prepare`` in force.

    When: right after every handler's ``rcm_reload_prepare`` succeeded, on
    rcmd's worker.  Apply only the difference: what did not change should
    not move.

    Arguments: ``prepared``, what this handler's ``rcm_reload_prepare``
    returned.

    Returns: None, or a one-line summary of what changed (``rcmd reload``
    prints it beside the handler's name).

    Raising: the error is reported as that handler's line of the reload's
    answer and logged; the other handlers still commit (they validated
    already, and the new files are the ones on disk).

    Order: call order.

    Example::

        @hookimpl
        def rcm_reload_commit(self, ctx, prepared):
            added = set(prepared) - set(self.protect)
            self.protect = prepared
            return f"{len(added)} devices newly protected" if added else None
    """
