"""Per-hook ordering (FIFO delivery).

`subscriptions.ordering`: "fifo" sends a hook's deliveries one at a time in publish order;
NULL (every hook made before this revision) stays concurrent. The partial index
`ix_deliveries_queued_order` lets a claim find a FIFO hook's oldest queued delivery without
reading the hook's history.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_QUEUED = sa.text("status = 'pending'")


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("ordering", sa.String(16)))
    op.create_index(
        "ix_deliveries_queued_order",
        "deliveries",
        ["subscription_id", "created_at", "id"],
        sqlite_where=_QUEUED,
        postgresql_where=_QUEUED,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_queued_order", table_name="deliveries")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("ordering")
