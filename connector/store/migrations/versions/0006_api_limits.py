"""Single-use one-click links and per-key API rate limits.

`used_links` remembers the SHA-256 of every one-click link token already used (a link works
once); `api_keys.rate_tat` holds each key's rate-limit state (GCRA's theoretical arrival
time), shared by every process and machine on the database.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("rate_tat", sa.Double))
    op.create_table(
        "used_links",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("used_at", sa.Double, nullable=False),
    )
    op.create_index("ix_used_links_used_at", "used_links", ["used_at"])


def downgrade() -> None:
    op.drop_index("ix_used_links_used_at", table_name="used_links")
    op.drop_table("used_links")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("rate_tat")
