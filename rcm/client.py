"""cfgadm's way to rcm: rcmd's socket if rcmd runs, else the engine in-process.

Kept light on purpose: cfgadm imports this on every run, and the engine with
its plugins (pluggy, pyudev, the netlink code) is imported only when no rcmd
answers.  So no entry points are read and no plugin is imported here, and
the socket is :mod:`_socket`, the C module under :mod:`socket`: ``import
socket`` builds its enums (AddressFamily, SocketKind, MsgFlag …) from every
constant of the C module, which measured 3-10 ms of a ``cfgadm -l`` that
only needs connect, send and receive.

The connection that finds rcmd carries the first request: rcmd serves one
request per connection, so probing with a connection of its own would cost
rcmd a thread and an error answer for nothing.
"""

from __future__ import annotations

import _socket
import json
from collections.abc import Callable, Mapping
from typing import Any

from rcm.errors import RcmError
from rcm.model import Action, Listing, Result
from rcm.paths import socket_path
from rcm.service import Service

# rcm.control.MAX_REQUEST, not imported from there: that module imports socket
# (see above).  tests/test_control.py checks that the two agree.
MAX_REQUEST = 64 * 1024


def _connect(path: str) -> _socket.socket | None:
    """A connection to rcmd's socket, or None if nothing listens there."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


class RemoteService:
    """A Service answered by rcmd over ``$RCM_RUNTIME_DIR/rcmd.sock``."""

    def __init__(self, path: str, first: _socket.socket | None = None) -> None:
        self.path = path  # the socket's
        self._first = first  # already connected: used by the first request

    def _open(self) -> _socket.socket:
        sock, self._first = self._first, None
        if sock is not None:
            return sock
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        return sock

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(request).encode() + b"\n"
        if len(payload) - 1 > MAX_REQUEST:
            # rcmd would refuse it with this reason; say so rather than send it.
            raise RcmError(f"bad request: request longer than {MAX_REQUEST} bytes")
        buf = bytearray()
        try:
            sock = self._open()
            try:
                try:
                    sock.sendall(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # rcmd stopped reading: its answer (the reason) may be waiting
                while not buf.endswith(b"\n"):
                    chunk = sock.recv(1 << 20)
                    if not chunk:
                        break
                    buf += chunk
            finally:
                sock.close()
        except OSError as e:
            raise RcmError(f"lost contact with rcmd ({self.path}): {e.strerror or e}") from None
        if not buf:
            raise RcmError(
                "rcmd closed the connection before answering; if it died during an operation,"
                " it completes or rolls that operation back when it starts again"
            )
        answer = json.loads(buf)
        if "error" in answer:
            raise RcmError(answer["error"])
        return answer

    def list_aps(self, ap_ids: list[str], verbose: bool, dynamic: bool = False) -> Listing:
        request = {"op": "list", "ap_ids": ap_ids, "verbose": verbose}
        if dynamic:
            request["dynamic"] = True
        return Listing.from_dict(self._ask(request))

    def hardware_function(self, ap_id: str, function: str) -> Result:
        return Result.from_dict(self._ask({"op": "function", "ap_id": ap_id, "function": function}))

    def class_help(self, ap_types: list[str]) -> dict[str, str]:
        answer = self._ask({"op": "help", "ap_types": ap_types})
        return {str(k): str(v) for k, v in answer.get("help", {}).items()}

    def change_state(
        self,
        action: Action,
        ap_id: str,
        force: bool,
        query_only: bool = False,
        options: str = "",
        confirmed: bool = False,
    ) -> Result:
        request: dict[str, Any] = {
            "op": "change_state",
            "action": action.value,
            "ap_id": ap_id,
            "force": force,
            "query_only": query_only,
        }
        if options:
            request["options"] = options
        if confirmed:
            request["confirmed"] = True
        return Result.from_dict(self._ask(request))

    def test_ap(self, ap_id: str, options: str = "") -> Result:
        return Result.from_dict(self._ask({"op": "test", "ap_id": ap_id, "options": options}))

    def report(self, topic: str) -> dict[str, Any]:
        """Every handler's answer to ``topic`` (read-only; any user)."""
        return dict(self._ask({"op": "report", "topic": topic})["report"])

    def reload(self) -> list[str]:
        """Ask rcmd to re-read its configuration (root only); what changed.
        A refusal raises RcmError with rcmd's one line."""
        return list(self._ask({"op": "reload"}).get("lines", []))

    def set_resource_state(self, action: str, resource: str) -> Result:
        """Take ``resource`` out of service in place (``offline``) or bring it
        back (``online``): root only."""
        return Result.from_dict(
            self._ask({"op": "resource_state", "action": action, "resource": resource})
        )

    def close(self) -> None:
        if self._first is not None:
            self._first.close()
            self._first = None


def open_service(
    need_write: bool,
    env: Mapping[str, str] | None = None,
    before_local: Callable[[], None] | None = None,
) -> Service:
    """rcmd's socket when rcmd answers; otherwise the engine in this process
    (which takes the system lock before it changes anything).  The folders
    come from ``env`` (default: the environment; see rcm.paths).
    ``before_local`` runs just before the in-process engine is built (and
    only then): cfgadm routes the engine's log there, before a handler
    logs its first line."""
    path = socket_path(env)
    sock = _connect(path)
    if sock is not None:
        return RemoteService(path, sock)
    if before_local is not None:
        before_local()
    from rcm.local import LocalService
    from rcm.paths import Paths

    return LocalService(Paths.from_env(env), need_write)
