"""Replays of a time range and thin payloads.

`replays` holds each `POST /v1/hooks/{id}/replay`: what to send again, how far the workers
got (a phase and a cursor) and the counts the API shows; a partial unique index keeps one
running replay per hook. `ix_deliveries_event` finds whether a hook has a delivery of an
event (a missed event has none). `subscriptions.payload` is NULL for every existing hook:
they keep receiving the full body.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("payload", sa.JSON))
    op.create_index("ix_deliveries_event", "deliveries", ["event_id", "subscription_id"])
    op.create_table(
        "replays",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column(
            "subscription_id", sa.String(40), sa.ForeignKey("subscriptions.id"), nullable=False
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("event_types", sa.JSON),
        sa.Column("include_missed", sa.Boolean, nullable=False),
        sa.Column("since", sa.Double, nullable=False),
        sa.Column("until", sa.Double, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("queued", sa.Integer, nullable=False),
        sa.Column("missed", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("cursor_at", sa.Double),
        sa.Column("cursor_id", sa.String(40)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double),
    )
    op.create_index("ix_replays_status", "replays", ["status", "updated_at"])
    op.create_index("ix_replays_subscription", "replays", ["subscription_id", "created_at"])
    running = sa.text("status = 'running'")
    op.create_index(
        "uq_replays_running",
        "replays",
        ["subscription_id"],
        unique=True,
        sqlite_where=running,
        postgresql_where=running,
    )


def downgrade() -> None:
    op.drop_index("uq_replays_running", table_name="replays")
    op.drop_index("ix_replays_subscription", table_name="replays")
    op.drop_index("ix_replays_status", table_name="replays")
    op.drop_table("replays")
    op.drop_index("ix_deliveries_event", table_name="deliveries")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("payload")
