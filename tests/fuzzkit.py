"""What the fuzzers (tests/test_fuzz_*.py) share: the hypothesis settings, a lab with rcmd
running for a whole module, and a snapshot of everything a refused input must leave alone.

Examples per fuzzer: ``RCM_FUZZ_EXAMPLES`` (default 200, the quick run CI makes).  Every run is
derandomized (hypothesis derives its examples from the test's name), so the CI run is the same
run every time and a failure there reproduces with the same command; no example database is
read or written.  The long run (docs/reliability.md) is the same tests with
``RCM_FUZZ_EXAMPLES=10000``.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("RCM_FUZZ_EXAMPLES", "200"))

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

V4_10, V6_10 = "192.0.2.10/24", "2001:db8::10/64"
V4_11, V6_11 = "192.0.2.11/24", "2001:db8::11/64"
REAL_APS = ("net:nic0", "net:nic1")


@contextmanager
def running_lab() -> Iterator[Any]:
    """A built lab with rcmd running and the data addresses restored; closed afterwards."""
    from rcm_lab import Lab

    lab = Lab()
    try:
        lab.build()
        lab.start_rcmd()
        assert lab.wait_for_addresses("nic0", [V4_10, V6_10]), lab.snapshot()
        assert lab.wait_for_addresses("nic1", [V4_11, V6_11]), lab.snapshot()
        yield lab
    finally:
        lab.close()


def kernel_state(lab: Any) -> str:
    """The host and holding namespaces' links and global addresses, as one comparable string."""
    out = []
    for ns in ("host", "holding"):
        r = subprocess.run(
            ["ip", "-n", lab.ns[ns], "-j", "addr", "show"], capture_output=True, text=True
        )
        for link in json.loads(r.stdout or "[]"):
            addrs = sorted(
                f"{a['local']}/{a['prefixlen']}"
                for a in link.get("addr_info", [])
                if a.get("scope") == "global"
            )
            out.append(f"{ns}:{link['ifname']}:{'UP' in link.get('flags', [])}:{addrs}")
    return "\n".join(sorted(out))


def journal_state(lab: Any) -> list[Any]:
    """Every row of the journal and of the handlers' records."""
    path = lab.state_dir / "rcm.db"
    if not path.exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return [
            con.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()  # noqa: S608
            for table in ("operations", "steps", "resources", "kv")
        ]
    finally:
        con.close()


def snapshot(lab: Any) -> tuple[str, list[Any]]:
    return kernel_state(lab), journal_state(lab)


def ask_raw(path: Path, payload: bytes, timeout: float = 30.0) -> bytes:
    """Send raw bytes as one client (closing our side after them); all that rcmd answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # rcmd refused early (a request too long): its answer may be waiting
        buf = bytearray()
        try:
            while not buf.endswith(b"\n") and (chunk := s.recv(65536)):
                buf += chunk
        except ConnectionResetError:
            pass
    return bytes(buf)


def list_answer(lab: Any) -> dict[str, Any]:
    """Root's listing, asked on rcmd's socket: rcmd is alive and serving."""
    answer: dict[str, Any] = json.loads(ask_raw(lab.socket_path, b'{"op": "list"}\n'))
    return answer
