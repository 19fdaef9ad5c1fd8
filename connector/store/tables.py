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
    # The key's API rate limit (`hooks.api_limits`, GCRA): the theoretical arrival time of
    # its next request; NULL: never limited yet. Since 0006.
    Column("rate_tat", Double),
)

# One-click links already used (`delivery.links`): a link works once. Only the SHA-256 of
# the token is kept, never the token; rows older than a link's lifetime are pruned. Since 0006.
used_links = Table(
    "used_links",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("used_at", Double, nullable=False),
    Index("ix_used_links_used_at", "used_at"),
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
    # fifo: one delivery at a time, in publish order; NULL: concurrent (since 0004).
    Column("ordering", String(16)),
    # Thin payloads (0005): {"shape": "thin", "events_url": "https://…/v1/events"}, the
    # collection each thin body's `url` points into; NULL: the full body.
    Column("payload", JSON),
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
    # The publish request's W3C `traceparent` with HOOKKIT_TRACING (`connector.tracing`), so
    # each delivery attempt joins its trace; NULL: not traced. Since 0007.
    Column("trace_context", String(128)),
    UniqueConstraint("account_id", "idempotency_key", name="uq_events_idempotency"),
    Index("ix_events_recent", "account_id", "type", "created_at"),
)

# PostgreSQL autovacuum for the queue (since 0007; docs/operations.md "Retention and a large
# table"): claims read past the dead row versions each delivery leaves in the `pending`
# index ranges until a vacuum, and the default (20 % of the table dead) waits for 200,000
# of them beside a million kept rows. These run it after 1,000 + 1 % instead.
DELIVERIES_AUTOVACUUM = {
    "autovacuum_vacuum_scale_factor": 0.01,
    "autovacuum_vacuum_threshold": 1000,
    "autovacuum_analyze_scale_factor": 0.02,
}

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
    # Whether a hook has a delivery of an event (replays' missed events, since 0005).
    Index("ix_deliveries_event", "event_id", "subscription_id"),
    postgresql_with=DELIVERIES_AUTOVACUUM,
)
# The due time of a FIFO hook's deliveries queued behind an unfinished earlier one (parked,
# `delivery.outbox`): out of the due range until their turn (9999-12-31T23:59:59Z).
PARKED = 253402300799.0
# A FIFO hook's delivery is claimable only while no earlier one of the hook is pending: the
# claim probes this index (only queued rows, so a hook's long history is never read).
Index(
    "ix_deliveries_queued_order",
    deliveries.c.subscription_id,
    deliveries.c.created_at,
    deliveries.c.id,
    sqlite_where=deliveries.c.status == "pending",
    postgresql_where=deliveries.c.status == "pending",
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
    # A hook's attempts by time: the dashboard's 24-hour chart (`history.hourly`). Since 0008.
    Index("ix_attempts_hook_at", "subscription_id", "at"),
)

# Live delivery workers (`delivery.heartbeat`, since 0007): each writes its row every
# HOOKKIT_HEARTBEAT and deletes it when it stops cleanly; `/readyz` and the
# `hookkit_workers_alive` gauge count rows seen within HOOKKIT_WORKER_TIMEOUT. Rows of killed
# workers are pruned by the others after a few minutes.
workers = Table(
    "workers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("last_seen", Double, nullable=False),
    Index("ix_workers_last_seen", "last_seen"),
)

# Replays of a time range (0005): the request stores what to replay; workers queue it in
# batches, each batch one short transaction that moves the cursor (`delivery.replays`).
replays = Table(
    "replays",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), nullable=False),
    Column("subscription_id", ForeignKey("subscriptions.id"), nullable=False),
    Column("status", String(16), nullable=False),  # running | done | cancelled
    Column("scope", String(8), nullable=False),  # failed | all
    Column("event_types", JSON),  # NULL: every type
    Column("include_missed", Boolean, nullable=False),
    Column("since", Double, nullable=False),
    Column("until", Double, nullable=False),
    Column("total", Integer, nullable=False),  # counted when asked
    Column("queued", Integer, nullable=False, default=0),  # sent again or created
    Column("missed", Integer, nullable=False, default=0),  # of `queued`: created
    Column("skipped", Integer, nullable=False, default=0),  # changed since asked, or filtered out
    # Where the worker goes on: phase `deliveries`, then `missed`; after (time, id).
    Column("phase", String(16), nullable=False),
    Column("cursor_at", Double),
    Column("cursor_id", String(40)),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("finished_at", Double),
    Index("ix_replays_status", "status", "updated_at"),
    Index("ix_replays_subscription", "subscription_id", "created_at"),
)
# One running replay per hook, however many requests race.
Index(
    "uq_replays_running",
    replays.c.subscription_id,
    unique=True,
    sqlite_where=replays.c.status == "running",
    postgresql_where=replays.c.status == "running",
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
