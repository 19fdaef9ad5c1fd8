"""The database connection: one `Store` per process owns the engine and hands out short
transactions, for SQLite (embedded, one file shared by the API and the worker) and
PostgreSQL (any number of processes and machines).

This module never decides delivery policy (`delivery` does), never declares a table
(`tables` does) and never changes the schema (`migrate` does).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError

from ..errors import DatabaseUnavailable
from .secrets import Sealer, sealer_for

T = TypeVar("T")


class Store:
    """Owns the engine; hands out short transactions.

    `write()` takes SQLite's write lock up front (`BEGIN IMMEDIATE`) so concurrent writers
    queue on the busy timeout instead of failing with "database is locked" half-way through;
    `read()` uses a deferred transaction, which WAL lets run beside a writer.
    """

    def __init__(self, url: str, *, encryption_keys: str = "") -> None:
        """`encryption_keys`: HOOKKIT_ENCRYPTION_KEYS (see `secrets`), used on first need."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = _create_engine(url)
        self._write_lock = _sqlite_write_lock(url) if self.is_sqlite else contextlib.nullcontext()
        self._encryption_keys = encryption_keys
        self._sealer: Sealer | None = None

    @property
    def sealer(self) -> Sealer:
        """What seals and opens the secrets this database holds (`secrets`); resolved on
        first use, so commands that read no secret need no key. Raises `SecretsError`."""
        if self._sealer is None:
            self._sealer = sealer_for(self.url, self._encryption_keys)
        return self._sealer

    def listen_conninfo(self) -> str | None:
        """A libpq URL for a dedicated LISTEN connection (PostgreSQL only, else None)."""
        if self.is_sqlite:
            return None
        url = make_url(self.url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        # SQLite's busy handler sleeps in fixed steps (1, 2, 5, 10… ms) instead of waking when
        # the lock frees, so writers of one process queue on a lock of ours instead; the busy
        # timeout then only arbitrates between processes. (Measured: publish-to-receipt p95
        # fell from ~400 ms to ~20 ms at 200 events/s, bench/throughput.py.)
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def write_retrying(self, work: Callable[[Connection], T]) -> T:
        """`work(conn)` in a `write()` transaction, run once more on a fresh connection when
        the first one is lost (a restarted or failed-over PostgreSQL, a terminated backend);
        `DatabaseUnavailable` (503, Retry-After) when the second is lost too.

        The connection may break while the COMMIT travels, so the first run may have been
        stored: `work` must find its own earlier result (e.g. by an id chosen before the
        first run) instead of writing it twice.
        """
        for attempt in (1, 2):
            try:
                with self.write() as conn:
                    return work(conn)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                if attempt == 2:
                    raise DatabaseUnavailable(
                        "the database connection was lost twice; nothing was stored, retry"
                    ) from exc
        raise AssertionError("unreachable")

    @contextmanager
    def schema_write(self) -> Iterator[Connection]:
        """`write()` for schema changes (`migrate`). On SQLite, foreign keys are off inside it
        and checked once before commit, SQLite's own procedure for altering tables: rebuilding
        a table that others reference (Alembic's batch mode) would otherwise fail or cascade.
        """
        if not self.is_sqlite:
            with self.write() as conn:
                yield conn
            return
        with self._write_lock, self.engine.connect() as conn:
            sqlite = conn.connection.driver_connection
            sqlite.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: before it
            try:
                with conn.begin():
                    yield conn
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"schema change broke foreign keys: {broken[:5]}")
            finally:
                sqlite.execute("PRAGMA foreign_keys=ON")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(hookkit_read=True)
            with conn.begin():
                yield conn

    def ping(self) -> None:
        """One round trip (health checks); raises when the database is unreachable."""
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


_SQLITE_BUSY_SECONDS = 30  # how long a SQLite writer waits for another process's lock
_SQLITE_LOCKS: dict[str, threading.Lock] = {}
_SQLITE_LOCKS_GUARD = threading.Lock()


def _sqlite_write_lock(url: str) -> threading.Lock:
    """One lock per SQLite file per process, shared by every Store opened on it."""
    path = os.path.abspath(url.split("///", 1)[-1])
    with _SQLITE_LOCKS_GUARD:
        return _SQLITE_LOCKS.setdefault(path, threading.Lock())


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """`PRAGMA journal_mode=WAL`, retried while the file is locked: switching a new file to
    WAL takes an exclusive lock without waiting on the busy timeout, so processes opening one
    new database at once (services starting together) could fail here (measured: 8 runs of
    80 with six processes)."""
    deadline = time.monotonic() + _SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _create_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:":
        raise ValueError("hookkit needs a SQLite file (the worker and the API share it)")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": _SQLITE_BUSY_SECONDS}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("hookkit_read", False)
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

    return engine
