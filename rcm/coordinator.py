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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
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
from rcm.protocols import ApBackend, FunctionNotSupported
from rcm.runner import HandlerRunner
from rcm.settings import handler_timeout, load_settings
from rcm.store import Store
from rcm.udevpolicy import HANDLER as POLICY_HANDLER
from rcm.udevpolicy import UdevPolicy

log = logging.getLogger("rcm.coordinator")


class ResourceAction(StrEnum):
    """librcm's other way in: a *resource* taken out of service in place and
    brought back, with no hardware step (``if_mpadm -d``/``-r``).  The same
    query (every veto), journaled offline and rollback as a detach; no remove."""

    OFFLINE = "offline"
    ONLINE = "online"


@dataclass
class Operation:
    """One admin request in flight (or a recovered one).  For a
    :class:`ResourceAction`, ``ap_id`` is the resource's name."""

    token: int
    ap_id: str
    action: Action | ResourceAction
    force: bool
    resources: list[str]
    query_only: bool = False
    id: int | None = None  # journal id, once it changes anything
    messages: list[str] = field(default_factory=list)
    vetoes: list[Veto] = field(default_factory=list)
    released: list[tuple[str, str]] = field(default_factory=list)
    dependents: list[str] = field(default_factory=list)
    options: str = ""  # cfgadm -o, for the ap class
    answers: list[dict[str, Any]] = field(default_factory=list)  # see Result.answers
    tree: list[dict[str, Any]] = field(default_factory=list)  # see Result.tree
    hardware: str = ""  # what the hardware step does (see Result.hardware)
    asking: list[str] = field(default_factory=list)  # resources being queried, innermost last
    graph: list[str] = field(default_factory=list)
    """Every resource of the detach, dependents before what they sit on
    (``rcm_dependents``), in the order the phases visit them."""

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


def _answer(phase: str, handler: str, resource: str, veto: Veto | None = None) -> dict[str, Any]:
    """One handler's answer, as Result.answers holds it (filled by _fill)."""
    return {
        "phase": phase,
        "handler": handler,
        "resource": resource,
        "veto": veto.to_dict() if veto is not None else None,
        "plan": [],
        "messages": [],
        "status": "answered" if phase == "query" else "started",
    }


def _fill(
    entry: dict[str, Any], ctxs: list[HandlerContext], veto: Veto | None, status: str = "answered"
) -> None:
    if ctxs:
        entry["plan"] = list(ctxs[0].planned)
        entry["messages"] = list(ctxs[0].said)
    if veto is not None:
        entry["veto"] = veto.to_dict()
    entry["status"] = status


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
        for runner in self.runners.values():
            runner.on_late_return = self._returned_late
        self._registry: dict[str, list[str]] = {}
        self.backends: dict[str, tuple[str, ApBackend]] = {}
        self.event_sink: Callable[[Event], None] | None = None
        self.summaries: dict[str, str] = {}
        """Handler name -> what its rcm_configure said it read (see configure)."""
        self.policy = UdevPolicy.from_settings(self.settings)
        """The admin's udev rules: RCM_IGNORE, RCM_PROTECT (rcm.udevpolicy)."""

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
        _ctx_out: list[HandlerContext] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call one handler's implementation of ``hook`` on its own thread.
        ``_ctx_out`` receives the call's context (what the handler said)."""
        impl = self._impl(handler, hook)
        if impl is None:
            return None
        ctx = HandlerContext(self, handler, op)
        if _ctx_out is not None:
            _ctx_out.append(ctx)
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

    def _returned_late(self, handler: str, what: str) -> None:
        """A handler's call that had timed out has returned (on its thread).

        Its late work may have finished the job or left it half done (its
        context was fenced): either way only a look at the system says which,
        so rcmd reconciles now, on its worker, in turn with everything else.
        Not after a late ``rcm_reconcile``: that was the look, late (and
        another one would time out the same way, forever, if the timeout is
        too short for it).  In-process (cfgadm without rcmd) nothing is
        posted: the process ends, and rcmd's next start reconciles.
        """
        if what == "rcm_reconcile":
            log.warning("handler %s finished rcm_reconcile late (it had timed out)", handler)
            return
        if self.event_sink is None:
            return
        reason = f"handler {handler} returned from a call that had timed out ({what})"
        self.event_sink(Event("rcm", "reconcile", {"REASON": reason}))

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

    def ignored(self, ap: ApInfo) -> bool:
        """A udev rule said RCM_IGNORE=1 for the ap's device: rcm neither
        lists it nor acts on it."""
        return any(self.policy.ignored(r) for r in ap.resources)

    def _class_of(self, name: str) -> list[tuple[str, ApBackend]]:
        """The backends an ap_type names (``cfgadm -l pci``): a prefix, or a
        backend's optional ``ap_type``."""
        return [
            found
            for prefix, found in sorted(self.backends.items())
            if name in (prefix, getattr(found[1], "ap_type", prefix))
        ]

    def _with_dynamic(self, handler: str, backend: ApBackend, aps: list[ApInfo]) -> list[ApInfo]:
        """Each ap followed by its dynamic aps (``base::dynamic``), if the
        backend has any (optional member ``dynamic(ap)``)."""
        dynamic = getattr(backend, "dynamic", None)
        if dynamic is None:
            return aps
        out: list[ApInfo] = []
        for ap in aps:
            out.append(ap)
            if "::" not in ap.ap_id:
                out.extend(self.call_on_owner(handler, dynamic, ap) or [])
        return out

    def list_aps(self, ap_ids: list[str], verbose: bool, dynamic: bool = False) -> Listing:
        """``cfgadm -l [-a] [-v] [ap_id|ap_type ...]``: an argument without a
        colon that names an ap class lists the whole class."""
        listing = Listing(aps=[])
        if ap_ids:
            for ap_id in ap_ids:
                found = self._backend_for(ap_id)
                classes = [] if found else self._class_of(ap_id)
                if classes:
                    for handler, backend in classes:
                        aps = self.call_on_owner(handler, backend.list)
                        if dynamic:
                            aps = self._with_dynamic(handler, backend, aps)
                        listing.aps.extend(aps)
                    continue
                ap = self.call_on_owner(found[0], found[1].get, ap_id) if found else None
                if ap is None or self.ignored(ap):
                    listing.missing.append(ap_id)
                else:
                    listing.aps.extend(
                        self._with_dynamic(found[0], found[1], [ap]) if dynamic else [ap]
                    )
        else:
            policy = self.policy.active()
            for prefix in sorted(self.backends):
                handler, backend = self.backends[prefix]
                aps = self.call_on_owner(handler, backend.list)
                if dynamic:
                    aps = self._with_dynamic(handler, backend, aps)
                listing.aps.extend(ap for ap in aps if not (policy and self.ignored(ap)))
        listing.aps = [
            ap.replace(busy=True) if self.locks.holder(ap.ap_id) is not None else ap
            for ap in listing.aps
        ]
        if verbose:
            protected = self.policy.protected_entries() if self.policy.active() else []
            for ap in listing.aps:
                tree = self.tree(ap.resources)
                listing.usage[ap.ap_id] = self.usage([r for r, _ in tree], protected)
                if any(depth for _, depth in tree):
                    listing.tree[ap.ap_id] = [(r, d) for r, d in tree]
        return listing

    # -- the graph -------------------------------------------------------------
    MAX_DEPTH = 16

    def dependents_of(self, resource: str) -> list[str]:
        """What every handler's ``rcm_dependents`` names below ``resource``."""
        out: list[str] = []
        for handler in self.implementers("rcm_dependents"):
            try:
                names = self.call(handler, "rcm_dependents", None, resource=resource) or []
            except HandlerError as e:
                log.error("%s", e)
                continue
            out.extend(str(n) for n in names if str(n) not in out and str(n) != resource)
        return out

    def tree(self, resources: tuple[str, ...] | list[str]) -> list[tuple[str, int]]:
        """The resources and, below each, its dependents: ``(name, depth)``
        in display order (a resource before what depends on it), each once."""
        seen: set[str] = set()
        out: list[tuple[str, int]] = []

        def visit(resource: str, depth: int) -> None:
            if resource in seen or depth > self.MAX_DEPTH:
                return
            seen.add(resource)
            out.append((resource, depth))
            for dep in self.dependents_of(resource):
                visit(dep, depth + 1)

        for resource in resources:
            visit(resource, 0)
        return out

    def graph(self, resources: tuple[str, ...] | list[str]) -> list[str]:
        """The detach order: every dependent before the resource it sits on."""
        tree = self.tree(resources)
        out: list[str] = []

        # In the tree, a resource's subtree is the run of deeper entries
        # after it: emit each subtree before its root (post-order).
        def post(i: int) -> int:
            name, depth = tree[i]
            j = i + 1
            while j < len(tree) and tree[j][1] > depth:
                j = post(j)
            out.append(name)
            return j

        i = 0
        while i < len(tree):
            i = post(i)
        return out

    def usage(
        self,
        resources: tuple[str, ...] | list[str],
        protected: list[tuple[str, dict[str, str]]] | None = None,
    ) -> list[Usage]:
        lines: list[Usage] = []
        if protected is None:
            protected = self.policy.protected_entries()
        for resource in resources:
            lines.extend(self.policy.usage(resource, protected))
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
        self,
        action: Action,
        ap_id: str,
        force: bool,
        query_only: bool = False,
        options: str = "",
        confirmed: bool = False,
    ) -> Operation | Result:
        """Check the request and take its locks now (fail fast when busy).

        Returns the Operation to pass to :meth:`run`, or the Result that ends
        the request at once.  ``options`` (cfgadm ``-o``) go to the ap
        class: one without ``check_options`` takes none (not supported), one
        with it refuses a bad one here, before anything is asked.  A class
        with ``confirm(ap, action, options)`` may ask the admin first (as
        Solaris' cfgadm plugins do before suspending a bus): unless
        ``confirmed``, its question comes back as ``Outcome.UNCONFIRMED``.
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
        if options:
            check = getattr(backend, "check_options", None)
            if check is None:
                return Result(
                    Outcome.NOT_SUPPORTED,
                    ap_id,
                    f"Hardware specific options not supported by ap class {backend.prefix}:"
                    f" {options}",
                )
            fault = self.call_on_owner(handler, check, action, options)
            if fault:
                return Result(Outcome.FAILED, ap_id, f"{ap_id}: {fault}")
        ap = self.call_on_owner(handler, backend.get, ap_id)
        if ap is None or self.ignored(ap):
            return Result(Outcome.NO_SUCH_AP, ap_id, f"Attachment point not found: {ap_id}")
        refusal = self._refusal_of(handler, backend, ap, action)
        if refusal is not None:
            return refusal
        confirm = getattr(backend, "confirm", None)
        if confirm is not None and not confirmed and not query_only:
            question = self.call_on_owner(handler, confirm, ap, action, options)
            if question:
                return Result(Outcome.UNCONFIRMED, ap_id, str(question))
        op = Operation(next(self._tokens), ap_id, action, force, list(ap.resources), query_only)
        op.options = options
        if action.detaches:
            op.graph = self.graph(op.resources)
        try:
            self.locks.acquire([ap_id, *op.resources, *op.graph], op)
        except BusyError as e:
            return Result(Outcome.BUSY, ap_id, str(e))
        return op

    def _refusal_of(
        self, handler: str, backend: ApBackend, ap: ApInfo, action: Action
    ) -> Result | None:
        """The backend's optional ``refuse(ap, action)``: this ap cannot do
        this now, before any handler is asked (cfgadm's own messages)."""
        refuse = getattr(backend, "refuse", None)
        if refuse is None:
            return None
        answer = self.call_on_owner(handler, refuse, ap, action)
        if answer is None:
            return None
        kind, detail = answer
        if kind == "insufficient_condition":
            return Result(Outcome.FAILED, ap.ap_id, f"Insufficient condition: {detail}")
        return Result(
            Outcome.NOT_SUPPORTED, ap.ap_id, f"Configuration operation not supported: {detail}"
        )

    def change_state(
        self,
        action: Action,
        ap_id: str,
        force: bool,
        query_only: bool = False,
        options: str = "",
        confirmed: bool = False,
    ) -> Result:
        admitted = self.admit(action, ap_id, force, query_only, options, confirmed)
        return admitted if isinstance(admitted, Result) else self.run(admitted)

    def run(self, op: Operation) -> Result:
        if isinstance(op.action, ResourceAction):
            return self._run_resource(op)
        try:
            handler, backend = self.backends[op.ap_id.partition(":")[0]]
            ap = self.call_on_owner(handler, backend.get, op.ap_id)
            if ap is None:
                return Result(
                    Outcome.NO_SUCH_AP, op.ap_id, f"Attachment point not found: {op.ap_id}"
                )
            op.hardware = self._describe(handler, backend, ap, op)
            if op.action.detaches:
                return self._detach(op, handler, backend, ap)
            if op.query_only:  # an attach asks no handler: nothing can veto it
                op.tree = [{"resource": r, "parent": None} for r in op.resources]
                return self._result(op, Outcome.DONE, usage=True)
            return self._attach(op, handler, backend, ap)
        except RcmError as e:
            return Result(Outcome.FAILED, op.ap_id, str(e), messages=op.messages, operation=op.id)
        finally:
            self.locks.release(op.token)

    def _describe(self, handler: str, backend: ApBackend, ap: ApInfo, op: Operation) -> str:
        """What the ap class's hardware step does, in its words (an optional
        backend member ``describe(ap, action, options)``)."""
        describe = getattr(backend, "describe", None)
        if describe is None:
            return f"{op.action.value} {op.ap_id}"
        try:
            return str(self.call_on_owner(handler, describe, ap, op.action, op.options))
        except HandlerError as e:
            return f"{op.action.value} {op.ap_id} ({e})"

    def _hardware(self, owner: str, fn: Callable[..., Any], ap: ApInfo, op: Operation) -> None:
        """The backend's connect/disconnect; ``-o`` options, when given, as a
        third argument (check_options accepted them)."""
        if op.options:
            self.call_on_owner(owner, fn, ap, op.action, op.options)
        else:
            self.call_on_owner(owner, fn, ap, op.action)

    # -- -t ----------------------------------------------------------------------
    def test_ap(self, ap_id: str, options: str = "") -> Result:
        """cfgadm ``-t``: the ap class's ``test(ap, options)`` (optional; it
        returns a line for the admin), else "not supported", as Solaris says
        of a class without one."""
        found = self._backend_for(ap_id)
        ap = self.call_on_owner(found[0], found[1].get, ap_id) if found else None
        if found is None or ap is None or self.ignored(ap):
            return Result(Outcome.NO_SUCH_AP, ap_id, f"Attachment point not found: {ap_id}")
        handler, backend = found
        test = getattr(backend, "test", None)
        if test is None:
            return Result(
                Outcome.NOT_SUPPORTED, ap_id, f"Configuration operation not supported: {ap_id}"
            )
        try:
            said = self.call_on_owner(handler, test, ap, options)
        except (HandlerError, HardwareError) as e:
            return Result(Outcome.FAILED, ap_id, f"test of {ap_id} failed: {e}")
        return Result(Outcome.DONE, ap_id, messages=[str(said)] if said else [])

    # -- class functions and help (-x, -h ap_type) -----------------------------
    def hardware_function(self, ap_id: str, function: str) -> Result:
        """``cfgadm -x name[=value] ap_id``: the ap class's optional
        ``functions(ap)`` / ``run_function(ap, name, value)``, under the ap's
        lock (an ap in an operation is busy)."""
        found = self._backend_for(ap_id)
        if found is None:
            return Result(Outcome.NO_SUCH_AP, ap_id, f"Attachment point not found: {ap_id}")
        handler, backend = found
        run = getattr(backend, "run_function", None)
        name, _, value = function.partition("=")
        if run is None:
            return Result(
                Outcome.NOT_SUPPORTED,
                ap_id,
                f"Hardware specific function not supported: {name} (ap class {backend.prefix}"
                " has none)",
            )
        ap = self.call_on_owner(handler, backend.get, ap_id)
        if ap is None or self.ignored(ap):
            return Result(Outcome.NO_SUCH_AP, ap_id, f"Attachment point not found: {ap_id}")
        op = Operation(next(self._tokens), ap_id, Action.CONFIGURE, False, [])
        try:
            self.locks.acquire([ap_id], op)
        except BusyError as e:
            return Result(Outcome.BUSY, ap_id, str(e))
        try:
            text = self.call_on_owner(handler, run, ap, name, value)
        except HandlerError as e:
            cause = e.__cause__  # the class's own words, without "handler … failed in"
            if isinstance(cause, FunctionNotSupported):
                return Result(Outcome.NOT_SUPPORTED, ap_id, str(cause))
            if isinstance(cause, HardwareError):
                return Result(Outcome.FAILED, ap_id, str(cause))
            return Result(Outcome.FAILED, ap_id, str(e))
        finally:
            self.locks.release(op.token)
        return Result(Outcome.DONE, ap_id, messages=[str(text)] if text else [])

    def class_help(self, ap_types: list[str]) -> dict[str, str]:
        """``cfgadm -h [ap_type ...]``: each class's optional ``help_text()``
        (every class when none is named); RcmError for an unknown ap_type."""
        if ap_types:
            chosen: list[tuple[str, ApBackend]] = []
            for name in ap_types:
                classes = self._class_of(name.partition(":")[0])
                if not classes:
                    raise RcmError(f"Attachment point type not found: {name}")
                chosen.extend(c for c in classes if c not in chosen)
        else:
            chosen = [self.backends[p] for p in sorted(self.backends)]
        out: dict[str, str] = {}
        for handler, backend in chosen:
            help_text = getattr(backend, "help_text", None)
            text = self.call_on_owner(handler, help_text) if help_text else ""
            out[backend.prefix] = text or f"{backend.prefix}: no class-specific help"
        return out

    # -- detach ----------------------------------------------------------------
    def _query_resource(self, op: Operation, resource: str) -> list[Veto]:
        op.tree.append({"resource": resource, "parent": op.asking[-1] if op.asking else None})
        vetoes: list[Veto] = []
        for veto in self.policy.vetoes(resource):
            vetoes.append(veto)
            op.answers.append(_answer("query", POLICY_HANDLER, resource, veto))
        op.asking.append(resource)
        try:
            for handler in self.handlers_for(resource, "rcm_request_offline"):
                entry = _answer("query", handler, resource)
                op.answers.append(entry)  # before the call: a dependent's answers follow it
                ctxs: list[HandlerContext] = []
                value = self.call(
                    handler,
                    "rcm_request_offline",
                    op,
                    _ctx_out=ctxs,
                    resource=resource,
                    query=True,
                    force=op.force,
                )
                veto = _as_veto(value, handler, resource)
                _fill(entry, ctxs, veto)
                if veto is not None:
                    vetoes.append(veto)
        finally:
            op.asking.pop()
        op.vetoes.extend(vetoes)
        return vetoes

    def _offline_resource(self, op: Operation, resource: str) -> None:
        assert op.id is not None
        for handler in self.handlers_for(resource, "rcm_request_offline"):
            seq = self.store.step(op.id, "offline", handler, resource, "started")
            failpoint("offline.step")
            entry = _answer("offline", handler, resource)
            op.answers.append(entry)
            ctxs: list[HandlerContext] = []
            try:
                value = self.call(
                    handler,
                    "rcm_request_offline",
                    op,
                    _ctx_out=ctxs,
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
                _fill(entry, ctxs, None, "failed")
                op.released.append((handler, resource))  # it may have acted before failing
                self.store.step_status(op.id, seq, "failed")
                raise
            _fill(entry, ctxs, None, "done")
            # completion order: a dependent released inside this call comes first
            op.released.append((handler, resource))
            self.store.step_status(op.id, seq, "done")

    def _detach(self, op: Operation, owner: str, backend: ApBackend, ap: ApInfo) -> Result:
        if not op.graph:
            op.graph = list(op.resources)
        op.dependents.extend(r for r in op.graph if r not in op.resources)
        try:
            for resource in op.graph:
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
            for resource in op.graph:
                self._offline_resource(op, resource)
            failpoint("offline.done")
            self.store.set_phase(op.id, "hardware")
            self._hardware(owner, backend.disconnect, ap, op)
        except (HandlerError, HardwareError) as e:
            log.error("%s: %s; rolling back", op.description, e)
            failures = self._rollback(op)
            self.store.finish(op.id, "failed" if failures else "rolled_back")
            return self._result(
                op, Outcome.FAILED, f"{op.description} failed: {e}", rolled_back=not failures
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
            self.usage(op.graph or op.resources) if usage or op.query_only else [],
            op.messages,
            rolled_back=rolled_back,
            operation=op.id,
            force=op.force,
            answers=list(op.answers),
            tree=list(op.tree),
            hardware=op.hardware,
        )

    def _rollback(self, op: Operation) -> list[str]:
        """online to every handler that released (or began to), in reverse order.

        Returns the failures (one line each): a handler that raised or timed
        out has not said the resource is back, so nothing may claim it is.
        Each step is journaled done or failed."""
        failures: list[str] = []
        for handler, resource in reversed(op.released):
            try:
                self.call(handler, "rcm_notify_online", op, wait_stuck=True, resource=resource)
                if op.id is not None:
                    self.store.step(op.id, "online", handler, resource, "done")
            except HandlerError as e:
                failures.append(str(e))
                op.messages.append(f"rollback incomplete: {e}")
                log.error("rollback of %s: %s", op.description, e)
                if op.id is not None:
                    self.store.step(op.id, "online", handler, resource, "failed")
        return failures

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
            self._hardware(owner, backend.connect, ap, op)
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
        # A device that came back carries what it carries now (a rescanned
        # PCI NIC brings its net/<ifname>): those come online too.
        now = self.call_on_owner(owner, backend.get, op.ap_id)
        if now is not None:
            op.resources.extend(r for r in now.resources if r not in op.resources)
        failures = self._online_phase(op)
        self.store.finish(op.id, "failed" if failures else "done")
        if failures:
            return Result(
                Outcome.FAILED,
                op.ap_id,
                "; ".join(failures),
                messages=op.messages,
                operation=op.id,
                answers=list(op.answers),
                hardware=op.hardware,
            )
        return Result(
            Outcome.DONE,
            op.ap_id,
            messages=op.messages,
            operation=op.id,
            answers=list(op.answers),
            hardware=op.hardware,
        )

    def _online_phase(self, op: Operation) -> list[str]:
        assert op.id is not None
        self.store.set_phase(op.id, "online")
        self.refresh_registrations()
        failures: list[str] = []
        for resource in op.resources:
            self.store.clear_removed(resource)
            for handler in self.handlers_for(resource, "rcm_notify_online"):
                entry = _answer("online", handler, resource)
                op.answers.append(entry)
                ctxs: list[HandlerContext] = []
                try:
                    self.call(handler, "rcm_notify_online", op, _ctx_out=ctxs, resource=resource)
                    self.store.step(op.id, "online", handler, resource, "done")
                    _fill(entry, ctxs, None, "done")
                except HandlerError as e:
                    failures.append(str(e))
                    _fill(entry, ctxs, None, "failed")
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
        if event.source == "udev" and event.get("RCM_IGNORE").strip() == "1":
            log.debug("uevent of %s ignored (RCM_IGNORE=1)", event.get("DEVPATH"))
            return
        if event.action == "rescan":
            log.warning("events may have been lost (%s); rescanning", event.get("REASON"))
            self.refresh_registrations()
            self.reconcile(event.get("REASON", "rescan"))
            return
        if event.action == "reconcile" and event.source == "rcm":
            log.warning("%s; reconciling", event.get("REASON"))
            self.refresh_registrations()
            self.reconcile(event.get("REASON", "reconcile"))
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

        The report says only what was seen: "restored" or "completed" when
        every handler's call returned (a handler returns once it has seen
        its part done: the IPMP handler re-reads the kernel after removing
        an interrupted move's copies).  A handler that failed or ran past
        its timeout leaves the operation marked failed, with what is known:
        its error, and whether the ap's occupant is attached.  rcmd then goes
        on (it listens, it answers), and reconciles once the handler's late
        call returns (see :meth:`_returned_late`).
        """
        reports: list[str] = []
        for rec in self.store.running():
            started = time.monotonic()
            if rec.kind in ("offline", "online"):
                reports.append(self._recover_resource(rec))
                continue
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
            failures: list[str] = []
            if rec.kind == "detach":
                if rec.phase == "query":
                    state = "failed"
                elif rec.phase in ("offline", "hardware") and not detached:
                    op.released = self.store.released(rec.id)
                    failures = self._rollback(op)
                    state = "failed" if failures else "rolled_back"
                else:
                    self._remove_phase(op, op.resources)
                    state = "done"
            else:
                if rec.phase == "hardware" and detached:
                    state = "failed"
                else:
                    failures = self._online_phase(op)
                    state = "failed" if failures else "done"
            self.store.finish(rec.id, state)
            if failures:
                text = self._incomplete(rec.kind, rec.ap_id, detached, failures)
            else:
                text = {
                    "failed": "had changed nothing; marked failed",
                    "rolled_back": "rolled back; the previous configuration was restored",
                    "done": "completed",
                }[state]
            report = (
                f"recovered operation {rec.id} ({op.description},"
                f" interrupted in phase {rec.phase}): {text}"
                f" (in {(time.monotonic() - started) * 1000:.0f} ms)"
            )
            log.warning("%s", report)
            reports.append(report)
        return reports

    def _incomplete(self, kind: str, ap_id: str, detached: bool | None, failures: list[str]) -> str:
        """What a recovery that did not finish can say: no more than it knows."""
        undo, claim = ("rollback", "restored") if kind == "detach" else ("online", "completed")
        where = {
            True: f"{ap_id}'s occupant is detached",
            False: f"{ap_id}'s occupant is attached",
            None: f"whether {ap_id}'s occupant is attached is unknown",
        }[detached]
        stuck = sorted(
            name for name, runner in self.runners.items() if runner.stuck and self.event_sink
        )
        later = (
            f"; rcmd reconciles when handler{'s' if len(stuck) > 1 else ''}"
            f" {', '.join(stuck)} return{'' if len(stuck) > 1 else 's'}"
            if stuck
            else ""
        )
        return (
            f"{undo} incomplete, marked failed; not verified as {claim}: {'; '.join(failures)};"
            f" {where}{later}"
        )

    # -- a resource out of service in place (librcm's offline/online) ----------
    def admit_resource(
        self, action: ResourceAction, resource: str, force: bool = False
    ) -> Operation | Result:
        """Lock ``resource`` (fail fast when busy) for :meth:`run`.  A
        resource no handler registered is refused: nobody would act."""
        if not self.handlers_for(resource, "rcm_request_offline"):
            return Result(Outcome.NO_SUCH_AP, resource, f"no handler uses {resource}")
        op = Operation(next(self._tokens), resource, action, force, [resource])
        try:
            self.locks.acquire([resource], op)
        except BusyError as e:
            return Result(Outcome.BUSY, resource, str(e))
        return op

    def _run_resource(self, op: Operation) -> Result:
        try:
            if op.action is ResourceAction.ONLINE:
                op.id = self.store.begin("online", op.ap_id, op.action.value, op.resources, False)
                failures = self._online_phase(op)
                self.store.finish(op.id, "failed" if failures else "done")
                outcome = Outcome.FAILED if failures else Outcome.DONE
                return Result(
                    outcome, op.ap_id, "; ".join(failures), messages=op.messages, operation=op.id
                )
            return self._offline_in_place(op)
        except RcmError as e:
            return Result(Outcome.FAILED, op.ap_id, str(e), messages=op.messages, operation=op.id)
        finally:
            self.locks.release(op.token)

    def _offline_in_place(self, op: Operation) -> Result:
        """query (all vetoes), then offline journaled step by step; a failure
        rolls back.  No hardware step and no remove: the resource stays, out
        of service, until an online."""
        try:
            self._query_resource(op, op.ap_id)
        except HandlerError as e:
            return self._result(op, Outcome.FAILED, f"query failed: {e}")
        blocking = [v for v in op.vetoes if v.impact.blocks(op.force)]
        if blocking:
            return self._result(op, Outcome.VETOED, self._refusal(op, blocking))
        op.id = self.store.begin("offline", op.ap_id, op.action.value, op.resources, op.force)
        self.store.set_phase(op.id, "offline")
        try:
            self._offline_resource(op, op.ap_id)
            failpoint("offline.done")
        except HandlerError as e:
            log.error("%s: %s; rolling back", op.description, e)
            failures = self._rollback(op)
            self.store.finish(op.id, "failed" if failures else "rolled_back")
            return self._result(
                op, Outcome.FAILED, f"{op.description} failed: {e}", rolled_back=not failures
            )
        self.store.finish(op.id, "done")
        return self._result(op, Outcome.DONE)

    def _recover_resource(self, rec: Any) -> str:
        """An offline in place interrupted by a crash is rolled back (online
        to every handler that began); an online is sent again (idempotent)."""
        op = Operation(
            next(self._tokens),
            rec.ap_id,
            ResourceAction(rec.action),
            rec.force,
            rec.resources,
            id=rec.id,
        )
        if rec.kind == "offline" and rec.phase != "query":
            op.released = self.store.released(rec.id)
            failures = self._rollback(op)
            if failures:
                state = "failed"
                text = self._incomplete("detach", rec.ap_id, False, failures)
            else:
                state, text = "rolled_back", "rolled back; the previous configuration was restored"
        elif rec.kind == "offline":
            state, text = "failed", "had changed nothing; marked failed"
        else:
            state = "failed" if self._online_phase(op) else "done"
            text = "completed" if state == "done" else "failed"
        self.store.finish(rec.id, state)
        report = (
            f"recovered operation {rec.id} ({op.description},"
            f" interrupted in phase {rec.phase}): {text}"
        )
        log.warning("%s", report)
        return report

    # -- reports (read-only, for anyone) --------------------------------------
    def report(self, topic: str) -> dict[str, Any]:
        """Every handler's answer to ``topic`` (see ``rcm_report``): handler
        name -> its data; handlers with nothing to say are left out."""
        answers: dict[str, Any] = {}
        for handler in self.implementers("rcm_report"):
            try:
                value = self.call(handler, "rcm_report", None, topic=topic)
            except HandlerError as e:
                answers[handler] = {"error": str(e)}
                continue
            if value is not None:
                answers[handler] = value
        return answers

    # -- live reload -----------------------------------------------------------
    def reload(self) -> list[str]:
        """Re-read the configuration, all or nothing.

        rcm.toml and every handler's files are read and checked first
        (``rcm_reload_prepare``); any fault raises (ConfigError: one line)
        and nothing changes.  Then the new settings and each handler's new
        configuration are put in force (``rcm_reload_commit``), and the
        registrations refreshed.  Returns one line per handler that said what
        changed, or failed to commit.
        """
        settings = load_settings(self.paths.rcm_toml)
        timeout = handler_timeout(settings)
        prepared: dict[str, Any] = {}
        for handler in self.implementers("rcm_reload_prepare"):
            prepared[handler] = self.call(handler, "rcm_reload_prepare", None)
        self.settings, self.timeout = settings, timeout
        lines: list[str] = []
        for handler, new in prepared.items():
            try:
                summary = self.call(handler, "rcm_reload_commit", None, prepared=new)
            except (HandlerError, ConfigError) as e:
                log.error("reload: %s", e)
                lines.append(f"{handler}: {e}")
                continue
            if summary:
                lines.append(f"{handler}: {' '.join(str(summary).split())}")
        self.refresh_registrations()
        return lines
