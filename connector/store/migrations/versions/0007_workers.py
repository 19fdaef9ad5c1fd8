"""Worker heartbeats and trace context.

`workers` holds one row per running delivery worker (its id, host name, pid, start and last
heartbeat), so an API process without an embedded worker can tell whether any worker is
alive (`/readyz`, `hookkit_workers_alive`). `events.trace_context` keeps the publish
request's W3C `traceparent` when tracing is on, so delivery attempts join its trace.
On PostgreSQL, `deliveries` gets autovacuum settings of its own (vacuumed after 1,000 + 1 %
of its rows are dead, not 20 %), so claims do not wade through dead row versions
(`tables.DELIVERIES_AUTOVACUUM`; docs/operations.md "Retention and a large table").

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("trace_context", sa.String(128)))
    op.create_table(
        "workers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("last_seen", sa.Double, nullable=False),
    )
    op.create_index("ix_workers_last_seen", "workers", ["last_seen"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.01, "
            "autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.02)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE deliveries RESET (autovacuum_vacuum_scale_factor, "
            "autovacuum_vacuum_threshold, autovacuum_analyze_scale_factor)"
        )
    op.drop_index("ix_workers_last_seen", table_name="workers")
    op.drop_table("workers")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("trace_context")
