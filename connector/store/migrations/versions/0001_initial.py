"""Initial schema: the tables, indexes and (PostgreSQL) NOTIFY triggers.

This is the baseline revision: a database made before hookkit had migrations (by
`metadata.create_all`) holds exactly this schema, and `migrate` stamps it here.

Written out rather than imported from `tables`, so that later changes to `tables` cannot
change what this revision did.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOTIFY_FUNCTION = """
    CREATE OR REPLACE FUNCTION hookkit_notify_deliveries() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('hookkit_deliveries', '');
        RETURN NULL;
    END $$
"""
NOTIFY_TRIGGERS = (
    """
    CREATE TRIGGER hookkit_deliveries_inserted AFTER INSERT ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION hookkit_notify_deliveries()
    """,
    """
    CREATE TRIGGER hookkit_deliveries_requeued AFTER UPDATE OF status ON deliveries
    FOR EACH ROW WHEN (NEW.status = 'pending' AND OLD.status <> 'pending')
    EXECUTE FUNCTION hookkit_notify_deliveries()
    """,
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("notification_email", sa.String(320)),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("events", sa.JSON, nullable=False),
        sa.Column("event_key", sa.Text, nullable=False),
        sa.Column("target_url", sa.Text, nullable=False),
        sa.Column("target_host", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("content_type", sa.String(8), nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("auth", sa.JSON),
        sa.Column("custom_values", sa.JSON, nullable=False),
        sa.Column("mapping", sa.Text),
        sa.Column("filter", sa.Text),
        sa.Column("filters", sa.JSON, nullable=False),
        sa.Column("log_response_body", sa.Boolean, nullable=False),
        sa.Column("rate_limit", sa.Double),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100)),
        sa.Column("previous_secret_expires_at", sa.Double),
        sa.Column("expires_at", sa.Double),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("deleted_at", sa.Double),
        sa.Column("delivery_count", sa.Integer, nullable=False),
        sa.Column("failure_count", sa.Integer, nullable=False),
        sa.Column("failure_streak", sa.Integer, nullable=False),
        sa.Column("last_delivery_at", sa.Double),
        sa.Column("last_delivery", sa.JSON),
    )
    # At most one live hook per account, event set and URL; PostgreSQL indexes digests
    # (a btree entry holds at most ~2.7 kB).
    if dialect == "postgresql":
        op.create_index(
            "uq_subscriptions_live_digest",
            "subscriptions",
            ["account_id", sa.text("md5(event_key)"), sa.text("md5(target_url)")],
            unique=True,
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
    else:
        op.create_index(
            "uq_subscriptions_live",
            "subscriptions",
            ["account_id", "event_key", "target_url"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
        )
    op.create_index(
        "ix_subscriptions_account", "subscriptions", ["account_id", "deleted_at", "created_at"]
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("is_test", sa.Boolean, nullable=False),
        sa.Column("delivery_count", sa.Integer, nullable=False),
        sa.UniqueConstraint("account_id", "idempotency_key", name="uq_events_idempotency"),
    )
    op.create_index("ix_events_recent", "events", ["account_id", "type", "created_at"])
    op.create_table(
        "subscription_events",
        sa.Column(
            "subscription_id", sa.String(40), sa.ForeignKey("subscriptions.id"), primary_key=True
        ),
        sa.Column("event_type", sa.String(200), primary_key=True),
        sa.Column("account_id", sa.String(40), nullable=False),
    )
    op.create_index(
        "ix_subscription_events_lookup", "subscription_events", ["account_id", "event_type"]
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column(
            "subscription_id", sa.String(40), sa.ForeignKey("subscriptions.id"), nullable=False
        ),
        sa.Column("event_id", sa.String(40), sa.ForeignKey("events.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Double, nullable=False),
        sa.Column("lease_owner", sa.String(40)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("last_response_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("is_test", sa.Boolean, nullable=False),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_subscription", "deliveries", ["subscription_id", "created_at"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(40), sa.ForeignKey("deliveries.id"), nullable=False),
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("duration_ms", sa.Double, nullable=False),
        sa.Column("response_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("response_body", sa.Text),
        sa.Column("outcome", sa.String(16), nullable=False),
    )
    op.create_index("ix_attempts_delivery", "attempts", ["delivery_id", "attempt"])
    if dialect == "postgresql":
        # Workers LISTEN on hookkit_deliveries: one NOTIFY per publishing statement, and
        # one when a finished delivery is queued again (a manual retry).
        op.execute(NOTIFY_FUNCTION)
        for trigger in NOTIFY_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER hookkit_deliveries_requeued ON deliveries")
        op.execute("DROP TRIGGER hookkit_deliveries_inserted ON deliveries")
        op.execute("DROP FUNCTION hookkit_notify_deliveries()")
    for table in (
        "attempts",
        "deliveries",
        "subscription_events",
        "events",
        "subscriptions",
        "api_keys",
        "accounts",
    ):
        op.drop_table(table)
