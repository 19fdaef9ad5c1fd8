"""Alembic's environment for hookkit: runs the migrations on the connection that
`connector.store.migrate` hands over in `config.attributes["connection"]`.

It never opens a connection, reads a URL or an ini file, or commits: the caller owns the
connection, its transaction and the lock around it (see `migrate`).
"""

from __future__ import annotations

from alembic import context

from connector.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "hookkit migrations run on a connection handed over by connector.store.migrate "
        "(python -m connector db upgrade), not from the alembic command line"
    )

# Transactional on both dialects: everything runs inside the caller's one transaction (on
# SQLite, after its BEGIN IMMEDIATE), so a failed migration leaves the database as it was.
context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
with context.begin_transaction():  # inside the caller's transaction: a no-op
    context.run_migrations()
