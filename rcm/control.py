"""The control socket: one JSON request line in, one JSON response line out.

Requests::

    {"op": "list", "ap_ids": [...], "verbose": true}
    {"op": "change_state", "action": "unconfigure", "ap_id": "net:nic0",
     "force": false, "query_only": false}

Responses are a Listing or a Result as a dict, or ``{"error": "..."}``.
Every field is checked by type (rcm.requests); a request that is not JSON,
not an object, longer than MAX_REQUEST or nested too deeply, or has a field
of the wrong type, is answered ``{"error": "bad request: ..."}`` and logged
in one line, never with a traceback.

Who may change state is decided by the kernel's word on the peer
(SO_PEERCRED), never by anything the client says: uid 0 only.  Anyone may
list (the socket is mode 0666).  Only this module parses client input, and it
reaches no shell.

Because anyone may connect, nobody may lock root out: the peer's uid is read
on accept, before a slot is taken.  At most MAX_CLIENTS connections are served
at once; ROOT_RESERVE of them only root can take (other uids together hold at
most MAX_CLIENTS - ROOT_RESERVE, and one uid at most PER_UID).  When a share is
full, the oldest client of that share that has not yet sent its request line
(an idle one) is dropped at once to make room; only if none is idle is the
newcomer refused with "rcmd is busy".
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("rcm.control")

MAX_REQUEST = 64 * 1024
READ_TIMEOUT = 10.0
MAX_CLIENTS = 64  # connections served at once; the socket is open to every local user
ROOT_RESERVE = 8  # of those, slots that only uid 0 may take
PER_UID = 8  # connections one unprivileged uid may hold at once


def peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


class NoRequest(ValueError):
    """The client closed without sending a byte: a probe (is rcmd listening?),
    answered like any bad request but logged only at debug level."""


def read_line(conn: socket.socket, limit: int = MAX_REQUEST) -> bytes:
    buf = bytearray()
    while b"\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            if not buf:
                raise NoRequest("no request: the client closed the connection")
            break
        buf += chunk
        if len(buf) > limit:
            raise ValueError(f"request longer than {limit} bytes")
    return bytes(buf).split(b"\n", 1)[0]


def parse_request(line: bytes) -> Any:
    """The JSON of one request line; ValueError (a bad request) for anything
    that is not JSON, not UTF-8, or nested deeper than Python's parser can
    follow (RecursionError, which is not a ValueError: it used to reach the
    log as a traceback)."""
    try:
        return json.loads(line)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


Handler = Callable[[dict[str, Any], int], dict[str, Any]]


class Dropped(ValueError):
    """The client was idle when rcmd needed its slot for another one."""


class _Client:
    """One admitted connection.  ``idle`` until its request line has been read:
    only an idle client may be dropped to make room (one whose request is being
    handled never is).  Guarded by ControlServer._lock."""

    def __init__(self, conn: socket.socket, uid: int) -> None:
        self.conn = conn
        self.uid = uid
        self.idle = True
        self.dropped = False


class ControlServer:
    """Accepts connections in a thread; each request is handled in a thread of
    its own so that a listing is never stuck behind a long operation."""

    def __init__(self, path: Path, handle: Handler) -> None:
        self.path = path
        self.handle = handle
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._clients: list[_Client] = []  # admitted, oldest first
        if path.exists() or path.is_symlink():
            path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o666)
        self.sock.listen(128)
        self.sock.settimeout(0.5)
        self._thread = threading.Thread(target=self._accept_loop, name="rcm-control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                raise
            try:
                uid = peer_uid(conn)
            except OSError:
                conn.close()  # gone before we could ask who it was
                continue
            client = self._admit(conn, uid)
            if client is None:
                with conn:
                    try:
                        conn.sendall(b'{"error": "rcmd is busy: too many clients"}\n')
                    except OSError:
                        pass
                continue
            threading.Thread(target=self._serve_counted, args=(client,), daemon=True).start()

    def _admit(self, conn: socket.socket, uid: int) -> _Client | None:
        """Give the newcomer a slot, dropping an idle client of the share that
        is full if need be; None when the share is full of busy clients."""
        with self._lock:
            if uid != 0:
                if not self._make_room(
                    [c for c in self._clients if c.uid == uid], PER_UID
                ) or not self._make_room(
                    [c for c in self._clients if c.uid != 0], MAX_CLIENTS - ROOT_RESERVE
                ):
                    return None
            if not self._make_room(
                [c for c in self._clients if c.uid != 0], MAX_CLIENTS, total=len(self._clients)
            ):
                return None
            client = _Client(conn, uid)
            self._clients.append(client)
            return client

    def _make_room(self, share: list[_Client], limit: int, total: int | None = None) -> bool:
        """Under _lock: true when ``total`` (default: the share's size) is below
        ``limit``, or becomes so by dropping the share's oldest idle client."""
        if (len(share) if total is None else total) < limit:
            return True
        victim = next((c for c in share if c.idle), None)
        if victim is None:
            return False
        victim.dropped = True
        victim.idle = False
        self._clients.remove(victim)
        log.debug("dropped an idle client of uid %d to make room", victim.uid)
        try:
            victim.conn.shutdown(socket.SHUT_RDWR)  # its reader wakes up and ends
        except OSError:
            pass
        return True

    def _serve_counted(self, client: _Client) -> None:
        try:
            self._serve(client)
        finally:
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)

    def _serve(self, client: _Client) -> None:
        conn, uid = client.conn, client.uid
        with conn:
            try:
                conn.settimeout(READ_TIMEOUT)
                try:
                    line = read_line(conn)
                except TimeoutError:
                    raise ValueError(
                        f"no complete request line within {READ_TIMEOUT:g} s"
                    ) from None
                finally:
                    with self._lock:
                        client.idle = False
                        dropped = client.dropped
                if dropped:
                    raise Dropped("dropped while idle: rcmd needed the slot")
                request = parse_request(line)
                conn.settimeout(None)
                response = self.handle(request, uid)
            except ValueError as e:  # json.JSONDecodeError, UnicodeDecodeError, BadRequest
                # A client's fault, not ours: one line in the log, no traceback.
                quiet = isinstance(e, (NoRequest, Dropped))
                level = logging.DEBUG if quiet else logging.WARNING
                log.log(level, "bad request from uid %d: %s", uid, ascii(str(e))[1:-1])
                response = {"error": f"bad request: {e}"}
            except Exception as e:  # noqa: BLE001 - the daemon must survive any request
                log.exception("control request failed")
                response = {"error": f"internal error: {type(e).__name__}: {e}"}
            try:
                conn.sendall(json.dumps(response).encode() + b"\n")
            except OSError:
                pass  # the client went away

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
