"""Listening to udev with pyudev, and surviving an overflow of its socket.

Source: ``udev`` (events after udevd's rules) when systemd-udevd runs, else
``kernel`` (raw uevents).  ``source='udev'`` with no udevd is silently dead, so
the choice is made from /run/udev/control.

When a burst of uevents overflows the socket (ENOBUFS), events were lost and
pyudev's monitor raises on every later call.  The listener then makes a new
monitor and posts a ``rescan`` event: the coordinator re-registers and asks
every handler to reconcile with the kernel, which is the truth.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from collections.abc import Callable

import pyudev

from rcm.model import Event

log = logging.getLogger("rcm.udev")


def default_source() -> str:
    return "udev" if os.path.exists("/run/udev/control") else "kernel"


class UdevListener:
    name = "udev"

    def __init__(self, receive_buffer: int | None = None, source: str | None = None) -> None:
        self.receive_buffer = receive_buffer
        self.source = source or default_source()
        self.context = pyudev.Context()
        self.monitor: pyudev.Monitor | None = None
        self.overflows = 0

    def open(self) -> None:
        """Start receiving now (events queue in the socket until run())."""
        monitor = pyudev.Monitor.from_netlink(self.context, source=self.source)
        if self.receive_buffer:
            monitor.set_receive_buffer_size(self.receive_buffer)
        monitor.start()
        self.monitor = monitor

    def run(self, post: Callable[[Event], None], stop: threading.Event) -> None:
        if self.monitor is None:
            self.open()
        while not stop.is_set():
            assert self.monitor is not None
            try:
                device = self.monitor.poll(timeout=0.5)
            except OSError as e:
                # pyudev reports a socket error as POLLERR: an OSError without
                # errno, while the error itself waits in SO_ERROR.
                code = e.errno or self._socket_error()
                if code != errno.ENOBUFS:
                    log.error("udev monitor failed: %s; reopening", e)
                self._recover(post, "overflow" if code == errno.ENOBUFS else "monitor error")
                continue
            except Exception as e:  # noqa: BLE001 - pyudev wraps errors inconsistently
                log.error("udev monitor failed: %s; reopening", e)
                self._recover(post, "monitor error")
                continue
            if device is None:
                continue
            props = {str(k): str(v) for k, v in device.properties.items()}
            post(Event("udev", device.action or props.get("ACTION", ""), props))

    def _socket_error(self) -> int:
        """The monitor socket's pending error (reading it clears it), 0 if none."""
        assert self.monitor is not None
        try:
            with socket.socket(fileno=os.dup(self.monitor.fileno())) as s:
                return s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError:
            return 0

    def _recover(self, post: Callable[[Event], None], reason: str) -> None:
        self.overflows += 1
        log.warning("uevents were lost (%s); reopening the monitor and rescanning", reason)
        self.open()
        post(Event("rcm", "rescan", {"REASON": reason}))
