"""The coordinator: registry, locks, the phase runner, rollback and the journal.

It knows no device class and no kind of resource: attachment points, the
resource names their occupants carry and who consumes them all come from
plugins.  A detach of an attachment point is a transaction over the resources
its occupant carries::

    query     every handler of every resource: collect ALL vetoes
       |         system veto -> refused;  data veto -> refused unless forced
    offline   handler by handler (journaled before each call)
       |         failure -> online to every handler that released, reverse order
    hardware  the ap backend's disconnect
       |         failure -> same rollback
    remove    every handler forgets the resource (errors only reported)

An attach runs the hardware step (connect) and then online.  Handlers reach
dependents through their context (``ctx.request_offline``), which lands back
here, so the order and the rollback stay in one place.

Threading: ``admit`` (take locks, fail fast on conflict) may run on any
thread; ``run``, events and recovery run on one worker thread (rcmd's) or on
the caller's (cfgadm in-process).  Handler code runs on each handler's own
thread, under a timeout (see rcm.runner).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import pluggy

from rcm.context import HandlerContext
from rcm.errors import BusyError, ConfigError, HandlerError, HardwareError, RcmError
from rcm.failpoints import failpoint
from rcm.locks import LockTable
from rcm.model import (
    Action,
    ApInfo,
    Event,
    Impact,
    Listing,
    Outcome,
    Result,
    Usage,
    Veto,
)
from rcm.paths import Paths
from rcm.protocols import ApBackend
from rcm.runner import HandlerRunner
from rcm.settings import handler_timeout, load_settings
from rcm.store import Store

log = logging.getLogger("rcm.coordinator")


@dataclass
class Operation:
    """One admin request in flight (or a recovered one)."""

    token: int
    ap_id: str
    action: Action
    force: bool
    resources: list[str]
    query_only: bool = False
    id: int | None = None  # journal id, once it changes anything
    messages: list[str] = field(default_factory=list)
    vetoes: list[Veto] = field(default_factory=list)
    released: list[tuple[str, str]] = field(default_factory=list)
    dependents: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        return f"{self.action.value} {self.ap_id}"


def _is_pattern(name: str) -> bool:
    """A registered name with fnmatch wildcards stands for many resources."""
    return any(c in name for c in "*?[")


def _as_veto(value: Any, handler: str, resource: str) -> Veto | None:
    if value is None or value is False:
        return None
    if isinstance(value, Veto):
        try:
            impact = Impact(value.impact)
        except ValueError:
            raise HandlerError(
                f"handler {handler} vetoed {resource} with impact {value.impact!r};"
                " expected warning, data or system"
            ) from None
        return Veto(str(value.reason), impact, value.resource or resource, value.handler or handler)
    if isinstance(value, str):
        return Veto(value, Impact.DATA, resource, handler)
    raise HandlerError(
        f"handler {handler} returned {type(value).__name__} from rcm_request_offline;"
        " expected None, a string or rcm.model.Veto"
    )


class Coordinator:
    def __init__(
        self,
        paths: Paths,
        pm: pluggy.PluginManager,
        settings: dict[str, Any] | None = None,
        store: Store | None = None,
    ) -> None:
        self.paths = paths
        self.pm = pm
        self.settings = load_settings(paths.rcm_toml) if settings is None else settings
        self.timeout = handler_timeout(self.settings)
        self.store = store or Store(paths.database)
        self.locks = LockTable()
        self._tokens = itertools.count(1)
        self.handlers = sorted(name for name, _ in pm.list_name_plugin() if name is not None)
        self.runners = {name: HandlerRunner(name) for name in self.handlers}
        self._registry: dict[str, list[str]] = {}
        self.backends: dict[str, tuple[str, ApBackend]] = {}
        self.event_sink: Callable[[Event], None] | None = None
        self.summaries: dict[str, str] = {}
        """Handler name -> what its rcm_configure said it read (see configure)."""

    # -- calling handlers ------------------------------------------------------
    def _impl(self, handler: str, hook: str) -> Any:
        """``handler``'s implementation of ``hook`` (a pluggy HookImpl), or None."""
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            if impl.plugin_name == handler:
                return impl
        return None

    def implementers(self, hook: str) -> list[str]:
        """The handlers implementing ``hook``, in pluggy's call order.

        pluggy lists implementations in reverse call order; ``tryfirst`` ones
        come first, ``trylast`` ones last, and the rest in name order
        (rcm.plugins registers handlers so that it is so).
        """
        return [i.plugin_name for i in reversed(getattr(self.pm.hook, hook).get_hookimpls())]

    def call(
        self,
        handler: str,
        hook: str,
        op: Operation | None,
        wait_stuck: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Call one handler's implementation of ``hook`` on its own thread."""
        impl = self._impl(handler, hook)
        if impl is None:
            return None
        ctx = HandlerContext(self, handler, op)
        values = {"ctx": ctx, **kwargs}
        args = [values[a] for a in impl.argnames]
        what = f"{hook}({kwargs['resource']})" if "resource" in kwargs else hook
        return self.runners[handler].call(
            impl.function, args, self.timeout, what, on_timeout=ctx.fence, wait_stuck=wait_stuck
        )

    def call_on_owner(self, handler: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a plugin object's method (an ap backend's) on its handler's thread."""
        name = getattr(fn, "__name__", "call")
        return self.runners[handler].call(fn, list(args), self.timeout, name)

    # -- start -----------------------------------------------------------------
    def configure(self) -> None:
        """Configure handlers, collect ap backends and registrations.

        Raises ConfigError (nothing applied) if any handler's configuration is
        bad.  Each handler's one-line summary of what it read (the optional
        return value of ``rcm_configure``) is kept in :attr:`summaries` for
        ``rcmd --check-config``.
        """
        summaries: dict[str, str] = {}
        for handler in self.implementers("rcm_configure"):
            summary = self.call(handler, "rcm_configure", None)
            if summary is None:
                continue
            if not isinstance(summary, str):  # reported, not fatal: only check-config reads it
                summary = (
                    f"(rcm_configure returned {type(summary).__name__};"
                    " expected None or a one-line summary)"
                )
                log.warning("handler %s: %s", handler, summary)
            summaries[handler] = " ".join(summary.split())
        self.summaries = summaries
        for handler in self.implementers("rcm_ap_backends"):
            for backend in self.call(handler, "rcm_ap_backends", None) or []:
                if backend.prefix in self.backends:
                    raise ConfigError(
                        "plugins",
                        handler,
                        f"ap class {backend.prefix!r} is already provided"
                        f" by {self.backends[backend.prefix][0]}",
                    )
                self.backends[backend.prefix] = (handler, backend)
        self.refresh_registrations()

    def start(self, reconcile: bool = True) -> None:
        """configure, recover the journal, and (rcmd) reconcile with the kernel."""
        self.configure()
        self.recover()
        if reconcile:
            self.reconcile("start")

    def stop(self) -> None:
        for runner in self.runners.values():
            runner.stop()
        self.store.close()

    def reconcile(self, reason: str) -> None:
        for handler in self.implementers("rcm_reconcile"):
            try:
                self.call(handler, "rcm_reconcile", None, reason=reason)
            except HandlerError as e:
                log.error("%s", e)

    # -- registry --------------------------------------------------------------
    def refresh_registrations(self) -> None:
        registry: dict[str, list[str]] = {}
        for handler in self.implementers("rcm_register"):
            try:
                names = self.call(handler, "rcm_register", None) or []
                if not isinstance(names, list | tuple) or not all(
                    isinstance(n, str) for n in names
                ):
                    raise HandlerError(
                        f"handler {handler} returned {type(names).__name__} from rcm_register;"
                        " expected None or a list of resource names"
                    )
            except HandlerError as e:
                log.error("%s; keeping its previous registration", e)
                names = self._registry.get(handler, [])
            registry[handler] = list(names)
        self._registry = registry

    def handlers_for(self, resource: str, hook: str | None = None) -> list[str]:
        """Handlers that registered ``resource`` (names or glob patterns).

        With ``hook``: those implementing it, in its call order (see
        :meth:`implementers`); without, in ``rcm_register``'s call order.
        """
        order = self.implementers(hook) if hook else list(self._registry)
        return [
            h
            for h in order
            if any(p == resource or fnmatchcase(resource, p) for p in self._registry.get(h, ()))
        ]

    def registered_names(self, prefix: str = "") -> list[str]:
        """Every resource some handler registered by its exact name (glob
        patterns left out) that starts with ``prefix``: sorted, each once.

        Explicit names are how a handler says "this may exist" about a
        resource that is absent now; an ap backend lists them as empty
        receptacles.
        """
        registry = self._registry  # replaced whole by refresh_registrations
        return sorted(
            {
                name
                for names in registry.values()
                for name in names
                if name.startswith(prefix) and not _is_pattern(name)
            }
        )

    # -- listing ---------------------------------------------------------------
    def _backend_for(self, ap_id: str) -> tuple[str, ApBackend] | None:
        prefix, sep, _ = ap_id.partition(":")
        return self.backends.get(prefix) if sep else None

    def list_aps(self, ap_ids: list[str], verbose: bool) -> Listing:
        listing = Listing(aps=[])
        if ap_ids:
            for ap_id in ap_ids:
                found = self._backend_for(ap_id)
                ap = self.call_on_owner(found[0], found[1].get, ap_id) if found else None
                if ap is None:
                    listing.missing.append(ap_id)
                else:
                    listing.aps.append(ap)
        else:
            for prefix in sorted(self.backends):
                handler, backend = self.backends[prefix]
                listing.aps.extend(self.call_on_owner(handler, backend.list))
        if verbose:
            for ap in listing.aps:
                listing.usage[ap.ap_id] = self.usage(ap.resources)
        return listing

    def usage(self, resources: tuple[str, ...] | list[str]) -> list[Usage]:
        lines: list[Usage] = []
        for resource in resources:
            for handler in self.handlers_for(resource, "rcm_get_info"):
                try:
                    info = self.call(handler, "rcm_get_info", None, resource=resource)
                except HandlerError as e:
                    info = f"(no information: {e})"
                if info:
                    lines.append(Usage(resource, str(info), handler))
        return lines

    # -- admission -------------------------------------------------------------
    def admit(
        self, action: Action, ap_id: str, force: bool, query_only: bool = False
    ) -> Operation | Result:
        """Check the request and take its locks now (fail fast when busy).

        Returns the Operation to pass to :meth:`run`, or the Result that ends
        the request at once.
        """
        found = self._backend_for(ap_id)
        if found is None:
            return Result(Outcome.NO_SUCH_AP, ap_id, f"Attachment point not found: {ap_id}")
        handler, backend = found
        if not backend.supports(action):
            return Result(
                Outcome.NOT_SUPPORTED,
                ap_id,
                f"{action.value} is not supported by ap class {backend.prefix}",
            )
        ap = self.call_on_owner(handler, backend.get, ap_id)
        if ap is None:
            return Result(Outcome.NO_SUCH_AP, ap_id, f"Attachment point not found: {ap_id}")
        op = Operation(next(self._tokens), ap_id, action, force, list(ap.resources), query_only)
        try:
            self.locks.acquire([ap_id, *op.resources], op)
        except BusyError as e:
            return Result(Outcome.BUSY, ap_id, str(e))
        return op

    def change_state(
        self, action: Action, ap_id: str, force: bool, query_only: bool = False
    ) -> Result:
        admitted = self.admit(action, ap_id, force, query_only)
        return admitted if isinstance(admitted, Result) else self.run(admitted)

    def run(self, op: Operation) -> Result:
        try:
            handler, backend = self.backends[op.ap_id.partition(":")[0]]
            ap = self.call_on_owner(handler, backend.get, op.ap_id)
            if ap is None:
                return Result(
                    Outcome.NO_SUCH_AP, op.ap_id, f"Attachment point not found: {op.ap_id}"
                )
            if op.action.detaches:
                return self._detach(op, handler, backend, ap)
            if op.query_only:  # an attach asks no handler: nothing can veto it
                return Result(Outcome.DONE, op.ap_id, force=op.force)
            return self._attach(op, handler, backend, ap)
        except RcmError as e:
            return Result(Outcome.FAILED, op.ap_id, str(e), messages=op.messages, operation=op.id)
        finally:
            self.locks.release(op.token)

    # -- detach ----------------------------------------------------------------
    def _query_resource(self, op: Operation, resource: str) -> list[Veto]:
        vetoes: list[Veto] = []
        for handler in self.handlers_for(resource, "rcm_request_offline"):
            value = self.call(
                handler, "rcm_request_offline", op, resource=resource, query=True, force=op.force
            )
            veto = _as_veto(value, handler, resource)
            if veto is not None:
                vetoes.append(veto)
        op.vetoes.extend(vetoes)
        return vetoes

    def _offline_resource(self, op: Operation, resource: str) -> None:
        assert op.id is not None
        for handler in self.handlers_for(resource, "rcm_request_offline"):
            seq = self.store.step(op.id, "offline", handler, resource, "started")
            failpoint("offline.step")
            try:
                value = self.call(
                    handler,
                    "rcm_request_offline",
                    op,
                    resource=resource,
                    query=False,
                    force=op.force,
                )
                veto = _as_veto(value, handler, resource)
                if veto is not None:
                    raise HandlerError(
                        f"handler {handler} refused to release {resource}: {veto.reason}"
                    )
            except HandlerError:
                op.released.append((handler, resource))  # it may have acted before failing
                self.store.step_status(op.id, seq, "failed")
                raise
            # completion order: a dependent released inside this call comes first
            op.released.append((handler, resource))
            self.store.step_status(op.id, seq, "done")

    def _detach(self, op: Operation, owner: str, backend: ApBackend, ap: ApInfo) -> Result:
        try:
            for resource in op.resources:
                self._query_resource(op, resource)
        except HandlerError as e:
            return self._result(op, Outcome.FAILED, f"query failed: {e}")
        blocking = [v for v in op.vetoes if v.impact.blocks(op.force)]
        if blocking or (op.query_only and op.vetoes):
            # Reported with the resources' other uses beside the vetoes.
            outcome = Outcome.VETOED if blocking else Outcome.DONE
            return self._result(op, outcome, self._refusal(op, blocking), usage=True)
        if op.query_only:
            return self._result(op, Outcome.DONE)
        op.id = self.store.begin("detach", op.ap_id, op.action.value, op.resources, op.force)
        failpoint("query.done")
        self.store.set_phase(op.id, "offline")
        try:
            for resource in op.resources:
                self._offline_resource(op, resource)
            failpoint("offline.done")
            self.store.set_phase(op.id, "hardware")
            self.call_on_owner(owner, backend.disconnect, ap, op.action)
        except (HandlerError, HardwareError) as e:
            log.error("%s: %s; rolling back", op.description, e)
            self._rollback(op)
            self.store.finish(op.id, "rolled_back")
            return self._result(
                op, Outcome.FAILED, f"{op.description} failed: {e}", rolled_back=True
            )
        self.store.set_phase(op.id, "hardware_done")
        failpoint("hardware.done")
        self.store.set_phase(op.id, "remove")
        self._remove_phase(op, [*op.dependents, *op.resources])
        failpoint("remove.done")
        self.store.finish(op.id, "done")
        return self._result(op, Outcome.DONE)

    @staticmethod
    def _refusal(op: Operation, blocking: list[Veto]) -> str:
        if not blocking:
            return ""
        if op.force:
            return f"{op.description} refused (-f cannot override a system veto)"
        return f"{op.description} refused"

    def _result(
        self,
        op: Operation,
        outcome: Outcome,
        message: str = "",
        *,
        usage: bool = False,
        rolled_back: bool = False,
    ) -> Result:
        """A detach's Result: every veto collected and whether -f was given,
        from which the Result itself says what blocks and what was forced past."""
        return Result(
            outcome,
            op.ap_id,
            message,
            list(op.vetoes),
            self.usage(op.resources) if usage else [],
            op.messages,
            rolled_back=rolled_back,
            operation=op.id,
            force=op.force,
        )

    def _rollback(self, op: Operation) -> None:
        """online to every handler that released (or began to), in reverse order."""
        for handler, resource in reversed(op.released):
            try:
                self.call(handler, "rcm_notify_online", op, wait_stuck=True, resource=resource)
                if op.id is not None:
                    self.store.step(op.id, "online", handler, resource, "done")
            except HandlerError as e:
                op.messages.append(f"rollback incomplete: {e}")
                log.error("rollback of %s: %s", op.description, e)

    def _remove_phase(self, op: Operation, resources: list[str]) -> None:
        for resource in resources:
            for handler in self.handlers_for(resource, "rcm_notify_remove"):
                try:
                    self.call(handler, "rcm_notify_remove", op, resource=resource, surprise=False)
                except HandlerError as e:
                    op.messages.append(str(e))
                    log.error("%s", e)
            self.store.mark_removed(resource, op.id)

    # -- attach ----------------------------------------------------------------
    def _attach(self, op: Operation, owner: str, backend: ApBackend, ap: ApInfo) -> Result:
        op.id = self.store.begin("attach", op.ap_id, op.action.value, op.resources, op.force)
        self.store.set_phase(op.id, "hardware")
        try:
            self.call_on_owner(owner, backend.connect, ap, op.action)
        except (HandlerError, HardwareError) as e:
            self.store.finish(op.id, "failed")
            return Result(
                Outcome.FAILED,
                op.ap_id,
                f"{op.description} failed: {e}",
                messages=op.messages,
                operation=op.id,
            )
        self.store.set_phase(op.id, "hardware_done")
        failpoint("attach.hardware.done")
        failures = self._online_phase(op)
        self.store.finish(op.id, "failed" if failures else "done")
        if failures:
            return Result(
                Outcome.FAILED, op.ap_id, "; ".join(failures), messages=op.messages, operation=op.id
            )
        return Result(Outcome.DONE, op.ap_id, messages=op.messages, operation=op.id)

    def _online_phase(self, op: Operation) -> list[str]:
        assert op.id is not None
        self.store.set_phase(op.id, "online")
        self.refresh_registrations()
        failures: list[str] = []
        for resource in op.resources:
            self.store.clear_removed(resource)
            for handler in self.handlers_for(resource, "rcm_notify_online"):
                try:
                    self.call(handler, "rcm_notify_online", op, resource=resource)
                    self.store.step(op.id, "online", handler, resource, "done")
                except HandlerError as e:
                    failures.append(str(e))
        return failures

    # -- dependents (through a handler's context) ---------------------------
    def dependent_offline(
        self, op: Operation | None, resource: str, query: bool, force: bool
    ) -> list[Veto]:
        if op is None:
            raise RcmError(f"{resource}: request_offline is only possible within an operation")
        try:
            self.locks.acquire([resource], op)
        except BusyError as e:
            if query:
                veto = Veto(str(e), Impact.SYSTEM, resource, "rcm")
                op.vetoes.append(veto)
                return [veto]
            raise HandlerError(str(e)) from None
        if query:
            return self._query_resource(op, resource)
        self._offline_resource(op, resource)
        op.dependents.append(resource)
        return []

    def dependent_online(self, op: Operation | None, resource: str) -> None:
        self.store.clear_removed(resource)
        for handler in self.handlers_for(resource, "rcm_notify_online"):
            self.call(handler, "rcm_notify_online", op, resource=resource)

    def dependent_remove(self, op: Operation | None, resource: str, surprise: bool) -> None:
        for handler in self.handlers_for(resource, "rcm_notify_remove"):
            self.call(handler, "rcm_notify_remove", op, resource=resource, surprise=surprise)
        self.store.mark_removed(resource, op.id if op else None)

    # -- events ----------------------------------------------------------------
    def post_event(self, event: Event) -> None:
        """Thread-safe: rcmd queues it for its worker; in-process, handle now."""
        if self.event_sink is not None:
            self.event_sink(event)
        else:
            self.handle_event(event)

    def handle_event(self, event: Event) -> None:
        """On the worker: give an event to every handler, in order."""
        if event.action == "rescan":
            log.warning("events may have been lost (%s); rescanning", event.get("REASON"))
            self.refresh_registrations()
            self.reconcile(event.get("REASON", "rescan"))
            return
        for handler in self.implementers("rcm_notify_event"):
            try:
                self.call(handler, "rcm_notify_event", None, event=event)
            except HandlerError as e:
                log.error("%s", e)

    def resource_removed(self, resource: str) -> None:
        if self.store.is_removed(resource):
            log.info("%s removed, as an operation of rcm intended", resource)
            return
        if self.locks.holder(resource) is not None:
            log.info("%s removed during an operation on it", resource)
            return
        log.warning("surprise removal of %s", resource)
        self.store.mark_removed(resource, None)
        for handler in self.handlers_for(resource, "rcm_notify_remove"):
            try:
                self.call(handler, "rcm_notify_remove", None, resource=resource, surprise=True)
            except HandlerError as e:
                log.error("%s", e)

    def resource_added(self, resource: str) -> None:
        log.info("%s appeared", resource)
        self.store.clear_removed(resource)
        self.refresh_registrations()
        for handler in self.handlers_for(resource, "rcm_notify_online"):
            try:
                self.call(handler, "rcm_notify_online", None, resource=resource)
            except HandlerError as e:
                log.error("%s", e)

    # -- crash recovery ----------------------------------------------------------
    def recover(self) -> list[str]:
        """Complete or roll back every operation a crash left in flight.

        The kernel decides: if the ap's occupant is away (the hardware step
        happened), the detach is completed; otherwise every handler that
        began to release gets online, in reverse order.
        """
        reports: list[str] = []
        for rec in self.store.running():
            action = Action(rec.action)
            op = Operation(
                next(self._tokens), rec.ap_id, action, rec.force, rec.resources, id=rec.id
            )
            found = self._backend_for(rec.ap_id)
            detached: bool | None = None
            if found is not None:
                try:
                    detached = bool(self.call_on_owner(found[0], found[1].detached, rec.ap_id))
                except HandlerError as e:
                    log.error("recovery of operation %d: %s", rec.id, e)
            if rec.kind == "detach":
                if rec.phase == "query":
                    state = "failed"
                elif rec.phase in ("offline", "hardware") and not detached:
                    op.released = self.store.released(rec.id)
                    self._rollback(op)
                    state = "rolled_back"
                else:
                    self._remove_phase(op, op.resources)
                    state = "done"
            else:
                if rec.phase == "hardware" and detached:
                    state = "failed"
                else:
                    state = "failed" if self._online_phase(op) else "done"
            self.store.finish(rec.id, state)
            text = {
                "failed": "had changed nothing; marked failed",
                "rolled_back": "rolled back; the previous configuration was restored",
                "done": "completed",
            }[state]
            report = (
                f"recovered operation {rec.id} ({op.description},"
                f" interrupted in phase {rec.phase}): {text}"
            )
            log.warning("%s", report)
            reports.append(report)
        return reports
