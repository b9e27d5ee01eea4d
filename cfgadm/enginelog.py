"""Where the engine's log goes when cfgadm runs it in its own process.

With rcmd running, a handler's log lines (``ctx.message`` logs each line it
says at warning level, beside putting it in the Result) go to rcmd's log
(its stderr: the journal under systemd), and cfgadm prints only the Result.
Without rcmd the same engine runs inside cfgadm, and a process that sets up
no logging sends warnings to stderr through Python's last-resort handler: the
IPMP handler's "moving addresses …" line was printed twice, once from the
Result on stdout and once, bare, on stderr.

So the in-process engine logs where rcmd's log would be read: the system log
(``/dev/log``, which journald serves under systemd), tagged ``cfgadm[pid]``,
at ``$RCM_LOG_LEVEL`` (default WARNING: cfgadm is a command run many times,
not a daemon).  Where no syslog socket listens, the lines are not kept; what
the admin must see reaches cfgadm in the Result either way (the handlers'
messages, vetoes, failures), exactly as with rcmd.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from collections.abc import Mapping

SYSLOG_SOCKET = "/dev/log"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class _SyslogHandler(logging.handlers.SysLogHandler):
    """A syslog handler that never writes on cfgadm's stderr: if the system
    log goes away mid-run, its lines are lost, not printed."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass


def engine_log_handler(address: str = SYSLOG_SOCKET) -> logging.Handler:
    """A handler writing to the syslog socket at ``address``, or a handler
    that drops every record when nothing listens there."""
    handler = _SyslogHandler(address=address, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
    sock = getattr(handler, "socket", None)
    if sock is None or sock.fileno() < 0:  # Python keeps a closed socket when connect fails
        handler.close()
        return logging.NullHandler()
    handler.setFormatter(
        logging.Formatter("cfgadm[%(process)d]: %(levelname)s %(name)s: %(message)s")
    )
    return handler


def route_engine_log(env: Mapping[str, str] | None = None) -> None:
    """Send the in-process engine's log to the system log instead of stderr.

    Called by cfgadm just before it builds the engine, and only then (a client
    of rcmd logs nothing and should not pay for the import).  A program that
    already set up logging (a test harness, an embedding tool) keeps its own.
    """
    root = logging.getLogger()
    if root.handlers:
        return
    level = (env if env is not None else os.environ).get("RCM_LOG_LEVEL", "WARNING").upper()
    root.setLevel(level if level in LEVELS else "WARNING")
    root.addHandler(engine_log_handler())
