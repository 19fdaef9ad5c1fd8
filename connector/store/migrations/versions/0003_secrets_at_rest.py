"""Secrets at rest: seal hook secrets, basic-auth passwords and sensitive header values.

Every stored `secret` and `previous_secret` (for ed25519 the `whsk_` private key), every
basic-auth password and every value of a header whose name looks sensitive becomes
`hk1:<key id>:<Fernet token>` (`connector.store.secrets`), sealed with the first of the
store's keys (HOOKKIT_ENCRYPTION_KEYS, or a SQLite database's key file), which
`connector.store.migrate` hands over as `config.attributes["sealer"]`. The secret columns
become TEXT: a sealed 100-character secret takes about 240.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import context, op

from connector.store.secrets import SecretsError, seal_hook

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# `connector.hooks.fields.SENSITIVE_HEADER` as of this revision (a migration keeps its own
# copy: it must do the same on every later version).
_SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|cookie|password|signature", re.I)

_hooks = sa.table(
    "subscriptions",
    sa.column("id", sa.String),
    sa.column("secret", sa.Text),
    sa.column("previous_secret", sa.Text),
    sa.column("headers", sa.JSON),
    sa.column("auth", sa.JSON),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Zero what the rewrite frees, so no plaintext lingers in free pages of the file (the
        # default of many builds, not all). PostgreSQL keeps dead row versions until VACUUM:
        # docs/database.md says to run `VACUUM FULL subscriptions` after this upgrade.
        op.get_bind().exec_driver_sql("PRAGMA secure_delete=ON")
    with op.batch_alter_table("subscriptions") as batch:
        batch.alter_column(
            "secret", type_=sa.Text, existing_type=sa.String(100), existing_nullable=False
        )
        batch.alter_column(
            "previous_secret", type_=sa.Text, existing_type=sa.String(100), existing_nullable=True
        )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            _hooks.c.id, _hooks.c.secret, _hooks.c.previous_secret, _hooks.c.headers, _hooks.c.auth
        )
    ).all()
    if not rows:
        return
    get_sealer = context.config.attributes.get("sealer")
    if get_sealer is None:
        raise SecretsError(
            "migration 0003 seals the stored hook secrets and needs the encryption keys; "
            "run it through `python -m connector db upgrade` or the service"
        )
    sealer = get_sealer()
    for row in rows:
        values = {
            "secret": row.secret,
            "previous_secret": row.previous_secret,
            "headers": row.headers,
            "auth": row.auth,
        }
        sealed = seal_hook(values, sealer, lambda name: bool(_SENSITIVE_HEADER.search(name)))
        if sealed != values:
            conn.execute(_hooks.update().where(_hooks.c.id == row.id).values(sealed))


def downgrade() -> None:
    raise NotImplementedError("hookkit never downgrades; sealed secrets stay sealed")
