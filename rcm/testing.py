"""A test harness for handler authors: the real engine, fake hardware, no root.

Most authors use it through rcm's pytest plugin (:mod:`rcm.pytest_plugin`:
fixtures that load the handler from its installed entry point).  Used
directly, in any pytest suite::

    from rcm.testing import Harness

    def test_my_veto(tmp_path):
        with Harness(tmp_path, plugins={"mine": my_plugin}, slots=["s1"]) as h:
            result = h.detach("slot:s1")
            assert result.outcome is Outcome.VETOED
            assert h.calls.steps("mine") == [("mine", "query", "/devices/s1")]

What runs is what rcmd runs: the :class:`rcm.coordinator.Coordinator` with its
registry, locks, journal (SQLite under ``tmp_path``), per-handler threads,
timeouts and fencing (:mod:`rcm.runner`).  Only two things are stand-ins:

- the hardware: a ``slot:`` ap class whose state lives in a fake sysfs-like tree
  (``<root>/<slot>/present`` holds ``1`` or ``0``), read by the backend each
  time it is asked, exactly as a real backend reads ``/sys``.  So the state
  survives :meth:`Harness.restart` as it would survive a crash, and the
  hardware step can be told to fail (:meth:`Harness.fail_hardware`) to test
  that a handler restores what it released when the detach is rolled back;
- delivery of events: rcmd queues them for its worker thread; the harness hands
  them to the coordinator on the caller's thread (as cfgadm does when it runs
  the engine in-process), so a test sees their effects as soon as the call
  returns.

Every hook call the coordinator makes, and every hardware step, is recorded
in :attr:`Harness.calls` (a :class:`CallLog`), so a test can assert what its
handler was told, in which order, and what it answered.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pluggy

from rcm import hookimpl, hookspecs
from rcm.context import HandlerContext
from rcm.coordinator import Coordinator, Operation
from rcm.errors import HardwareError
from rcm.failpoints import POINTS
from rcm.model import (
    Action,
    ApInfo,
    Condition,
    Event,
    Listing,
    Occupant,
    Receptacle,
    Result,
)
from rcm.paths import Paths
from rcm.plugins import ENTRY_POINT_GROUP, check_safe, make_plugin_manager
from rcm.settings import load_settings
from rcm.store import HandlerStore

SLOT_HANDLER = "slots"
"""The name the harness registers its slot plugin under (reserved)."""

HARDWARE = "hardware"
"""The pseudo-handler name under which hardware steps appear in the call log."""

HOOK_NAMES = frozenset(n for n in dir(hookspecs) if n.startswith("rcm_"))


# -- the fake hardware ----------------------------------------------------------
def make_slots(
    root: Path, *names: str, resources: Mapping[str, Sequence[str]] | None = None
) -> Path:
    """Create a fake sysfs-like tree with one occupied slot per name.

    ``<root>/<name>/present`` holds ``1``.  A slot listed in ``resources`` also
    gets ``<root>/<name>/resources`` (one name a line): the resources its
    occupant carries besides ``/devices/<name>``.  Returns ``root``.
    """
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "present").write_text("1\n")
        extra = (resources or {}).get(name)
        if extra:
            (root / name / "resources").write_text("".join(f"{r}\n" for r in extra))
    return root


class SlotBackend:
    """The ``slot:`` ap class: occupied or empty slots in a fake sysfs tree.

    Keeps no state of its own (the tree is the truth, as the kernel is for a
    real backend), so it answers correctly after a simulated crash.  Hardware
    failures are injected per step and per slot through :attr:`failures`.
    """

    prefix = "slot"

    def __init__(self, root: Path, fail_disconnect: bool = False) -> None:
        self.root = root
        self.failures: dict[tuple[str, str], str] = {}
        """(step, slot or ``*``) -> the HardwareError message to raise."""
        self.observer: Any = None
        """Called as ``observer(step, ap_id)`` before each hardware step."""
        if fail_disconnect:
            self.failures[("disconnect", "*")] = "slot power stuck on"

    def _present(self, name: str) -> bool:
        return (self.root / name / "present").read_text().strip() == "1"

    def resources(self, name: str) -> tuple[str, ...]:
        """``/devices/<name>`` and any extra names listed in the slot's tree."""
        extra = self.root / name / "resources"
        lines = extra.read_text().split() if extra.exists() else []
        return (f"/devices/{name}", *lines)

    def list(self) -> list[ApInfo]:
        if not self.root.is_dir():
            return []
        aps = (self.get(f"slot:{p.name}") for p in sorted(self.root.iterdir()) if p.is_dir())
        return [a for a in aps if a]

    def get(self, ap_id: str) -> ApInfo | None:
        name = ap_id.partition(":")[2]
        if not name or not (self.root / name).is_dir():
            return None
        present = self._present(name)
        return ApInfo(
            ap_id,
            "slot",
            Receptacle.CONNECTED if present else Receptacle.DISCONNECTED,
            Occupant.CONFIGURED if present else Occupant.UNCONFIGURED,
            Condition.OK if present else Condition.UNKNOWN,
            resources=self.resources(name),
        )

    def supports(self, action: Action) -> bool:
        return True

    def _step(self, step: str, ap: ApInfo) -> str:
        if self.observer is not None:
            self.observer(step, ap.ap_id)
        name = ap.ap_id.partition(":")[2]
        message = self.failures.get((step, name), self.failures.get((step, "*")))
        if message is not None:
            raise HardwareError(f"{ap.ap_id}: {message}")
        return name

    def disconnect(self, ap: ApInfo, action: Action) -> None:
        name = self._step("disconnect", ap)
        (self.root / name / "present").write_text("0\n")

    def connect(self, ap: ApInfo, action: Action) -> None:
        name = self._step("connect", ap)
        (self.root / name / "present").write_text("1\n")

    def detached(self, ap_id: str) -> bool:
        return not self._present(ap_id.partition(":")[2])


class SlotPlugin:
    """Provides the ``slot:`` ap class, and turns the harness's ``slot``
    events into resource events, as the network plugin does for udev."""

    def __init__(self, backend: SlotBackend) -> None:
        self.backend = backend

    @hookimpl
    def rcm_ap_backends(self) -> list[SlotBackend]:
        return [self.backend]

    @hookimpl
    def rcm_notify_event(self, ctx: HandlerContext, event: Event) -> None:
        if event.source != "slot":
            return
        resource = event.get("RESOURCE")
        if event.action == "remove" and resource:
            ctx.resource_removed(resource)
        elif event.action == "add" and resource:
            ctx.resource_added(resource)


# -- the call log ---------------------------------------------------------------
_STEP_NAMES = {
    "rcm_notify_online": "online",
    "rcm_notify_remove": "remove",
    "rcm_get_info": "info",
    "rcm_notify_event": "event",
    "rcm_register": "register",
    "rcm_configure": "configure",
    "rcm_reconcile": "reconcile",
}


OPERATION_STEPS = frozenset(
    {"query", "offline", "online", "remove", "remove!", "disconnect", "connect"}
)


@dataclass
class Call:
    """One hook call the coordinator made to a handler (or a hardware step).

    ``args`` are the hook's keyword arguments without ``ctx``; ``result`` is
    what the handler returned, ``error`` the coordinator's message if it
    raised or timed out (then ``result`` is None).  ``done`` means the
    coordinator stopped waiting: a call that timed out may still be running.
    """

    handler: str
    hook: str
    args: dict[str, Any]
    operation: int | None = None
    result: Any = None
    error: str | None = None
    done: bool = False

    @property
    def resource(self) -> str | None:
        return self.args.get("resource")

    @property
    def step(self) -> str:
        """A short name: ``query``/``offline`` for rcm_request_offline,
        ``remove!`` for a surprise removal, ``online``, ``remove``, … and the
        hardware step (``disconnect``/``connect``)."""
        if self.hook == "rcm_request_offline":
            return "query" if self.args.get("query") else "offline"
        if self.hook == "rcm_notify_remove" and self.args.get("surprise"):
            return "remove!"
        return _STEP_NAMES.get(self.hook, self.hook)

    @property
    def target(self) -> str:
        if "resource" in self.args:
            return str(self.args["resource"])
        if "ap_id" in self.args:
            return str(self.args["ap_id"])
        if "event" in self.args:
            event: Event = self.args["event"]
            return f"{event.source}:{event.action}"
        return str(self.args.get("reason", ""))


class CallLog:
    """Every call the coordinator made, in the order the calls began.

    Thread-safe: a handler that takes a dependent offline through its context
    makes the coordinator call other handlers from its own thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []

    def add(self, call: Call) -> Call:
        with self._lock:
            self._calls.append(call)
        return call

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def __iter__(self) -> Iterator[Call]:
        with self._lock:
            return iter(list(self._calls))

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)

    def of(
        self, handler: str | None = None, hook: str | None = None, resource: str | None = None
    ) -> list[Call]:
        """The calls matching every filter given."""
        return [
            c
            for c in self
            if (handler is None or c.handler == handler)
            and (hook is None or c.hook == hook)
            and (resource is None or c.resource == resource)
        ]

    def steps(self, *handlers: str, everything: bool = False) -> list[tuple[str, str, str]]:
        """``(handler, step, target)`` of the operation steps, for asserting order.

        Only the steps of an operation are listed (query, offline, the
        hardware step, online, remove); pass ``everything=True`` to include
        register, info, event, configure and reconcile calls too.  With
        ``handlers``, only theirs (name ``"hardware"`` for hardware steps).
        """
        return [
            (c.handler, c.step, c.target)
            for c in self
            if (not handlers or c.handler in handlers) and (everything or c.step in OPERATION_STEPS)
        ]


class _ObservedCoordinator(Coordinator):
    """The coordinator, with every hook call recorded before and after.

    Overrides only :meth:`Coordinator.call` (the one door to handler code) and
    delegates to it unchanged, so timeouts, fencing and errors are the real
    ones.
    """

    calls: CallLog

    def call(
        self,
        handler: str,
        hook: str,
        op: Operation | None,
        wait_stuck: bool = False,
        **kwargs: Any,
    ) -> Any:
        if self._impl(handler, hook) is None:
            return None
        record = self.calls.add(Call(handler, hook, dict(kwargs), op.id if op else None))
        try:
            record.result = super().call(handler, hook, op, wait_stuck, **kwargs)
        except Exception as e:
            record.error = str(e)
            raise
        finally:
            record.done = True
        return record.result


# -- plugin checks --------------------------------------------------------------
class PluginMistake(Exception):
    """A plugin that rcm would load wrongly or silently ignore in part."""


def check_plugin(name: str, plugin: object) -> None:
    """Catch the mistakes pluggy lets through or reports tersely.

    - a function named like a hook but not marked ``@rcm.hookimpl`` is
      silently ignored by pluggy: the handler would never be asked;
    - a marked function whose name is not a hook (``rcm_request_ofline``) is
      refused by ``check_pending`` without saying what was meant.
    """
    hookimpl_attr = "rcm_impl"  # pluggy stores HookimplMarker("rcm") options here
    for attr in dir(plugin):
        if not attr.startswith("rcm_"):
            continue
        value = getattr(plugin, attr, None)
        if not callable(value):
            continue
        marked = hasattr(value, hookimpl_attr)
        if attr in HOOK_NAMES and not marked:
            raise PluginMistake(
                f"plugin {name!r}: {attr} is not marked @rcm.hookimpl; rcm would never call it"
            )
        if attr not in HOOK_NAMES and marked:
            near = difflib.get_close_matches(attr, sorted(HOOK_NAMES), n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            raise PluginMistake(f"plugin {name!r}: {attr} is not an rcm hook{hint}")


def load_entry_point(name: str) -> object:
    """The handler installed as entry point ``name`` of the ``rcm.plugins``
    group, loaded as rcmd loads it: the ownership rule first
    (:func:`rcm.plugins.check_safe`), then the import, then
    :func:`check_plugin`.

    Raises :class:`PluginMistake` if no such entry point is installed (the
    usual cause: the package was not ``pip install``-ed into the environment
    pytest runs in), :class:`rcm.plugins.UnsafePlugin` as rcmd would.
    """
    import importlib

    from rcm.entrypoints import entry_points

    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        installed = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
        raise PluginMistake(
            f"no {ENTRY_POINT_GROUP!r} entry point named {name!r} is installed"
            f" (installed: {', '.join(installed) or 'none'}); pip install your package"
            " (pip install -e .) into the environment pytest runs in"
        )
    ep = found[0]
    check_safe(name, ep.module)
    plugin: object = importlib.import_module(ep.module)
    if ep.attr:
        for attr in ep.attr.split("."):
            plugin = getattr(plugin, attr)
    check_plugin(name, plugin)
    return plugin


class SimulatedCrash(BaseException):
    """Raised at a failpoint by :meth:`Harness.crash_during`: the engine stops
    there as if the process had been killed.

    A BaseException, so that no ``except Exception`` in the engine (or in a
    handler) treats it as an error to roll back: the journal is left exactly as
    a SIGKILL at that point would leave it.
    """


# -- the harness ----------------------------------------------------------------
class Harness:
    """A coordinator with the given plugins and a fake ``slot:`` ap class.

    Arguments:

    - ``root``: a folder of its own (pytest's ``tmp_path``).  The harness makes
      ``etc/`` (``$RCM_CONFIG_DIR``), ``state/``, ``run/`` and ``sys/`` (the
      slots' tree) under it.
    - ``plugins``: ``{handler name: plugin object or module}``, registered as
      the ``rcm.plugins`` entry points would be (and checked by
      :func:`check_plugin`).
    - ``slots``: slot names (each carries ``/devices/<name>``), or a mapping
      ``{name: [extra resources]}`` for slots that carry more.
    - ``timeout``: ``[handlers] timeout`` in seconds (overrides ``rcm_toml``).
    - ``rcm_toml``: the text of ``rcm.toml`` (e.g. your ``[plugins.<name>]``
      section), written to the config folder and read and checked exactly as
      rcmd reads it; ``config_files`` more files for the config folder
      (``{"interfaces/nic0.toml": "..."}``).
    - ``load_entry_points``: also load the installed ``rcm.plugins`` entry
      points (yours, once pip-installed, and the built-ins).  Off by default:
      the built-in network handlers observe the real kernel.
    - ``reconcile``: call ``rcm_reconcile(reason="start")`` at start, as rcmd
      does (cfgadm's in-process engine does not).

    Use it as a context manager (or call :meth:`close`) so that the handler
    threads are stopped and the database closed.
    """

    def __init__(
        self,
        root: Path,
        plugins: Mapping[str, object] | None = None,
        slots: Iterable[str] | Mapping[str, Sequence[str]] = ("s1",),
        timeout: float | None = 5.0,
        rcm_toml: str = "",
        config_files: Mapping[str, str] | None = None,
        load_entry_points: bool = False,
        reconcile: bool = True,
    ) -> None:
        self.root = Path(root)
        self.paths = Paths(self.root / "etc", self.root / "state", self.root / "run")
        self.sysfs = self.root / "sys"
        self.plugins = dict(plugins or {})
        self.timeout = timeout
        self.load_entry_points = load_entry_points
        self.calls = CallLog()
        self.recovered: list[str] = []
        """What journal recovery reported at the last start (see :meth:`restart`)."""
        if SLOT_HANDLER in self.plugins:
            raise PluginMistake(f"the handler name {SLOT_HANDLER!r} is the harness's own")
        for name, plugin in self.plugins.items():
            check_plugin(name, plugin)
        self.paths.config_dir.mkdir(parents=True, exist_ok=True)
        if rcm_toml:
            self.paths.rcm_toml.write_text(rcm_toml)
        for rel, text in (config_files or {}).items():
            path = self.paths.config_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        if not self.sysfs.exists():
            extra = slots if isinstance(slots, Mapping) else {}
            make_slots(self.sysfs, *slots, resources=extra)
        self.backend = SlotBackend(self.sysfs)
        self.backend.observer = self._hardware_step
        self.coordinator = self._start(reconcile)

    # -- life ---------------------------------------------------------------
    def _start(self, reconcile: bool) -> Coordinator:
        settings = load_settings(self.paths.rcm_toml)  # ConfigError as rcmd would give
        if self.timeout is not None:
            settings = {**settings, "handlers": {**settings.get("handlers", {})}}
            settings["handlers"]["timeout"] = self.timeout
        pm: pluggy.PluginManager = make_plugin_manager(
            load_entry_points=self.load_entry_points,
            extra=[(SLOT_HANDLER, SlotPlugin(self.backend)), *self.plugins.items()],
        )
        coordinator = _ObservedCoordinator(self.paths, pm, settings=settings)
        coordinator.calls = self.calls
        try:
            # Coordinator.start, spelled out to keep recovery's reports
            coordinator.configure()
            self.recovered = coordinator.recover()
            if reconcile:
                coordinator.reconcile("start")
        except BaseException:
            coordinator.stop()
            raise
        return coordinator

    def restart(
        self, plugins: Mapping[str, object] | None = None, reconcile: bool = True
    ) -> list[str]:
        """Stop and start again on the same folders, as after a crash.

        The journal and every handler's store survive; the coordinator's
        recovery runs (pass fresh plugin objects in ``plugins`` so that no
        in-memory state survives either).  Returns recovery's reports.
        """
        self.coordinator.stop()
        if plugins is not None:
            for name, plugin in plugins.items():
                check_plugin(name, plugin)
            self.plugins = dict(plugins)
        self.coordinator = self._start(reconcile)
        return self.recovered

    def crash_during(
        self,
        ap_id: str,
        at: str,
        force: bool = False,
        plugins: Mapping[str, object] | None = None,
    ) -> list[str]:
        """Start an operation on ``ap_id``, crash at failpoint ``at``, restart.

        ``at`` is one of :data:`rcm.failpoints.POINTS` (``query.done``,
        ``offline.step``, ``offline.done``, ``hardware.done``, ``remove.done``
        for a detach; ``attach.hardware.done`` for an attach).  The engine stops
        there as rcmd does when killed (``RCM_FAILPOINT``, which rcm's own
        recovery tests use with a real SIGKILL): no rollback, the journal as
        written so far, the fake hardware as it was.  Then :meth:`restart` runs
        journal recovery, which completes or rolls back the operation; pass
        fresh plugin objects in ``plugins`` so that no in-memory state
        survives.  Returns recovery's reports.  Raises AssertionError if the
        operation ended without reaching ``at`` (a veto, for instance).
        """
        from rcm import coordinator as engine

        if at not in POINTS:
            raise ValueError(f"no failpoint {at!r}; known: {', '.join(POINTS)}")
        original = engine.failpoint

        def crash(name: str) -> None:
            if name == at:
                raise SimulatedCrash(at)
            original(name)

        engine.failpoint = crash
        try:
            if at.startswith("attach."):
                result = self.attach(ap_id)
            else:
                result = self.detach(ap_id, force=force)
        except SimulatedCrash:
            pass
        else:
            raise AssertionError(f"{ap_id}: the operation never reached {at}: {result}")
        finally:
            engine.failpoint = original
        return self.restart(plugins)

    def close(self) -> None:
        """Stop every handler thread and close the database."""
        self.coordinator.stop()

    def __enter__(self) -> Harness:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what cfgadm asks -------------------------------------------------------
    def detach(
        self, ap_id: str, force: bool = False, action: Action = Action.UNCONFIGURE
    ) -> Result:
        """``cfgadm -c unconfigure [-f] ap_id``: query, offline, hardware, remove."""
        return self.coordinator.change_state(action, ap_id, force)

    def attach(self, ap_id: str, action: Action = Action.CONFIGURE) -> Result:
        """``cfgadm -c configure ap_id``: hardware, then online."""
        return self.coordinator.change_state(action, ap_id, False)

    def query(self, ap_id: str, force: bool = False) -> Result:
        """The query phase of a detach alone (what cfgadm -f shows before asking)."""
        return self.coordinator.change_state(Action.UNCONFIGURE, ap_id, force, query_only=True)

    def listing(self, verbose: bool = True, ap_ids: Sequence[str] = ()) -> Listing:
        """``cfgadm -l[v] [ap_id …]``; verbose adds every handler's rcm_get_info."""
        return self.coordinator.list_aps(list(ap_ids), verbose)

    # -- what the system does -----------------------------------------------------
    def event(self, event: Event) -> None:
        """Deliver an event to every handler's rcm_notify_event (as rcmd's worker)."""
        self.coordinator.post_event(event)

    def surprise_remove(self, target: str) -> None:
        """Pull hardware out without asking anyone.

        ``target`` is a slot (``slot:s1``: its ``present`` becomes 0 and every
        resource it carries is reported gone) or one resource name.  Consumers
        get ``rcm_notify_remove(surprise=True)``, unless an rcm operation had
        already removed the resource.
        """
        for resource in self._resources_of(target, present=False):
            self.event(Event("slot", "remove", {"RESOURCE": resource}))

    def hot_add(self, target: str) -> None:
        """Insert hardware without cfgadm (a slot or one resource): consumers
        get ``rcm_notify_online``, as when a device reappears."""
        for resource in self._resources_of(target, present=True):
            self.event(Event("slot", "add", {"RESOURCE": resource}))

    def _resources_of(self, target: str, present: bool) -> tuple[str, ...]:
        if not target.startswith("slot:"):
            return (target,)
        name = target.partition(":")[2]
        if not (self.sysfs / name).is_dir():
            raise KeyError(f"no such slot: {target}")
        (self.sysfs / name / "present").write_text("1\n" if present else "0\n")
        return self.backend.resources(name)

    def fail_hardware(
        self, step: str = "disconnect", slot: str = "*", message: str = "injected failure"
    ) -> None:
        """Make the hardware step ``disconnect`` or ``connect`` raise
        HardwareError (for ``slot``, a name like ``s1``, or every slot), until
        :meth:`heal_hardware`.  A failing disconnect rolls the detach back."""
        if step not in ("disconnect", "connect"):
            raise ValueError("step must be 'disconnect' or 'connect'")
        self.backend.failures[(step, slot.removeprefix("slot:"))] = message

    def heal_hardware(self) -> None:
        self.backend.failures.clear()

    def present(self, slot: str) -> bool:
        """Whether the slot's occupant is in the system (its ``present`` file)."""
        name = slot.removeprefix("slot:")
        return (self.sysfs / name / "present").read_text().strip() == "1"

    # -- what a test inspects -----------------------------------------------------
    def store(self, handler: str) -> HandlerStore:
        """A handler's persistent store, as its ``ctx.store`` sees it."""
        return self.coordinator.store.for_handler(handler)

    def reregister(self) -> None:
        """Ask every handler's rcm_register again (devices changed)."""
        self.coordinator.refresh_registrations()

    def handlers_for(self, resource: str) -> list[str]:
        """Which handlers the registry says consume ``resource``."""
        return self.coordinator.handlers_for(resource)

    def _hardware_step(self, step: str, ap_id: str) -> None:
        record = Call(HARDWARE, step, {"ap_id": ap_id})
        record.done = True
        self.calls.add(record)


__all__ = [
    "HARDWARE",
    "SLOT_HANDLER",
    "Call",
    "CallLog",
    "Harness",
    "PluginMistake",
    "SimulatedCrash",
    "SlotBackend",
    "SlotPlugin",
    "check_plugin",
    "load_entry_point",
    "make_slots",
]
