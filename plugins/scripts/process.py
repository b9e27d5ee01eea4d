"""Running one script once: argv, environment, session, output, timeout.

A script is executed directly (an argv list, never a shell: nothing a
resource name or a configuration file holds is ever parsed by one), with:

* stdin from /dev/null, stdout and stderr read by rcm;
* an environment of its own, not rcmd's: the fixed :data:`SAFE_PATH`,
  ``RCM_ENV_DEBUG_LEVEL`` and, for ``queryremove``/``preremove``,
  ``RCM_ENV_FORCE`` (:func:`environment`);
* the working directory ``/``;
* its own session and so its own process group (``setsid``), which is what
  the timeout signals: the script and everything it started.

Reading stops when the script exits (what it printed until then, and what
is still buffered, is its answer): a process the script left behind holding
stdout open does not hold rcm up.  When the timeout passes first, the group
gets SIGABRT, and :data:`KILL_GRACE` seconds later SIGKILL; the call returns
at the SIGABRT, and a reaper thread finishes the job.  The script's process
is reaped only after the SIGKILL, so that its id, which is the group's,
cannot be reused by an unrelated group in between.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable

SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
"""The PATH every script gets, whatever rcmd's was."""
KILL_GRACE = 10.0
"""Seconds between the SIGABRT of a timeout and the SIGKILL."""
MAX_OUTPUT = 64 * 1024
"""The most of stdout (and of stderr) kept; more on stdout is a protocol error."""


class Run:
    """How one run of a script ended."""

    __slots__ = (
        "status", "signal", "timed_out", "timeout", "kill_grace", "stdout", "stderr",
        "overflow", "error",
    )  # fmt: skip

    def __init__(
        self,
        status: int | None = None,
        signal: int | None = None,
        timed_out: bool = False,
        timeout: float | None = None,
        kill_grace: float = KILL_GRACE,
        stdout: str = "",
        stderr: str = "",
        overflow: bool = False,
        error: str | None = None,
    ) -> None:
        self.status = status
        """The exit status; None if the script was killed, timed out or never ran."""
        self.signal = signal
        """The signal that ended it (not counting a timeout's)."""
        self.timed_out = timed_out
        self.timeout = timeout
        self.kill_grace = kill_grace
        self.stdout = stdout
        self.stderr = stderr
        self.overflow = overflow
        """It printed more than :data:`MAX_OUTPUT` bytes on stdout."""
        self.error = error
        """Why it could not be started (the OS error)."""

    def describe(self) -> str:
        """How it ended, for a message: ``exited with status 1``, ``timed out after 2 s``."""
        if self.error is not None:
            return f"could not be run: {self.error}"
        if self.timed_out:
            after = round(self.timeout or 0.0, 1)
            return (
                f"timed out after {after:g} s (SIGABRT sent to its process group;"
                f" SIGKILL follows in {self.kill_grace:g} s)"
            )
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"was killed by {name}"
        return f"exited with status {self.status}"


def environment(debug_level: int, force: bool | None = None) -> dict[str, str]:
    """The whole environment of a script: nothing of rcmd's own is passed on."""
    env = {"PATH": SAFE_PATH, "RCM_ENV_DEBUG_LEVEL": str(debug_level)}
    if force is not None:
        env["RCM_ENV_FORCE"] = "TRUE" if force else "FALSE"
    return env


def run(
    argv: list[str],
    env: dict[str, str],
    timeout: float | None,
    *,
    kill_grace: float = KILL_GRACE,
    done: Callable[[], None] | None = None,
) -> Run:
    """Run ``argv`` once and return how it ended.

    ``timeout`` None means no limit.  ``done`` is called once the script's
    process group has been dealt with: at return after a normal exit, and,
    after a timeout, by the reaper thread once the SIGKILL has been sent and
    the script reaped (the caller holds the script's "running" lock until
    then, so that a script is never run twice at once).
    """
    finish = done or (lambda: None)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd="/",
            start_new_session=True,
            close_fds=True,
        )
    except OSError as e:
        finish()
        return Run(error=e.strerror or str(e))
    assert proc.stdout is not None and proc.stderr is not None
    pidfd = os.pidfd_open(proc.pid)
    buffers = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    overflow = {fd: False for fd in buffers}
    sel = selectors.DefaultSelector()
    for fd in buffers:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    sel.register(pidfd, selectors.EVENT_READ)
    deadline = None if timeout is None else time.monotonic() + timeout
    exited = False

    def read(fd: int) -> bool:
        """Read what is there; False at end of file."""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            room = MAX_OUTPUT + 1 - len(buffers[fd])
            if len(chunk) > room:
                overflow[fd] = True
            buffers[fd] += chunk[: max(room, 0)]

    try:
        while not exited:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                break
            for key, _ in sel.select(wait):
                if key.fd == pidfd:
                    exited = True
                elif not read(key.fd):
                    sel.unregister(key.fd)
        if exited:
            for fd in buffers:  # what is buffered; writers it left behind are not waited for
                if fd in sel.get_map():
                    read(fd)
    finally:
        sel.close()
    out = bytes(buffers[proc.stdout.fileno()][:MAX_OUTPUT]).decode("utf-8", "replace")
    err = bytes(buffers[proc.stderr.fileno()][:MAX_OUTPUT]).decode("utf-8", "replace")
    stdout_overflow = overflow[proc.stdout.fileno()]

    if not exited:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGABRT)
        reaper = threading.Thread(
            target=_reap_after_timeout,
            args=(proc, pidfd, kill_grace, finish),
            name=f"rcm-script-reaper-{proc.pid}",
            daemon=True,
        )
        reaper.start()
        return Run(timed_out=True, timeout=timeout, kill_grace=kill_grace, stdout=out, stderr=err)

    code = proc.wait()
    _close(proc, pidfd)
    finish()
    if code < 0:
        return Run(signal=-code, stdout=out, stderr=err, overflow=stdout_overflow)
    return Run(status=code, stdout=out, stderr=err, overflow=stdout_overflow)


def _reap_after_timeout(
    proc: subprocess.Popen[bytes], pidfd: int, grace: float, finish: Callable[[], None]
) -> None:
    """After the SIGABRT: wait ``grace`` seconds while any of the group lives,
    SIGKILL the group, then reap the script and report it done."""
    try:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_alive(proc.pid):
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        _close(proc, pidfd)
    finally:
        finish()


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` other than an exited leader is left.

    The leader is kept unreaped on purpose, so ``killpg(pgid, 0)`` alone
    would always answer yes while it is a zombie; the group's members are
    read from /proc instead."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def _close(proc: subprocess.Popen[bytes], pidfd: int) -> None:
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    os.close(pidfd)
