"""Calling a handler under a timeout.

Each handler gets one long-lived thread of its own, and every call to it runs
there.  So a handler keeps thread-bound resources between calls (a library
object that must be used from the thread that made it, a per-thread socket or
database connection), sees its calls strictly one at a time, and the caller
can stop waiting after the timeout.

A Python thread cannot be killed.  When a call times out, the caller fences
the call's context (every later call through ``ctx`` raises
OperationFenced) and the operation fails and rolls back; while the stuck call
is still running, further calls to that handler fail at once ("still stuck")
instead of piling up behind it.  Once it returns, the handler is usable again,
and :attr:`HandlerRunner.on_late_return` (if set) is called with the handler's
name: its late work may have left the system half changed, so the coordinator
reconciles then (rcm.coordinator).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from rcm.errors import ConfigError, HandlerError, RcmError


class _Call:
    __slots__ = ("fn", "args", "what", "done", "result", "error", "abandoned")

    def __init__(self, fn: Callable[..., Any], args: list[Any], what: str = "") -> None:
        self.fn = fn
        self.args = args
        self.what = what
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.abandoned = False  # the caller stopped waiting (timeout)


class HandlerRunner:
    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._stuck: _Call | None = None
        self._late = threading.Lock()
        self.on_late_return: Callable[[str, str], None] | None = None
        """Called (on the handler's thread) with the handler's name and what the
        call was (``rcm_notify_online(net/nic0)``) when a call that timed out returns."""
        self._thread = threading.Thread(target=self._loop, name=f"rcm-handler-{name}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            call = self._queue.get()
            if call is None:
                return
            try:
                call.result = call.fn(*call.args)
            except BaseException as e:  # noqa: BLE001 - reported to the caller
                call.error = e
            with self._late:
                call.done.set()
                late = call.abandoned
            if late:
                self._returned_late(call)

    def _returned_late(self, call: _Call) -> None:
        if self.on_late_return is not None:
            try:
                self.on_late_return(self.name, call.what)
            except Exception:  # noqa: BLE001 - the handler's thread must survive
                pass

    @property
    def stuck(self) -> bool:
        """A call that timed out is still running."""
        call = self._stuck
        return call is not None and not call.done.is_set()

    def on_own_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def call(
        self,
        fn: Callable[..., Any],
        args: list[Any],
        timeout: float,
        what: str,
        on_timeout: Callable[[], None] | None = None,
        wait_stuck: bool = False,
    ) -> Any:
        """Run ``fn(*args)`` on the handler's thread; raise HandlerError if it
        raises, times out, or the handler is still stuck in an earlier call.

        ``wait_stuck`` (used by rollback) first waits up to ``timeout`` for a
        stuck earlier call to end, so that the handler's late work is over
        before it is asked to restore.
        """
        if self.on_own_thread():
            # A handler asking the coordinator to act on a dependent that the
            # same handler also consumes: run inline, under the outer timeout.
            return fn(*args)
        if self._stuck is not None:
            if wait_stuck:
                self._stuck.done.wait(timeout)
            if not self._stuck.done.is_set():
                raise HandlerError(
                    f"handler {self.name} is still stuck in an earlier call that timed out;"
                    f" not calling {what}"
                )
            self._stuck = None
        call = _Call(fn, args, what)
        self._queue.put(call)
        if not call.done.wait(timeout):
            with self._late:
                call.abandoned = True
                returned = call.done.is_set()  # it ended just now: no late return comes
            if returned:
                self._returned_late(call)
            else:
                self._stuck = call
            if on_timeout is not None:
                on_timeout()
            raise HandlerError(f"handler {self.name} timed out after {timeout:g} s in {what}")
        if call.error is not None:
            err = call.error
            if isinstance(err, ConfigError | HandlerError):
                raise err
            detail = str(err) if isinstance(err, RcmError) else f"{type(err).__name__}: {err}"
            raise HandlerError(f"handler {self.name} failed in {what}: {detail}") from err
        return call.result

    def stop(self) -> None:
        self._queue.put(None)
