"""The object every hook receives: a handler's window onto the coordinator.

Handlers never import the coordinator.  Through the context they log, read
their configuration, keep records that must survive a crash, speak to the
admin, and ask the coordinator to act on resources that depend on the one in
hand (so that the coordinator, not the handler, keeps the order and the
rollback).

A context is bound to one operation.  When a handler's call times out, its
context is fenced: every later call through it raises
:class:`rcm.errors.OperationFenced`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rcm.errors import OperationFenced
from rcm.model import Event, Veto
from rcm.settings import plugin_section

if TYPE_CHECKING:
    from rcm.paths import Paths
    from rcm.store import HandlerStore, Store


class OperationState(Protocol):
    """What a context reads and writes of the operation its call belongs to."""

    id: int | None
    messages: list[str]


class Engine(Protocol):
    """What a context asks of the engine (:class:`rcm.coordinator.Coordinator`).

    The operation a context hands back is the object the engine gave it,
    unchanged, hence ``Any``: only the engine knows its type.
    """

    paths: Paths
    settings: dict[str, Any]
    store: Store

    def dependent_offline(self, op: Any, resource: str, query: bool, force: bool) -> list[Veto]: ...

    def dependent_online(self, op: Any, resource: str) -> None: ...

    def dependent_remove(self, op: Any, resource: str, surprise: bool) -> None: ...

    def resource_added(self, resource: str) -> None: ...

    def resource_removed(self, resource: str) -> None: ...

    def post_event(self, event: Event) -> None: ...

    def refresh_registrations(self) -> None: ...

    def registered_names(self, prefix: str = "") -> list[str]: ...


class HandlerContext:
    """What a handler may see and do.  Created by the coordinator per call."""

    def __init__(
        self,
        coordinator: Engine,
        handler: str,
        operation: OperationState | None,
    ) -> None:
        self._coordinator = coordinator
        self._operation = operation
        self._fenced = False
        self.name = handler
        """The handler's name (its entry-point name)."""
        self.log = logging.getLogger(f"rcm.handler.{handler}")
        """The handler's logger; rcmd sends it to the journal/stderr."""
        self.said: list[str] = []
        """This call's :meth:`message` lines (the engine reports them per handler)."""
        self.planned: list[str] = []
        """This call's :meth:`plan` lines."""

    # -- where things are -------------------------------------------------
    @property
    def config_dir(self) -> Path:
        """``$RCM_CONFIG_DIR`` (default /etc/rcm)."""
        return self._coordinator.paths.config_dir

    @property
    def state_dir(self) -> Path:
        return self._coordinator.paths.state_dir

    @property
    def runtime_dir(self) -> Path:
        return self._coordinator.paths.runtime_dir

    @property
    def settings(self) -> dict[str, Any]:
        """The parsed ``rcm.toml`` (read-only by convention)."""
        return self._coordinator.settings

    def plugin_settings(self, known: Sequence[str]) -> dict[str, Any]:
        """This handler's ``[plugins.<name>]`` section of rcm.toml, checked.

        ``{}`` if absent.  Raises :class:`rcm.errors.ConfigError` naming
        rcm.toml and the key if the section is not a table or has a key not
        in ``known`` (``/etc/rcm/rcm.toml: plugins.net.holdng: unknown key
        (known: holding)``): call it first thing in ``rcm_configure``, then
        check the values, which are yours (see
        :func:`rcm.settings.plugin_section`).
        """
        return plugin_section(self.settings, self.config_dir, self.name, known)

    @property
    def store(self) -> HandlerStore:
        """The handler's own persistent key/value store (SQLite, crash-safe)."""
        self._check()
        return self._coordinator.store.for_handler(self.name, self._check)

    @property
    def operation_id(self) -> int | None:
        """The id of the operation this call belongs to (None for events)."""
        return self._operation.id if self._operation else None

    @property
    def operation_action(self) -> str | None:
        """What the operation this call belongs to does: a cfgadm function
        (``unconfigure``, ``configure`` …), or ``offline``/``online`` for a
        resource taken out of service in place and brought back (no
        hardware step: ``if_mpadm -d``/``-r``).  None outside an operation."""
        action = getattr(self._operation, "action", None)
        return None if action is None else str(getattr(action, "value", action))

    # -- speaking to the admin ----------------------------------------------
    def message(self, text: str) -> None:
        """A line for the admin: logged, and shown by cfgadm for this operation."""
        self._check()
        self.log.warning("%s", text)
        self.said.append(text)
        if self._operation is not None:
            self._operation.messages.append(text)

    def plan(self, text: str) -> None:
        """While querying (``rcm_request_offline(query=True)``), say what
        releasing the resource *would* do, in the words of the message the
        offline would print ("moving addresses from nic0 to nic1: …").

        Shown by ``cfgadm --dry-run`` (and in ``--json``) beside the handler's
        answer; nothing is logged and nothing acts on it.  Optional: a handler
        that says nothing is shown with its usage line and its answer.
        """
        self._check()
        self.planned.append(text)

    # -- acting on dependents (the coordinator keeps order and rollback) ------
    def request_offline(self, resource: str, query: bool, force: bool = False) -> list[Veto]:
        """Ask every consumer of a dependent ``resource`` to go offline.

        With ``query=True`` returns their vetoes (also shown to the admin).
        With ``query=False`` takes them offline; raises if one fails (the
        coordinator then rolls back the whole operation).
        """
        self._check()
        return self._coordinator.dependent_offline(self._operation, resource, query, force)

    def notify_online(self, resource: str) -> None:
        """Tell the consumers of a dependent ``resource`` that it is back."""
        self._check()
        self._coordinator.dependent_online(self._operation, resource)

    def notify_remove(self, resource: str, surprise: bool = False) -> None:
        """Tell the consumers of a dependent ``resource`` that it is gone."""
        self._check()
        self._coordinator.dependent_remove(self._operation, resource, surprise)

    # -- reporting what happened (device-mapping handlers) ------------------
    def resource_added(self, resource: str) -> None:
        """A device appeared: its consumers get ``rcm_notify_online``."""
        self._check()
        self._coordinator.resource_added(resource)

    def resource_removed(self, resource: str) -> None:
        """A device vanished.  If no offline preceded it, this is a surprise
        removal: consumers get ``rcm_notify_remove(surprise=True)``."""
        self._check()
        self._coordinator.resource_removed(resource)

    def post_event(self, event: Event) -> None:
        """Queue an event for every handler (thread-safe; for event sources)."""
        self._coordinator.post_event(event)

    def registered_resources(self, prefix: str = "") -> list[str]:
        """The resources handlers registered by exact name, starting with ``prefix``.

        Every handler's ``rcm_register`` answer counts; glob patterns
        (``net/*``) are left out, since they name no resource in particular.
        Sorted, each name once.  A handler registers a name that may be absent
        now (a configured device not plugged in) so that the plugin owning its
        ap class can show an empty receptacle for it: that plugin's ap backend
        asks here (e.g. ``ctx.registered_resources("net/")``) instead of
        reading another handler's configuration.

        Read-only and cheap, and never fenced (it changes nothing): an ap
        backend may keep the context that ``rcm_ap_backends`` gave it and ask
        on every listing; the answer follows each re-registration.
        """
        return self._coordinator.registered_names(prefix)

    def reregister(self) -> None:
        """Ask the coordinator to call ``rcm_register`` again on every handler."""
        self._check()
        self._coordinator.refresh_registrations()

    # -- fencing -------------------------------------------------------------
    def fence(self) -> None:
        self._fenced = True

    def _check(self) -> None:
        if self._fenced:
            raise OperationFenced(
                f"handler {self.name}: operation {self.operation_id} has ended "
                "(the call timed out); late work through its context is refused"
            )
