"""The state store: what the kernel cannot hold, in SQLite (WAL).

Three tables:

- ``operations`` / ``steps``: the journal of operations in flight.  Every phase
  step is written *before* the handler is called ("started") and again after
  ("done"), so that after a crash at any point the next start knows which
  handlers may have acted and can complete or roll back the operation.
- ``resources``: resources that rcm itself took away (a detach completed), so
  that the udev ``remove`` that follows is recognised as expected and only an
  unannounced one counts as a surprise removal.
- ``kv``: each handler's own records (e.g. the IPMP handler's records of
  detached NICs), through :class:`HandlerStore`.

One connection per thread (sqlite3 objects are not shared across threads).

Durability.  Every commit is in the WAL file when the call returns, so it
survives rcmd being killed at any point (tests/test_lab_recovery.py kills it
at every failpoint).  Only the commits that must survive a power loss *before
something acts* are also fsynced (``synchronous=FULL``, ~0.7-4 ms each here):
an operation's start, a step about to be taken, and a handler's own records
(which it writes before it acts).  The others (phase changes, step
completions, an operation's end, removal marks) are committed without fsync
(``synchronous=NORMAL``, ~30 us) and reach the disk with the next durable
commit: losing them to a power cut loses nothing recovery needs, because it
asks the kernel whether the hardware step happened (a ``hardware`` phase
reads as ``offline``, a lost end as an operation to complete again, which is
idempotent), and a power cut resets the kernel state they describe anyway.
An unconfigure makes 5 durable commits of 12.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcm.errors import RcmError

SQLITE_HEADER = b"SQLite format 3\x00"

SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,            -- 'detach' | 'attach'
    ap_id TEXT NOT NULL,
    action TEXT NOT NULL,
    resources TEXT NOT NULL,       -- JSON list
    force INTEGER NOT NULL,
    phase TEXT NOT NULL,           -- query | offline | hardware | hardware_done | remove | online
    state TEXT NOT NULL,           -- running | done | vetoed | failed | rolled_back
    started REAL NOT NULL,
    ended REAL
);
CREATE TABLE IF NOT EXISTS steps (
    op_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    phase TEXT NOT NULL,           -- offline | online | remove
    handler TEXT NOT NULL,
    resource TEXT NOT NULL,
    status TEXT NOT NULL,          -- started | done | failed
    finished INTEGER,              -- completion order (nested calls finish first)
    PRIMARY KEY (op_id, seq)
);
CREATE TABLE IF NOT EXISTS resources (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,           -- removed
    op_id INTEGER,
    since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
    handler TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,           -- JSON
    PRIMARY KEY (handler, key)
);
"""


class JournalError(RcmError):
    """The journal cannot be used: corrupt, or not readable/writable.  The
    message names the file and the fault in one line; for a corrupt journal it
    also says how to recover (``rcmd --set-aside-journal``)."""


def journal_fault(path: Path, e: Exception) -> JournalError:
    """The one line an admin sees for an SQLite or OS error on the journal."""
    if _is_corrupt(e):
        return JournalError(
            f"{path}: corrupt journal ({e}); nothing was changed; to recover, run"
            f" 'rcmd --set-aside-journal' (it keeps the file as {path.name}.corrupt-<timestamp>"
            " and rcmd starts with an empty journal)"
        )
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    return JournalError(
        f"{path}: cannot open the journal for writing ({reason}); nothing was changed;"
        f" {path.parent} must be a writable folder on a writable file system"
    )


def _is_corrupt(e: Exception) -> bool:
    return getattr(e, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT")


def set_aside(path: Path, stamp: str | None = None) -> Path:
    """Move the journal (with its -wal and -shm files) to
    ``<name>.corrupt-<timestamp>``: kept for a post-mortem, never deleted.
    The caller holds the system lock.  Returns the new name of the database."""
    stamp = stamp or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("-wal", "-shm", ""):  # the database last: a crash leaves it to find
        src = path.with_name(path.name + suffix)
        if src.exists():
            src.rename(target.with_name(target.name + suffix))
    return target


@dataclass
class OperationRecord:
    id: int
    kind: str
    ap_id: str
    action: str
    resources: list[str]
    force: bool
    phase: str
    state: str


class _NotADatabase(sqlite3.DatabaseError):
    sqlite_errorname = "SQLITE_NOTADB"


def _quick_check(conn: sqlite3.Connection) -> None:
    """A malformed page found now, at opening, not halfway through recovery."""
    row = conn.execute("PRAGMA quick_check").fetchone()
    if row is None or row[0] != "ok":
        e = _NotADatabase(f"database disk image is malformed: {row[0] if row else '?'}")
        e.sqlite_errorname = "SQLITE_CORRUPT"
        raise e


def _try_a_write(conn: sqlite3.Connection) -> None:
    """SQLite opens a file it cannot write read-only without a word (a
    read-only file system, an immutable file): write once and roll back, so
    that this is found at opening, not at an operation's first step."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("INSERT OR REPLACE INTO kv VALUES ('rcm', 'write-check', 'null')")
    finally:
        conn.execute("ROLLBACK")


class Store:
    """Thread-safe access to the state database (a connection per thread)."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        """``readonly``: read the database if there is one, else an empty one
        in memory, and create nothing: for listing, for ``rcmd
        --check-config``, and for cfgadm's in-process engine until a change
        is certain (:meth:`make_writable`)."""
        self.path = path
        self.readonly = True
        self._local = threading.local()
        self._generation = 0  # bumped when the mode changes: each thread reconnects
        if not readonly:
            self.make_writable()

    def make_writable(self) -> None:
        """Create the state folder and the database if they are missing, and
        write from now on (every thread's next call reconnects).

        A corrupt or unwritable journal is a :class:`JournalError` here,
        before anything acts, and the file is left as it was."""
        if not self.readonly:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._check_header()
            self.readonly = False
            self._generation += 1
            conn = self._conn()
            _quick_check(conn)
            conn.executescript(SCHEMA)
            _try_a_write(conn)
        except (sqlite3.Error, OSError) as e:
            self.readonly = True
            self._generation += 1
            raise journal_fault(self.path, e) from None

    def _check_header(self) -> None:
        """Junk in the header is refused before SQLite may touch the file (a
        zero-length file is an empty database: SQLite writes its header)."""
        try:
            with open(self.path, "rb") as f:
                head = f.read(len(SQLITE_HEADER))
        except FileNotFoundError:
            return
        if head and head != SQLITE_HEADER:
            raise journal_fault(self.path, _NotADatabase("file is not a database"))

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "generation", 0) != self._generation:
            conn.close()  # a read-only connection of this thread, from before make_writable
            conn = None
        if conn is None:
            if self.readonly:
                conn = self._read_only_conn()
            else:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            self._local.generation = self._generation
            self._local.durable = True
        return conn

    def _read_only_conn(self) -> sqlite3.Connection:
        """The journal read-only, or an empty one in memory when there is none
        this user may read (missing, or an unprivileged cfgadm -l: the state
        folder is 0700).  A journal that is there but corrupt is an error:
        reading it as empty would show a wrong state."""
        try:
            self._check_header()
        except PermissionError:
            pass  # not ours to read: the in-memory journal below
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
            try:
                conn.execute("SELECT 1 FROM kv LIMIT 1")
                _quick_check(conn)
                return conn
            except sqlite3.Error:
                conn.close()
                raise
        except sqlite3.Error as e:
            if _is_corrupt(e):
                raise journal_fault(self.path, e) from None
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.executescript(SCHEMA)
        return conn

    def _tx(self, durable: bool = False) -> _Tx:
        """A write transaction; ``durable``: fsynced before it returns (see
        the module docstring for which writes need that)."""
        conn = self._conn()
        if durable != self._local.durable:
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._local.durable = durable
        return _Tx(conn)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- journal -------------------------------------------------------------
    def begin(self, kind: str, ap_id: str, action: str, resources: list[str], force: bool) -> int:
        with self._tx(durable=True) as db:
            cur = db.execute(
                "INSERT INTO operations (kind, ap_id, action, resources, force, phase, state,"
                " started) VALUES (?, ?, ?, ?, ?, 'query', 'running', ?)",
                (kind, ap_id, action, json.dumps(resources), int(force), time.time()),
            )
            return int(cur.lastrowid or 0)

    def set_phase(self, op_id: int, phase: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE operations SET phase = ? WHERE id = ?", (phase, op_id))

    def finish(self, op_id: int, state: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE operations SET state = ?, ended = ? WHERE id = ?",
                (state, time.time(), op_id),
            )

    def step(self, op_id: int, phase: str, handler: str, resource: str, status: str) -> int:
        """Record a step start; returns its seq (pass it to :meth:`step_status`).

        A step about to start is durable before the handler is called; a step
        recorded as already done needs no fsync of its own."""
        with self._tx(durable=status == "started") as db:
            row = db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE op_id = ?", (op_id,)
            ).fetchone()
            seq = int(row[0])
            db.execute(
                "INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (op_id, seq, phase, handler, resource, status),
            )
            return seq

    def step_status(self, op_id: int, seq: int, status: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE steps SET status = ?, finished = (SELECT COALESCE(MAX(finished), 0) + 1"
                " FROM steps WHERE op_id = ?) WHERE op_id = ? AND seq = ?",
                (status, op_id, op_id, seq),
            )

    def released(self, op_id: int) -> list[tuple[str, str]]:
        """(handler, resource) of every offline step, in the order the calls
        completed; calls that never completed (in progress at a crash) last,
        so that a reversed walk restores them first."""
        rows = (
            self._conn()
            .execute(
                "SELECT handler, resource FROM steps WHERE op_id = ? AND phase = 'offline'"
                " ORDER BY finished IS NULL, finished, seq DESC",
                (op_id,),
            )
            .fetchall()
        )
        return [(h, r) for h, r in rows]

    def running(self) -> list[OperationRecord]:
        rows = (
            self._conn()
            .execute(
                "SELECT id, kind, ap_id, action, resources, force, phase, state FROM operations"
                " WHERE state = 'running' ORDER BY id"
            )
            .fetchall()
        )
        return [
            OperationRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), bool(r[5]), r[6], r[7])
            for r in rows
        ]

    # -- resources rcm took away ---------------------------------------------
    def mark_removed(self, resource: str, op_id: int | None) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO resources VALUES (?, 'removed', ?, ?)",
                (resource, op_id, time.time()),
            )

    def clear_removed(self, resource: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM resources WHERE name = ?", (resource,))

    def is_removed(self, resource: str) -> bool:
        row = self._conn().execute("SELECT 1 FROM resources WHERE name = ?", (resource,)).fetchone()
        return row is not None

    # -- handler records ----------------------------------------------------
    def for_handler(self, handler: str, check: Callable[[], None] | None = None) -> HandlerStore:
        return HandlerStore(self, handler, check)

    def kv_get(self, handler: str, key: str) -> Any:
        row = (
            self._conn()
            .execute("SELECT value FROM kv WHERE handler = ? AND key = ?", (handler, key))
            .fetchone()
        )
        return None if row is None else json.loads(row[0])

    def kv_set(self, handler: str, key: str, value: Any) -> None:
        with self._tx(durable=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (handler, key, json.dumps(value))
            )

    def kv_delete(self, handler: str, key: str) -> None:
        with self._tx(durable=True) as db:
            db.execute("DELETE FROM kv WHERE handler = ? AND key = ?", (handler, key))

    def kv_items(self, handler: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
        rows = (
            self._conn()
            .execute(
                "SELECT key, value FROM kv WHERE handler = ? AND key >= ? AND key < ? ORDER BY key",
                (handler, prefix, prefix + "\uffff"),
            )
            .fetchall()
        )
        for key, value in rows:
            yield key, json.loads(value)


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ROLLBACK on error)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


class HandlerStore:
    """A handler's own persistent records: JSON values under string keys.

    Writes are durable when the call returns, so a handler that records
    before it acts can always find its record after a crash.
    """

    def __init__(self, store: Store, handler: str, check: Callable[[], None] | None) -> None:
        self._store = store
        self._handler = handler
        self._check = check or (lambda: None)

    def get(self, key: str, default: Any = None) -> Any:
        value = self._store.kv_get(self._handler, key)
        return default if value is None else value

    def set(self, key: str, value: Any) -> None:
        self._check()
        self._store.kv_set(self._handler, key, value)

    def delete(self, key: str) -> None:
        self._check()
        self._store.kv_delete(self._handler, key)

    def items(self, prefix: str = "") -> list[tuple[str, Any]]:
        return list(self._store.kv_items(self._handler, prefix))
