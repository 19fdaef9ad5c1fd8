"""Per-hook delivery format: signature scheme and header, retry schedule, success rule.

Hooks made before this revision keep what they had: no `signature` means Standard Webhooks,
no `retry_schedule` the deployment's schedule, no `success` the 2xx rule.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("signature", sa.JSON))
    op.add_column("subscriptions", sa.Column("retry_schedule", sa.JSON))
    op.add_column("subscriptions", sa.Column("success", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("success")
        batch.drop_column("retry_schedule")
        batch.drop_column("signature")
