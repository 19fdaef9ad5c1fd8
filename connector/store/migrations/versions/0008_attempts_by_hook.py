"""An index on a hook's attempts by time, for the dashboard's 24-hour chart.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_attempts_hook_at", "attempts", ["subscription_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_attempts_hook_at", table_name="attempts")
