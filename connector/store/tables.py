"""The database schema: SQLAlchemy Core tables for SQLite (embedded) and PostgreSQL.

The database is also the delivery queue (a transactional outbox): an event and all of its
deliveries are written in one transaction, and workers claim due deliveries with a lease.
Times are stored as UNIX seconds (double precision) so both dialects compare them the same
way; the API formats them as ISO-8601.

These declarations are what the migrations in `store/migrations` must reproduce (a test
compares them); a change here needs a new migration. This module never runs a query.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

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
    # `whsec_…` (or the user's own string) for HMAC schemes; `whsk_…` for ed25519; sealed
    # (`store.secrets`) like `auth`'s password and sensitive `headers` values, since 0003.
    Column("secret", Text, nullable=False),
    Column("previous_secret", Text),
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
    # {"scheme", "header"} (`wire.schemes`); NULL: Standard Webhooks, as before revision 0002.
    Column("signature", JSON),
    # Delays before each retry, in seconds ([] = none); NULL: the deployment's schedule.
    Column("retry_schedule", JSON),
    Column("success", String(16)),  # 2xx | 2xx-3xx; NULL: 2xx
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
# transaction that queued them, so a woken worker always finds them committed. `migrate`
# runs NOTIFY_DDL on a new database; the migrations carry their own copy (a test compares).
NOTIFY_CHANNEL = "hookkit_deliveries"

NOTIFY_DDL = (
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
