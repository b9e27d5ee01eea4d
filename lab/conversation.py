"""A live TCP conversation, the thing a user would notice break during a NIC detach.

An echo server runs in the host namespace (dual-stack, so it answers on 0.0.0.0 and ::) and a
client in the client namespace connects to one data address, sends a numbered line every
~50 ms and checks each echo.  The client writes its status as JSON to a file after every round
trip (atomically, with ``os.replace``), so the test process needs no pipe-reading thread and a
status is never half written.

The client never reconnects: a reset or a closed connection is exactly what IPMP failover must
not cause, so it is recorded and the client stops.  A stall (no echo for a while: TCP is
retransmitting because the client's neighbour entry is stale) is recorded as an error but the
client keeps waiting, because TCP may still recover, and how long it paused is worth reporting.

Both processes are plain ``python -c`` programs started through ``ip netns exec`` by the lab,
which kills them in :meth:`Lab.close` whatever happens.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .topology import LabError, _terminate, wait_until

if TYPE_CHECKING:
    import subprocess

    from .topology import Lab

SERVER = r"""
import socket, sys, threading
port, ready = int(sys.argv[1]), sys.argv[2]
try:
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
except OSError:  # no IPv6 in this namespace: IPv4 only
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
s.listen(16)
open(ready, "w").close()

def serve(c):
    with c:
        while True:
            try:
                data = c.recv(65536)
            except OSError as e:
                print("server recv:", e, file=sys.stderr, flush=True)
                return
            if not data:
                return
            c.sendall(data)

while True:
    c, peer = s.accept()
    print("server: connection from", peer, file=sys.stderr, flush=True)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

CLIENT = r"""
import json, os, socket, sys, time
addr, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
interval, stall_after = float(sys.argv[4]), float(sys.argv[5])
st = {"address": addr, "port": port, "pid": os.getpid(), "connected": False,
      "round_trips": 0, "errors": [], "last_error": None, "reset": False, "closed": False,
      "finished": False, "max_gap_ms": 0.0, "last_rtt_ms": None, "stalled": False}

def write():
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.replace(tmp, path)

def error(msg):
    st["last_error"] = msg
    st["errors"] = (st["errors"] + [msg])[-20:]
    write()

try:
    try:
        sock = socket.create_connection((addr, port), timeout=10)
    except OSError as e:
        error(f"connect to {addr} port {port}: {e}")
        sys.exit(1)
    st["connected"] = True
    write()
    sock.settimeout(0.5)
    buf = b""
    n = 0
    last_ok = time.monotonic()
    while True:
        n += 1
        line = f"{n} hello from the client\n".encode()
        sent = time.monotonic()
        sock.sendall(line)
        stalled = False
        while b"\n" not in buf:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                if not stalled and time.monotonic() - sent > stall_after:
                    stalled = st["stalled"] = True
                    error(f"no echo of line {n} for {stall_after:g}s (still waiting)")
                continue
            if not chunk:
                st["closed"] = True
                error(f"connection closed by the server after {n - 1} round trips")
                sys.exit(1)
            buf += chunk
        got, buf = buf.split(b"\n", 1)
        now = time.monotonic()
        if got + b"\n" != line:
            error(f"echo mismatch on line {n}: {got[:40]!r}")
        st["round_trips"] += 1
        st["stalled"] = False
        st["last_rtt_ms"] = round((now - sent) * 1000, 2)
        st["max_gap_ms"] = max(st["max_gap_ms"], round((now - last_ok) * 1000, 2))
        last_ok = now
        write()
        time.sleep(max(0.0, interval - (time.monotonic() - sent)))
except ConnectionResetError as e:
    st["reset"] = True
    error(f"connection reset: {e}")
except OSError as e:
    st["closed"] = True
    error(f"connection failed: {e}")
finally:
    st["finished"] = True
    write()
"""


class Conversation:
    """One client talking to one data address of the host, over TCP, every ~50 ms.

    ``Conversation(lab, "192.0.2.10").start()`` (or ``lab.conversation(addr)``) returns once
    the first round trip is done, so a test knows the path worked before it breaks anything.
    """

    def __init__(
        self,
        lab: Lab,
        address: str,
        interval: float = 0.05,
        stall_after: float = 2.0,
    ) -> None:
        self.lab = lab
        self.address = address
        self.interval = interval
        self.stall_after = stall_after
        self.port = lab._register_conversation(self)
        assert lab.tmp is not None, "build the lab first"
        self.dir: Path = lab.tmp / f"conversation-{self.port}"
        self.status_path = self.dir / "status.json"
        self._server: subprocess.Popen[bytes] | None = None
        self._client: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Conversation:
        """Start server and client; wait (bounded) for the first echo, else raise LabError."""
        self.dir.mkdir(parents=True, exist_ok=True)
        ready = self.dir / "server.ready"
        self._server = self.lab.spawn(
            "host",
            [sys.executable, "-u", "-c", SERVER, str(self.port), str(ready)],
            log=self.dir / "server.log",
        )
        if not wait_until(lambda: ready.exists() or self._server.poll() is not None, timeout):
            raise LabError(f"echo server did not start: {self._log('server.log')}")
        if not ready.exists():
            raise LabError(f"echo server exited: {self._log('server.log')}")
        self._client = self.lab.spawn(
            "client",
            [
                sys.executable,
                "-u",
                "-c",
                CLIENT,
                self.address,
                str(self.port),
                str(self.status_path),
                str(self.interval),
                str(self.stall_after),
            ],
            log=self.dir / "client.log",
        )
        if not wait_until(lambda: self.round_trips() > 0 or self.finished(), timeout):
            raise LabError(
                f"no round trip to {self.address} within {timeout:g}s: {self.describe()}"
            )
        if self.round_trips() == 0:
            raise LabError(f"conversation with {self.address} failed: {self.describe()}")
        return self

    def _log(self, name: str) -> str:
        try:
            return (self.dir / name).read_text(errors="replace").strip()[-2000:]
        except OSError:
            return ""

    def status(self) -> dict[str, Any]:
        """The client's last written status ({} before it wrote one)."""
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return {}

    def round_trips(self) -> int:
        return int(self.status().get("round_trips", 0))

    def errors(self) -> list[str]:
        """Errors the client saw: stalls, mismatches, reset, close (most recent last)."""
        return list(self.status().get("errors", []))

    def last_error(self) -> str | None:
        return self.status().get("last_error")

    def finished(self) -> bool:
        """The client stopped (reset, closed, or killed): the conversation is over."""
        st = self.status()
        client_gone = self._client is not None and self._client.poll() is not None
        return bool(st.get("finished")) or client_gone

    def broken(self) -> bool:
        """Whether the connection was reset or closed, or the client died."""
        st = self.status()
        return bool(st.get("reset") or st.get("closed")) or self.finished()

    def max_gap(self) -> float:
        """Longest pause between two echoes so far, in seconds."""
        return float(self.status().get("max_gap_ms", 0.0)) / 1000.0

    def wait_for_more(self, n: int, timeout: float) -> bool:
        """Wait until ``n`` more round trips than now were made; False on timeout or break."""
        target = self.round_trips() + n
        wait_until(lambda: self.round_trips() >= target or self.finished(), timeout)
        return self.round_trips() >= target

    def describe(self) -> str:
        """One line for messages: counts, state and the last error."""
        st = self.status()
        state = (
            "reset"
            if st.get("reset")
            else "closed"
            if st.get("closed")
            else ("finished" if self.finished() else "stalled" if st.get("stalled") else "alive")
        )
        text = (
            f"{self.address} port {self.port}: {st.get('round_trips', 0)} round trips, {state}, "
            f"longest pause {st.get('max_gap_ms', 0.0):.0f} ms, last error: {st.get('last_error')}"
        )
        log = self._log("client.log")
        return text + (f"; client stderr: {log}" if log else "")

    def stop(self) -> None:
        """Stop client then server.  Idempotent; Lab.close() calls it too."""
        for proc in (self._client, self._server):
            if proc is not None:
                _terminate(proc, timeout=2.0)
