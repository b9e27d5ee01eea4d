"""rcmd: the coordinator daemon.

Threads, not asyncio (see docs/architecture.md, "Concurrency"):

- the *worker* runs operations and events one at a time, in arrival order;
- the *control* thread accepts cfgadm's connections; each request takes its
  locks on arrival (so "Resource is busy" is immediate) and then waits for the
  worker;
- *listeners*: udev (pyudev) and every plugin's event source (for example
  the net plugin's link monitor) post events to the worker's queue;
- each handler runs on its own thread (rcm.runner), under a timeout.

Start-up order matters: configuration is checked before anything changes
(a bad file stops rcmd here), listeners open before recovery and reconcile so
that no event is missed in between, and the socket opens last.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
from concurrent.futures import Future
from types import ModuleType
from typing import Any

from rcm.control import ControlServer
from rcm.coordinator import Coordinator, ResourceAction
from rcm.errors import RcmError
from rcm.model import Action, Event, Outcome, Result
from rcm.paths import Paths
from rcm.plugins import make_plugin_manager
from rcm.protocols import EventSource
from rcm.requests import BadRequest, validate
from rcm.syslock import SystemLock
from rcm.udev import UdevListener

log = logging.getLogger("rcmd")


class Daemon:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.stop_event = threading.Event()
        self.queue: queue.Queue[Any] = queue.Queue()
        self.lock = SystemLock(paths.lock)
        self.coordinator: Coordinator | None = None
        self.server: ControlServer | None = None
        self.threads: list[threading.Thread] = []

    # -- the worker ------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            assert self.coordinator is not None
            try:
                if isinstance(item, Event):
                    self.coordinator.handle_event(item)
                elif item[0] == "reload":
                    item[1].set_result(self._reload())
                else:
                    op, future, queued = item
                    started = time.monotonic()
                    result = self.coordinator.run(op)
                    log.info(
                        "%s: %s in %.1f ms (waited %.1f ms for the worker)",
                        op.description,
                        result.outcome.value,
                        (time.monotonic() - started) * 1000,
                        (started - queued) * 1000,
                    )
                    future.set_result(result)
            except Exception as e:  # noqa: BLE001 - the worker must survive
                log.exception("worker: %s", e)
                if isinstance(item, tuple) and item[0] == "reload":
                    item[1].set_result({"error": f"reload failed: internal error: {e}"})
                elif not isinstance(item, Event):
                    item[1].set_result(
                        Result(Outcome.FAILED, item[0].ap_id, f"internal error: {e}")
                    )

    def post(self, event: Event) -> None:
        self.queue.put(event)

    # -- live reload -----------------------------------------------------------
    def _reload(self) -> dict[str, Any]:
        """On the worker, between operations: all or nothing (see
        Coordinator.reload).  A refusal leaves the configuration in force."""
        assert self.coordinator is not None
        try:
            lines = self.coordinator.reload()
        except RcmError as e:
            log.error("reload refused, the configuration in force stays: %s", e)
            return {"error": f"reload refused: {e}; the configuration in force stays"}
        for line in lines:
            log.info("reload: %s", line)
        log.info("configuration reloaded")
        return {"reloaded": True, "lines": lines}

    def reload(self) -> dict[str, Any]:
        """Queue a reload behind what the worker is doing and wait for it."""
        future: Future[dict[str, Any]] = Future()
        self.queue.put(("reload", future))
        return future.result()

    # -- control requests ----------------------------------------------------
    def handle_request(self, request: dict[str, Any], uid: int) -> dict[str, Any]:
        """Serve one request from the control socket.  Every field is checked
        by type first (rcm.requests): a bad one raises BadRequest, which the
        control server answers as a bad request and logs in one line."""
        assert self.coordinator is not None
        op, fields = validate(request)
        if op == "list":
            return self.coordinator.list_aps(
                list(fields["ap_ids"]), fields["verbose"], fields["dynamic"]
            ).to_dict()
        if op == "help":
            try:
                return {"help": self.coordinator.class_help(list(fields["ap_types"]))}
            except RcmError as e:  # an unknown ap_type: the admin's to fix
                return {"error": str(e)}
        if op == "report":
            return {"report": self.coordinator.report(fields["topic"])}
        if op == "reload":
            if uid != 0:
                return {"error": "permission denied: only root may reload rcmd"}
            return self.reload()
        if op == "resource_state":
            return self._resource_state(fields, uid)
        ap_id = fields["ap_id"]
        if uid != 0:
            return Result(
                Outcome.DENIED, ap_id, "permission denied: only root may change state"
            ).to_dict()
        if op == "test":  # changes nothing of rcm's: not queued behind operations
            return self.coordinator.test_ap(ap_id, fields["options"]).to_dict()
        if op == "function":  # under the ap's lock; a write to sysfs, not an operation
            return self.coordinator.hardware_function(ap_id, fields["function"]).to_dict()
        try:
            action = Action(fields["action"])
        except ValueError:
            raise BadRequest(f"action: unknown action {fields['action']!r}") from None
        admitted = self.coordinator.admit(
            action,
            ap_id,
            fields["force"],
            fields["query_only"],
            fields["options"],
            fields["confirmed"],
        )
        if isinstance(admitted, Result):
            return admitted.to_dict()
        future: Future[Result] = Future()
        self.queue.put((admitted, future, time.monotonic()))
        return future.result().to_dict()

    def _resource_state(self, fields: dict[str, Any], uid: int) -> dict[str, Any]:
        """Take a resource out of service in place, or bring it back."""
        assert self.coordinator is not None
        resource = fields["resource"]
        if uid != 0:
            return Result(
                Outcome.DENIED, resource, "permission denied: only root may change state"
            ).to_dict()
        try:
            action = ResourceAction(fields["action"])
        except ValueError:
            raise BadRequest(
                f"action: unknown action {fields['action']!r} (offline or online)"
            ) from None
        admitted = self.coordinator.admit_resource(action, resource)
        if isinstance(admitted, Result):
            return admitted.to_dict()
        future: Future[Result] = Future()
        self.queue.put((admitted, future, time.monotonic()))
        return future.result().to_dict()

    # -- life ----------------------------------------------------------------
    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def _run_source(self, source: EventSource) -> None:
        try:
            source.run(self.post, self.stop_event)
        except Exception:  # noqa: BLE001
            log.exception("event source %s died; rescanning", getattr(source, "name", source))
            self.post(Event("rcm", "rescan", {"REASON": "event source died"}))

    def start(self) -> None:
        for d, mode in ((self.paths.runtime_dir, 0o755), (self.paths.state_dir, 0o700)):
            try:
                d.mkdir(parents=True, exist_ok=True, mode=mode)
            except OSError as e:
                raise RcmError(f"{d}: cannot create the folder: {e.strerror}") from None
        self.lock.acquire("rcmd")
        coordinator = Coordinator(self.paths, make_plugin_manager())
        self.coordinator = coordinator
        coordinator.event_sink = self.post
        coordinator.configure()  # ConfigError stops us here, before any change
        udev = UdevListener(coordinator.settings.get("udev", {}).get("receive_buffer"))
        udev.open()
        log.info("listening to udev (%s source)", udev.source)
        self._spawn("rcm-udev", self._run_source, udev)
        for handler in coordinator.implementers("rcm_event_sources"):
            for source in coordinator.call(handler, "rcm_event_sources", None) or []:
                self._spawn(f"rcm-src-{source.name}", self._run_source, source)
        coordinator.recover()
        coordinator.reconcile("start")
        self._spawn("rcm-worker", self._worker)
        self.server = ControlServer(self.paths.socket, self.handle_request)
        self.server.start()
        log.info("ready: %s", self.paths.socket)
        sd_notify("READY=1")

    def stop(self) -> None:
        self.stop_event.set()
        if self.server is not None:
            self.server.stop()
        self.queue.put(None)
        for t in self.threads:
            t.join(timeout=2)
        if self.coordinator is not None:
            self.coordinator.stop()
        self.lock.release()


def sd_notify(state: str) -> None:
    """Tell systemd (Type=notify) we are ready; a no-op outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.connect(addr)
            s.sendall(state.encode())
        except OSError:
            pass


def reload_running(paths: Paths) -> int:
    """``rcmd reload`` (and systemd's ExecReload): ask the running rcmd to
    re-read its configuration.  Prints what changed; a refused configuration
    in one line (the one in force stays).  0 reloaded, 1 otherwise."""
    from rcm.client import RemoteService, _connect

    path = str(paths.socket)
    sock = _connect(path)
    if sock is None:
        print(f"rcmd: no rcmd is running ({path} does not answer)", file=sys.stderr)
        return 1
    try:
        lines = RemoteService(path, sock).reload()
    except RcmError as e:
        print(f"rcmd: {e}", file=sys.stderr)
        return 1
    for line in lines:
        print(f"rcmd: {line}")
    print("rcmd: configuration reloaded")
    return 0


def check_config(paths: Paths) -> int:
    """``rcmd --check-config``: configure every handler as rcmd would, change
    nothing, and say what was read: the folders, the handlers (name and
    module) with each one's summary, and the ap classes.  0 good, 1 bad."""
    from rcm.store import Store

    try:
        coordinator = Coordinator(
            paths, make_plugin_manager(), store=Store(paths.database, readonly=True)
        )
        try:
            coordinator.configure()
        finally:
            coordinator.stop()
    except RcmError as e:
        print(f"rcmd: {e}", file=sys.stderr)
        return 1
    for line in describe_configuration(paths, coordinator):
        print(line)
    print("rcmd: configuration is valid")
    return 0


def set_aside_journal(paths: Paths) -> int:
    """``rcmd --set-aside-journal``: the recovery from a corrupt journal, as
    the admin's decision (rcmd never discards a journal on its own: it may
    hold an operation in flight).  Under the system lock, so not while rcmd
    or a cfgadm change runs.  0 moved (or nothing to move), 1 otherwise."""
    from rcm.store import set_aside

    lock = SystemLock(paths.lock)
    try:
        lock.acquire("rcmd --set-aside-journal")
    except RcmError as e:
        print(f"rcmd: {e}", file=sys.stderr)
        return 1
    try:
        if not paths.database.exists():
            print(f"rcmd: {paths.database}: no journal to set aside")
            return 0
        kept = set_aside(paths.database)
    except OSError as e:
        print(f"rcmd: {paths.database}: cannot set it aside: {e.strerror}", file=sys.stderr)
        return 1
    finally:
        lock.release()
    print(f"rcmd: {paths.database} moved aside to {kept} (kept); rcmd starts with an empty journal")
    return 0


def describe_configuration(paths: Paths, coordinator: Coordinator) -> list[str]:
    """What ``--check-config`` read, one fact a line."""
    config = paths.config_dir
    lines = [
        f"config folder:  {config}" + ("" if config.is_dir() else " (missing)"),
        f"rcm.toml:       {paths.rcm_toml}"
        + ("" if paths.rcm_toml.is_file() else " (missing: built-in settings)"),
        f"state folder:   {paths.state_dir}",
        f"runtime folder: {paths.runtime_dir}",
    ]
    names = coordinator.handlers
    lines.append(f"handlers:       {len(names)}" + ("" if names else " (none installed)"))
    width = max((len(n) for n in names), default=0)
    for name in names:
        plugin = coordinator.pm.get_plugin(name)
        module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
        summary = coordinator.summaries.get(name)
        lines.append(f"  {name:<{width}}  {module}" + (f": {summary}" if summary else ""))
    classes = [f"{prefix} ({owner})" for prefix, (owner, _) in sorted(coordinator.backends.items())]
    lines.append(f"ap classes:     {', '.join(classes) if classes else '(none)'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rcmd", description="The rcm coordinator daemon (runs in the foreground)."
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["reload"],
        help="reload: ask the running rcmd to re-read its configuration (as SIGHUP does)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("RCM_LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
    )
    parser.add_argument(
        "--set-aside-journal",
        action="store_true",
        help="move a corrupt journal (rcm.db) aside to rcm.db.corrupt-<timestamp>, keeping it,"
        " and exit; rcmd then starts with an empty journal",
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="check the configuration and exit (0 good, 1 bad)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="rcmd: %(levelname)s %(name)s: %(message)s"
    )
    paths = Paths.from_env()
    if os.geteuid() != 0:
        print("rcmd: must run as root (its handlers change the system)", file=sys.stderr)
        return 1
    if args.command == "reload":
        return reload_running(paths)
    if args.check_config:
        return check_config(paths)
    if args.set_aside_journal:
        return set_aside_journal(paths)
    daemon = Daemon(paths)
    stopped = threading.Event()
    hup = threading.Event()
    wake = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopped.set()
        wake.set()

    def on_hup(signum: int, _frame: object) -> None:
        hup.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hup)
    try:
        daemon.start()
    except RcmError as e:  # a bad configuration, an unsafe plugin, the lock held
        print(f"rcmd: {e}", file=sys.stderr)
        daemon.stop()
        return 1
    while not stopped.is_set():
        wake.wait()
        wake.clear()
        if hup.is_set() and not stopped.is_set():
            hup.clear()
            log.info("SIGHUP: reloading the configuration")
            daemon.reload()  # logs what changed, or the refusal
    log.info("stopping")
    daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
