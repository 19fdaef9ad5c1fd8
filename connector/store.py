"""Storage: the SQLAlchemy Core tables and the engine, for SQLite (embedded) and PostgreSQL.

The database is also the delivery queue (a transactional outbox): an event and all of its
deliveries are written in one transaction, and workers claim due deliveries with a lease.
Times are stored as UNIX seconds (double precision) so both dialects compare them the same
way; the API formats them as ISO-8601.

This module never decides delivery policy; `worker` and `delivery` do.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Double,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    text,
)
from sqlalchemy.engine import Connection, make_url

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("notification_email", String(320)),
    Column("created_at", Double, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("revoked_at", Double),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("events", JSON, nullable=False),
    # Sorted, comma-joined `events`: finds the existing hook when a platform re-subscribes.
    Column("event_key", Text, nullable=False),
    Column("target_url", Text, nullable=False),
    # `host:port` of target_url (`host_key`): the unit of per-host concurrency, so a worker
    # can skip hosts it already has enough work for.
    Column("target_host", String(300), nullable=False),
    Column("status", String(16), nullable=False),
    Column("platform", String(32), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("method", String(8), nullable=False),
    Column("content_type", String(8), nullable=False),
    Column("headers", JSON, nullable=False),
    Column("auth", JSON),
    Column("custom_values", JSON, nullable=False),
    Column("mapping", Text),
    Column("filter", Text),
    Column("filters", JSON, nullable=False),
    Column("log_response_body", Boolean, nullable=False),
    Column("rate_limit", Double),
    Column("secret", String(100), nullable=False),
    Column("previous_secret", String(100)),
    Column("previous_secret_expires_at", Double),
    Column("expires_at", Double),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("deleted_at", Double),
    Column("delivery_count", Integer, nullable=False, default=0),
    Column("failure_count", Integer, nullable=False, default=0),
    # Messages in a row that exhausted their retries; reaching the threshold disables the hook.
    Column("failure_streak", Integer, nullable=False, default=0),
    Column("last_delivery_at", Double),
    Column("last_delivery", JSON),
    Index("ix_subscriptions_account", "account_id", "deleted_at", "created_at"),
)
# At most one live hook per account, event set and URL, however many identical subscribes
# race each other. PostgreSQL indexes digests: a btree entry holds at most ~2.7 kB, less
# than a long non-ASCII URL or a long event list takes; SQLite has no such limit.
Index(
    "uq_subscriptions_live",
    subscriptions.c.account_id,
    subscriptions.c.event_key,
    subscriptions.c.target_url,
    unique=True,
    sqlite_where=subscriptions.c.deleted_at.is_(None),
).ddl_if(dialect="sqlite")
Index(
    "uq_subscriptions_live_digest",
    subscriptions.c.account_id,
    func.md5(subscriptions.c.event_key),
    func.md5(subscriptions.c.target_url),
    unique=True,
    postgresql_where=subscriptions.c.deleted_at.is_(None),
).ddl_if(dialect="postgresql")

# One row per (subscription, event type): the fan-out lookup at publish time is one index scan.
subscription_events = Table(
    "subscription_events",
    metadata,
    Column("subscription_id", ForeignKey("subscriptions.id"), primary_key=True),
    Column("event_type", String(200), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Index("ix_subscription_events_lookup", "account_id", "event_type"),
)

events = Table(
    "events",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("type", String(200), nullable=False),
    Column("data", JSON, nullable=False),
    Column("idempotency_key", String(200)),
    Column("created_at", Double, nullable=False),
    Column("is_test", Boolean, nullable=False, default=False),
    Column("delivery_count", Integer, nullable=False, default=0),
    UniqueConstraint("account_id", "idempotency_key", name="uq_events_idempotency"),
    Index("ix_events_recent", "account_id", "type", "created_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    # The Standard Webhooks `webhook-id`: stable across every retry of this message.
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("subscription_id", ForeignKey("subscriptions.id"), nullable=False),
    Column("event_id", ForeignKey("events.id"), nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed | cancelled
    Column("attempts", Integer, nullable=False, default=0),
    # When the delivery is next due; while claimed, when the claim's lease runs out.
    Column("next_attempt_at", Double, nullable=False),
    Column("lease_owner", String(40)),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("last_response_code", Integer),
    Column("last_error", Text),
    Column("is_test", Boolean, nullable=False, default=False),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_subscription", "subscription_id", "created_at"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", ForeignKey("deliveries.id"), nullable=False),
    Column("subscription_id", String(40), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", Double, nullable=False),
    Column("duration_ms", Double, nullable=False),
    Column("response_code", Integer),
    Column("error", Text),
    Column("response_body", Text),
    Column("outcome", String(16), nullable=False),  # delivered | retrying | failed | gone
    Index("ix_attempts_delivery", "delivery_id", "attempt"),
)


# PostgreSQL: workers LISTEN here; a trigger NOTIFYs when deliveries become due, in the
# transaction that queued them, so a woken worker always finds them committed.
NOTIFY_CHANNEL = "hookkit_deliveries"

_NOTIFY_DDL = (
    f"""
    CREATE OR REPLACE FUNCTION hookkit_notify_deliveries() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
        RETURN NULL;
    END $$
    """,
    # One notification per publishing statement, however many deliveries it fans out to.
    """
    CREATE TRIGGER hookkit_deliveries_inserted AFTER INSERT ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION hookkit_notify_deliveries()
    """,
    # A manual retry of a finished delivery; NOTIFY folds repeats within one transaction.
    """
    CREATE TRIGGER hookkit_deliveries_requeued AFTER UPDATE OF status ON deliveries
    FOR EACH ROW WHEN (NEW.status = 'pending' AND OLD.status <> 'pending')
    EXECUTE FUNCTION hookkit_notify_deliveries()
    """,
)
# Serialises schema creation between processes starting at once (any constant will do).
_SCHEMA_LOCK = 0x686F6F6B  # "hook"

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def host_key(url: str) -> str:
    """`host:port` of a target URL: what per-host concurrency limits count.

    Two receivers on one machine but different ports are different servers (aiohttp pools
    connections per host and port too), so a dead one must not use up the other's slots.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def new_id(prefix: str) -> str:
    """A time-ordered id (`evt_01j…`): sorting by id sorts by creation, across processes."""
    millis = int(time.time() * 1000)
    value = (millis << 80) | int.from_bytes(secrets.token_bytes(10), "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return f"{prefix}_{''.join(reversed(chars))}"


class Store:
    """Owns the engine; hands out short transactions.

    `write()` takes SQLite's write lock up front (`BEGIN IMMEDIATE`) so concurrent writers
    queue on the busy timeout instead of failing with "database is locked" half-way through;
    `read()` uses a deferred transaction, which WAL lets run beside a writer.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = _create_engine(url)
        self._write_lock = _sqlite_write_lock(url) if self.is_sqlite else contextlib.nullcontext()

    def create_schema(self) -> None:
        """Create missing tables; safe when several processes start at once."""
        with self.engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE already serialises this
            if not self.is_sqlite:
                conn.execute(text(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})"))
            metadata.create_all(conn)
            if not self.is_sqlite:
                _install_notify_triggers(conn)

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

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(hookkit_read=True)
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _install_notify_triggers(conn: Connection) -> None:
    conn.execute(text(_NOTIFY_DDL[0]))
    present = set(
        conn.execute(
            text(
                "SELECT tgname FROM pg_trigger"
                " WHERE tgrelid = CAST(:table AS regclass) AND NOT tgisinternal"
            ),
            {"table": deliveries.name},
        ).scalars()
    )
    for ddl in _NOTIFY_DDL[1:]:
        name = ddl.split()[2]
        if name not in present:
            conn.execute(text(ddl))


_SQLITE_LOCKS: dict[str, threading.Lock] = {}
_SQLITE_LOCKS_GUARD = threading.Lock()


def _sqlite_write_lock(url: str) -> threading.Lock:
    """One lock per SQLite file per process, shared by every Store opened on it."""
    path = os.path.abspath(url.split("///", 1)[-1])
    with _SQLITE_LOCKS_GUARD:
        return _SQLITE_LOCKS.setdefault(path, threading.Lock())


def _create_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    path = url.split("///", 1)[-1]
    if not path or path == ":memory:":
        raise ValueError("hookkit needs a SQLite file (the worker and the API share it)")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("hookkit_read", False)
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")

    return engine
