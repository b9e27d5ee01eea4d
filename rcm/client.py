"""cfgadm's way to rcm: rcmd's socket if rcmd runs, else the engine in-process.

Kept light on purpose (socket and json only): cfgadm imports this on every
run, and the engine with its plugins (pluggy, pyudev, the netlink code) is
imported only when no rcmd answers.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from rcm.errors import RcmError
from rcm.model import Action, Listing, Result
from rcm.paths import Paths
from rcm.service import Service


class RemoteService:
    """A Service answered by rcmd over ``$RCM_RUNTIME_DIR/rcmd.sock``."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(str(self.paths.socket))
                s.sendall(json.dumps(request).encode() + b"\n")
                buf = bytearray()
                while not buf.endswith(b"\n"):
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    buf += chunk
            except OSError as e:
                raise RcmError(
                    f"lost contact with rcmd ({self.paths.socket}): {e.strerror}"
                ) from None
        if not buf:
            raise RcmError(
                "rcmd closed the connection before answering; if it died during an operation,"
                " it completes or rolls that operation back when it starts again"
            )
        answer = json.loads(buf)
        if "error" in answer:
            raise RcmError(answer["error"])
        return answer

    def list_aps(self, ap_ids: list[str], verbose: bool) -> Listing:
        return Listing.from_dict(self._ask({"op": "list", "ap_ids": ap_ids, "verbose": verbose}))

    def change_state(
        self, action: Action, ap_id: str, force: bool, query_only: bool = False
    ) -> Result:
        return Result.from_dict(
            self._ask(
                {
                    "op": "change_state",
                    "action": action.value,
                    "ap_id": ap_id,
                    "force": force,
                    "query_only": query_only,
                }
            )
        )

    def close(self) -> None:
        pass


def rcmd_running(paths: Paths) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(paths.socket))
        except OSError:
            return False
    return True


def open_service(paths: Paths, need_write: bool) -> Service:
    """rcmd's socket when rcmd answers; otherwise the engine in this process
    (under the system lock when it may change state)."""
    if rcmd_running(paths):
        return RemoteService(paths)
    from rcm.local import LocalService

    return LocalService(paths, need_write)
