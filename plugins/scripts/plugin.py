"""The scripts handler: rcm's phases, put to scripts as rcmscript(4) commands.

Configured like any plugin, in its own section of rcm.toml::

    [plugins.scripts]
    dirs = ["/usr/lib/rcm/scripts"]   # searched after $RCM_CONFIG_DIR/scripts
    max_parallel = 4                  # scripts run at once, at most
    debug_level = 0                   # RCM_ENV_DEBUG_LEVEL, 0-9

The phases and the commands (docs/plugins/scripts.md says the same for
script authors):

=====================================  ==========================================
hook                                   command, to the scripts that named the resource
=====================================  ==========================================
``rcm_register``                       ``scriptinfo`` (once per version of the file), ``register``
``rcm_get_info``                       ``resourceinfo``
``rcm_request_offline`` (query)        ``queryremove``: exit 3 is a veto
``rcm_request_offline`` (offline)      ``preremove``: recorded first, for the undo
``rcm_notify_remove``                  ``postremove``
``rcm_notify_online``                  ``undoremove``, to the scripts whose ``preremove`` ran
=====================================  ==========================================

The coordinator calls this handler once per resource under its timeout
(``[handlers] timeout``); within a call the scripts concerned run in
parallel, at most ``max_parallel`` at once, and each script at most once at
a time.  Each run's timeout is the script's ``rcm_cmd_timeout`` (60 s when
it names none) but never beyond what the handler's call has left, so a
hanging script is ended by this handler rather than abandoned by the
coordinator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rcm import hookimpl
from rcm.context import HandlerContext
from rcm.errors import ConfigError, HandlerError
from rcm.model import Impact, Veto
from rcm.settings import handler_timeout

from . import protocol
from .catalog import Catalog, Script, check_script
from .protocol import Answer, ProtocolError

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from .process import Run

DEFAULT_DIRS = ["/usr/lib/rcm/scripts"]
DEFAULT_SCRIPT_TIMEOUT = 60
"""Seconds a command may take when the script names no ``rcm_cmd_timeout``."""
DEFAULT_MAX_PARALLEL = 4
MAX_PARALLEL = 64
KEYS = ("dirs", "max_parallel", "debug_level")
RELEASED = "released:"
"""Store key prefix: ``released:<resource>`` lists the scripts whose
``preremove`` ran (or began) for it, which ``undoremove`` goes to."""

T = TypeVar("T")


class ScriptFailed(Exception):
    """One script's command did not succeed; the message names the script."""


class ScriptsPlugin:
    def __init__(self, kill_grace: float | None = None) -> None:
        self.kill_grace = kill_grace
        """Seconds from SIGABRT to SIGKILL; None: :data:`rcm_scripts.process.KILL_GRACE`."""
        self.catalog = Catalog([])
        self.max_parallel = DEFAULT_MAX_PARALLEL
        self.debug_level = 0
        self._pool: ThreadPoolExecutor | None = None

    # -- configuration -----------------------------------------------------------
    @hookimpl
    def rcm_configure(self, ctx: HandlerContext) -> str:
        section = ctx.plugin_settings(KEYS)
        path = ctx.config_dir / "rcm.toml"
        where = f"plugins.{ctx.name}"
        dirs = section.get("dirs", DEFAULT_DIRS)
        if not isinstance(dirs, list) or not all(
            isinstance(d, str) and d.startswith("/") for d in dirs
        ):
            raise ConfigError(path, f"{where}.dirs", "must be a list of absolute folder paths")
        max_parallel = section.get("max_parallel", DEFAULT_MAX_PARALLEL)
        if _not_int_in(max_parallel, 1, MAX_PARALLEL):
            raise ConfigError(
                path, f"{where}.max_parallel", f"must be a whole number from 1 to {MAX_PARALLEL}"
            )
        debug_level = section.get("debug_level", 0)
        if _not_int_in(debug_level, 0, 9):
            raise ConfigError(path, f"{where}.debug_level", "must be a whole number from 0 to 9")
        folders = [ctx.config_dir / "scripts", *(Path(d) for d in dirs)]
        catalog = Catalog(folders)
        catalog.refresh(strict=True)  # an unsafe script stops the start, as an unsafe plugin does
        if self._pool is not None and max_parallel != self.max_parallel:
            self._pool.shutdown(wait=False)
            self._pool = None
        self.catalog, self.max_parallel, self.debug_level = catalog, max_parallel, debug_level
        count = len(catalog.ordered())
        return f"{count} script{'s' if count != 1 else ''} ({', '.join(map(str, folders))})"

    # -- registration --------------------------------------------------------------
    @hookimpl
    def rcm_register(self, ctx: HandlerContext) -> list[str]:
        deadline = self._deadline(ctx)
        for problem in self.catalog.refresh(strict=False):
            ctx.log.error("script refused: %s", problem)
        scripts = self.catalog.ordered()
        new = [s for s in scripts if s.info is None and s.disabled is None]
        self._each(new, lambda s: self._scriptinfo(ctx, s, deadline))
        self._each([s for s in scripts if s.usable], lambda s: self._register(ctx, s, deadline))
        names: list[str] = []
        for script in scripts:
            if script.usable:
                names += [n for n in script.names if n not in names]
        return names

    def _scriptinfo(self, ctx: HandlerContext, script: Script, deadline: float) -> None:
        try:
            outcome, answer = self._run(ctx, script, protocol.SCRIPTINFO, None, deadline)
            if outcome.status != protocol.EXIT_OK:
                raise ScriptFailed(f"script {script.name}: scriptinfo {outcome.describe()}")
            script.info = protocol.script_info(answer)
        except ProtocolError as e:
            self._disable(ctx, script, str(e))
        except ScriptFailed as e:  # asked again at the next registration
            ctx.log.error("%s", e)

    def _register(self, ctx: HandlerContext, script: Script, deadline: float) -> None:
        try:
            outcome, answer = self._run(ctx, script, protocol.REGISTER, None, deadline)
            if outcome.status == protocol.EXIT_UNSUPPORTED:
                script.names = []
            elif outcome.status == protocol.EXIT_OK:
                script.names = protocol.resource_names(answer)
            else:
                raise ScriptFailed(self._failure(script, protocol.REGISTER, None, outcome, answer))
        except ProtocolError as e:
            self._disable(ctx, script, str(e))
        except ScriptFailed as e:  # it keeps what it registered before
            ctx.log.error("%s; keeping its previous registration", e)

    # -- listing -------------------------------------------------------------------
    @hookimpl
    def rcm_get_info(self, ctx: HandlerContext, resource: str) -> str | None:
        deadline = self._deadline(ctx)

        def info(script: Script) -> str | None:
            try:
                outcome, answer = self._checked(
                    ctx, script, protocol.RESOURCEINFO, resource, deadline
                )
            except ScriptFailed as e:
                return f"{script.name}: (no information: {e})"
            if outcome.status == protocol.EXIT_UNSUPPORTED:
                return None
            if outcome.status != protocol.EXIT_OK:
                failure = self._failure(script, protocol.RESOURCEINFO, resource, outcome, answer)
                return f"{script.name}: (no information: {failure})"
            usage = answer.get("rcm_resource_usage_info")
            return f"{script.name}: {usage.strip()}" if usage and usage.strip() else None

        lines = [line for line in self._each(self._interested(resource), info) if line]
        return "; ".join(lines) if lines else None

    # -- detach --------------------------------------------------------------------
    @hookimpl
    def rcm_request_offline(
        self, ctx: HandlerContext, resource: str, query: bool, force: bool
    ) -> Veto | None:
        deadline = self._deadline(ctx)
        scripts = self._interested(resource)
        if not scripts:
            return None
        if query:
            return self._queryremove(ctx, scripts, resource, force, deadline)
        # Record before acting: a rollback, or a restart after a crash, finds
        # every script whose preremove began (the one that fails included).
        self._record(ctx, resource, [s.name for s in scripts])

        _raise_failures(
            self._notify(ctx, scripts, protocol.PREREMOVE, resource, deadline, force=force)
        )
        return None

    def _queryremove(
        self,
        ctx: HandlerContext,
        scripts: list[Script],
        resource: str,
        force: bool,
        deadline: float,
    ) -> Veto | None:
        def ask(script: Script) -> tuple[str | None, tuple[Impact, str] | None]:
            """(failure, refusal) of one script."""
            try:
                outcome, answer = self._checked(
                    ctx, script, protocol.QUERYREMOVE, resource, deadline, force=force
                )
                if outcome.status == protocol.EXIT_REFUSE:
                    impact = protocol.veto_impact(answer)
                    reason = (answer.get(protocol.FAILURE_REASON) or "").strip()
                    return None, (impact, reason or f"{script.name} refuses to release {resource}")
            except ProtocolError as e:
                self._disable(ctx, script, str(e))
                return f"script {script.name}: {e}; the script is disabled", None
            except ScriptFailed as e:
                return str(e), None
            if outcome.status in (protocol.EXIT_OK, protocol.EXIT_UNSUPPORTED):
                return None, None
            return self._failure(script, protocol.QUERYREMOVE, resource, outcome, answer), None

        answers = self._each(scripts, ask)
        _raise_failures(failure for failure, _ in answers)
        refusals = [(s, r) for s, (_, r) in zip(scripts, answers, strict=True) if r is not None]
        if not refusals:
            return None
        # One veto per handler and resource: the strongest level, every reason,
        # each after its script's name (as the usage lines are).
        order = [Impact.WARNING, Impact.DATA, Impact.SYSTEM]
        impact = max((r[0] for _, r in refusals), key=order.index)
        reason = "; ".join(f"{s.name}: {r[1]}" for s, r in refusals)
        return Veto(reason, impact, resource, ctx.name)

    @hookimpl
    def rcm_notify_remove(self, ctx: HandlerContext, resource: str, surprise: bool) -> None:
        deadline = self._deadline(ctx)
        recorded = set(ctx.store.get(RELEASED + resource) or [])
        scripts = [
            s
            for s in self.catalog.ordered()
            if s.usable and (s.wants(resource) or s.name in recorded)
        ]
        _raise_failures(self._notify(ctx, scripts, protocol.POSTREMOVE, resource, deadline))

    # -- rollback and reattach -------------------------------------------------------
    @hookimpl
    def rcm_notify_online(self, ctx: HandlerContext, resource: str) -> None:
        recorded = ctx.store.get(RELEASED + resource) or []
        if not recorded:
            return  # no preremove ran for it: nothing to undo
        deadline = self._deadline(ctx)
        known = self.catalog.scripts  # refused and disabled ones too
        unasked = [known[n] for n in recorded if n in known and known[n].info is None]
        self._each(
            [s for s in unasked if s.refused is None and s.disabled is None],
            lambda s: self._scriptinfo(ctx, s, deadline),
        )
        scripts = [known[n] for n in recorded if n in known and known[n].usable]
        waiting = []  # disabled or unsafe now: undone once it is usable again
        for name in recorded:
            script = known.get(name)
            if script is None or not script.path.exists():
                ctx.log.warning("script %s is gone; it gets no undoremove for %s", name, resource)
            elif not script.usable:
                why = script.disabled or script.refused or "not answering scriptinfo"
                ctx.log.warning("script %s gets no undoremove for %s now: %s", name, resource, why)
                waiting.append(name)

        failures = self._notify(ctx, scripts, protocol.UNDOREMOVE, resource, deadline)
        # Keep in the record the scripts whose undo failed or must wait: asked next time.
        left = waiting + [s.name for s, f in zip(scripts, failures, strict=True) if f is not None]
        if left:
            ctx.store.set(RELEASED + resource, sorted(left))
        else:
            ctx.store.delete(RELEASED + resource)
        _raise_failures(failures)

    # -- running a command ---------------------------------------------------------
    def _deadline(self, ctx: HandlerContext) -> float:
        """When this call must be over: a little before the coordinator's timeout."""
        budget = handler_timeout(ctx.settings)
        return time.monotonic() + budget - min(1.0, budget * 0.1)

    def _interested(self, resource: str) -> list[Script]:
        return [s for s in self.catalog.ordered() if s.usable and s.wants(resource)]

    def _each(self, scripts: Iterable[Script], fn: Callable[[Script], T]) -> list[T]:
        """``fn`` on each script, in parallel (at most ``max_parallel`` at once);
        the results in the scripts' order."""
        scripts = list(scripts)
        if len(scripts) <= 1:
            return [fn(s) for s in scripts]
        if self._pool is None:  # made on first need: cfgadm's engine often has no script
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.max_parallel, thread_name_prefix="rcm-script")
        return [f.result() for f in [self._pool.submit(fn, s) for s in scripts]]

    def _notify(
        self,
        ctx: HandlerContext,
        scripts: list[Script],
        command: str,
        resource: str,
        deadline: float,
        force: bool | None = None,
    ) -> list[str | None]:
        """``command`` to each script, in parallel: the failure of each, or None.

        Exit 0 and 2 (not implemented) succeed; 1, 3 and anything else fail."""

        def one(script: Script) -> str | None:
            try:
                outcome, answer = self._checked(ctx, script, command, resource, deadline, force)
            except ScriptFailed as e:
                return str(e)
            if outcome.status in (protocol.EXIT_OK, protocol.EXIT_UNSUPPORTED):
                return None
            return self._failure(script, command, resource, outcome, answer)

        return self._each(scripts, one)

    def _checked(
        self,
        ctx: HandlerContext,
        script: Script,
        command: str,
        resource: str | None,
        deadline: float,
        force: bool | None = None,
    ) -> tuple[Run, Answer]:
        """:meth:`_run`, with a protocol error disabling the script and
        becoming a :class:`ScriptFailed`."""
        try:
            return self._run(ctx, script, command, resource, deadline, force)
        except ProtocolError as e:
            self._disable(ctx, script, str(e))
            raise ScriptFailed(f"script {script.name}: {e}; the script is disabled") from None

    def _run(
        self,
        ctx: HandlerContext,
        script: Script,
        command: str,
        resource: str | None,
        deadline: float,
        force: bool | None = None,
    ) -> tuple[Run, Answer]:
        """Run one command of one script; its ``rcm_log_*`` lines and stderr
        are logged under its name.  Raises :class:`ProtocolError` for a
        broken answer, :class:`ScriptFailed` when it could not run or did
        not finish."""
        from .process import KILL_GRACE, MAX_OUTPUT, environment, run  # only when a script runs

        what = f"{command} {resource}" if resource else command
        if not script.running.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise ScriptFailed(
                f"script {script.name}: {what} not run: the script is still running an earlier"
                " command"
            )
        try:
            check_script(script.path)  # again: the file may have changed since the folder was read
        except ConfigError as e:
            script.running.release()
            raise ScriptFailed(f"script {script.name}: {what} not run: {e}") from None
        own = DEFAULT_SCRIPT_TIMEOUT if script.info is None else script.info.timeout
        if own is None:
            own = DEFAULT_SCRIPT_TIMEOUT
        left = max(0.01, deadline - time.monotonic())
        timeout = left if own == 0 else min(own, left)
        argv = [str(script.path), command] + ([resource] if resource is not None else [])
        outcome = run(
            argv,
            environment(self.debug_level, force),
            timeout,
            kill_grace=KILL_GRACE if self.kill_grace is None else self.kill_grace,
            done=script.running.release,
        )
        log = ctx.log.getChild(script.name)
        for line in outcome.stderr.splitlines():
            if line.strip():
                log.warning("%s: stderr: %s", what, line)
        if outcome.error is not None or outcome.timed_out:
            raise ScriptFailed(f"script {script.name}: {what} {outcome.describe()}")
        if outcome.overflow:
            raise ProtocolError(f"{command}: more than {MAX_OUTPUT} bytes on stdout")
        answer = protocol.parse(command, outcome.stdout)
        for level, text in answer.logs:
            log.log(level, "%s", text)
        return outcome, answer

    @staticmethod
    def _record(ctx: HandlerContext, resource: str, names: list[str]) -> None:
        existing = ctx.store.get(RELEASED + resource) or []
        ctx.store.set(RELEASED + resource, sorted(set(existing) | set(names)))

    def _disable(self, ctx: HandlerContext, script: Script, why: str) -> None:
        script.disabled = why
        ctx.log.error(
            "script %s (%s) disabled: %s; fix it, and rcm asks it again once the file changes",
            script.name,
            script.path,
            why,
        )

    @staticmethod
    def _failure(
        script: Script, command: str, resource: str | None, outcome: Run, answer: Answer
    ) -> str:
        """The one line for a command that ran but did not succeed."""
        what = f"{command} {resource}" if resource else command
        if outcome.status == protocol.EXIT_REFUSE:
            how = "refused"
        elif outcome.status == protocol.EXIT_ERROR:
            how = "failed"
        else:
            how = outcome.describe()
        reason = (answer.get(protocol.FAILURE_REASON) or "").strip()
        return f"script {script.name}: {what} {how}" + (f": {reason}" if reason else "")


def _raise_failures(failures: Iterable[str | None]) -> None:
    found = [f for f in failures if f]
    if found:
        raise HandlerError("; ".join(found))


def _not_int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high


plugin = ScriptsPlugin()
