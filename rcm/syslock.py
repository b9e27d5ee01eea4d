"""The system lock: one writer at a time across processes.

rcmd holds it for its whole life; cfgadm running the engine in-process (no
rcmd) holds it for its one operation.  An flock on a file in the runtime dir:
the kernel drops it when the holder dies, so a crash never leaves it stale.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from rcm.errors import BusyError


class SystemLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, who: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise BusyError(
                f"Resource is busy: {holder} holds the rcm system lock {self.path}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{who} (pid {os.getpid()})\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None
