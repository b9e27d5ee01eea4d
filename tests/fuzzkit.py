"""What the fuzzers (tests/test_fuzz_*.py) share: the hypothesis settings, a lab with rcmd
running for a whole module (:func:`rcmd_rig`, with rcmd's log), and a snapshot of everything
a refused input must leave alone.

Examples per fuzzer: ``RCM_FUZZ_EXAMPLES`` (default 200, the quick run CI makes).  Every run is
derandomized (hypothesis derives its examples from the test's name), so the CI run is the same
run every time and a failure there reproduces with the same command; no example database is
read or written.  ``RCM_FUZZ_SEED=N`` makes a seeded random run instead: the long runs
(docs/reliability.md) are shards with different seeds.  ``RCM_FUZZ_PROGRESS=FILE`` appends
the count of examples run, every 100.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, seed, settings

EXAMPLES = int(os.environ.get("RCM_FUZZ_EXAMPLES", "200"))

SEED = os.environ.get("RCM_FUZZ_SEED")

_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=SEED is None,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def FUZZ(test: Callable[..., None]) -> Callable[..., None]:  # noqa: N802 - reads as settings
    """The fuzzers' settings; with ``RCM_FUZZ_SEED`` a seeded random run instead of the
    derandomized one (so that a long run can be split into shards that draw different
    examples, each still reproducible from its seed)."""
    test = _SETTINGS(test)
    if SEED is not None:
        test = seed(int(SEED))(test)
    return test


V4_10, V6_10 = "192.0.2.10/24", "2001:db8::10/64"
V4_11, V6_11 = "192.0.2.11/24", "2001:db8::11/64"
REAL_APS = ("net:nic0", "net:nic1")


@contextmanager
def running_lab() -> Iterator[Any]:
    """A built lab with rcmd running and the data addresses restored, and a KernelWatch on it;
    closed afterwards."""
    from rcm_lab import Lab

    lab = Lab()
    try:
        lab.build()
        lab.start_rcmd()
        assert lab.wait_for_addresses("nic0", [V4_10, V6_10]), lab.snapshot()
        assert lab.wait_for_addresses("nic1", [V4_11, V6_11]), lab.snapshot()
        kernel = KernelWatch(lab)
        try:
            yield lab, kernel
        finally:
            kernel.close()
    finally:
        lab.close()


class LogReader:
    """rcmd's log from where we last looked."""

    def __init__(self, lab: Any) -> None:
        self.path = lab.rcmd_log_path
        self.offset = self.path.stat().st_size

    def new(self) -> str:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return data.decode(errors="replace")


Rig = tuple[Any, "LogReader", "KernelWatch", Any]
"""What :func:`rcmd_rig` yields: the lab, rcmd's log, the KernelWatch, the snapshot."""


@contextmanager
def rcmd_rig() -> Iterator[Rig]:
    """rcmd in a lab, its log, and the state every example must leave as it was (skipped
    without the lab, failed with RCM_REQUIRE_LAB=1); a fuzzer's module-scoped fixture."""
    from conftest import require_lab

    require_lab()
    with running_lab() as (lab, kernel):
        yield lab, LogReader(lab), kernel, snapshot(lab, kernel)


class KernelWatch:
    """The lab's host and holding namespaces read over netlink from this process (an ``ip``
    per look would cost more than the example it checks).  Used by the thread that made it."""

    def __init__(self, lab: Any) -> None:
        from rcm_netkit.netlink import Netlink

        self.nl = {ns: Netlink(lab.ns[ns]) for ns in ("host", "holding")}

    def state(self) -> str:
        out = []
        for ns, nl in self.nl.items():
            links = nl.links()
            for link in links:
                out.append(f"{ns}:{link.name}:up={link.up}")
            for a in nl.addresses(links=links):
                if a.scope == "global":
                    out.append(f"{ns}:{a.ifname}:{a.cidr}")
        return "\n".join(sorted(out))

    def close(self) -> None:
        for nl in self.nl.values():
            nl.close()


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


def snapshot(lab: Any, kernel: KernelWatch) -> tuple[str, list[Any]]:
    """What a refused input must leave as it was: links and addresses, journal and records."""
    return kernel.state(), journal_state(lab)


_done = 0

KERNEL_EVERY = 10
"""Examples between two looks at the kernel (a netlink dump of two namespaces costs more than
most examples).  A refused input that changed the kernel leaves that change in place (nothing
here reverts it), so it is still caught, at most KERNEL_EVERY - 1 examples later; the journal,
where every state change starts, is read after every example."""


def unchanged(lab: Any, kernel: KernelWatch, before: tuple[str, list[Any]]) -> bool:
    """Whether the journal (every example) and the kernel (every KERNEL_EVERY-th, and the
    first) are as they were."""
    if journal_state(lab) != before[1]:
        return False
    return _done % KERNEL_EVERY != 1 or kernel.state() == before[0]


def progress() -> None:
    """Count an example; every 100th, write the count to ``$RCM_FUZZ_PROGRESS`` (if set), so
    a long run can be watched (hypothesis prints nothing until the end)."""
    global _done
    _done += 1
    path = os.environ.get("RCM_FUZZ_PROGRESS")
    if path and _done % 100 == 0:
        with open(path, "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {_done}\n")


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
