"""Schema migrations: bring a database's schema to the head revision, and say where it is.

The schema is versioned with Alembic. The revisions live in `store/migrations/versions`
and must reproduce `tables` (tests/test_migrations.py compares them); Alembic is
configured here in code (no alembic.ini) and its `env.py` runs on a connection this module
hands over, inside this module's transaction.

`upgrade(store)` works in one transaction under a lock (`Store.schema_write`; PostgreSQL:
an advisory lock; SQLite: the store's per-file write lock and `BEGIN IMMEDIATE`), so
processes starting at once on one database are safe: the first one migrates, the others
then find it at head.
What it does depends on what it finds:

- no hookkit tables: `metadata.create_all` (plus the NOTIFY triggers on PostgreSQL) and a
  stamp at head: the schema the migrations make (a test compares the two) in less time
  per fresh database, which every test builds (measured on a quiet 2-core machine: 5 ms
  instead of 15 on SQLite, 49 instead of 58 on PostgreSQL; before migrations 4 and 39);
- hookkit's tables without `alembic_version`: a database made before migrations, stamped
  at the baseline revision and then upgraded, keeping its data;
- a revision behind head: the migration scripts from there to head;
- a revision it does not know, or some of hookkit's tables only: `SchemaNotCurrent`.

`ensure_current(store, auto_migrate=...)` is the start-up check; `current` and `history`
answer `python -m connector db current|history`.

This module never downgrades, never drops or rewrites data itself (only migration scripts
change the schema), and never runs outside start-up and the `db` commands.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from ..errors import SchemaNotCurrent
from .database import Store
from .secrets import Sealer
from .tables import NOTIFY_DDL, metadata

__all__ = ["SchemaNotCurrent", "current", "ensure_current", "history", "upgrade"]

log = logging.getLogger("hookkit")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
UPGRADE_COMMAND = "python -m connector db upgrade"

# The revision whose schema hookkit made before it had migrations, and that schema's tables.
BASELINE = "0001"
BASELINE_TABLES = frozenset(
    {
        "accounts",
        "api_keys",
        "subscriptions",
        "subscription_events",
        "events",
        "deliveries",
        "attempts",
    }
)

# Serialises schema changes between processes on one PostgreSQL database (any constant).
_SCHEMA_LOCK = 0x686F6F6B  # "hook"
# Alembic's `op` and `context` are module-level proxies: one migration run per process at a time.
_ALEMBIC = threading.Lock()


@dataclass(frozen=True)
class Status:
    """Where a database's schema is."""

    revision: str | None  # from alembic_version; None when the database is not stamped
    head: str  # the revision this code needs
    tables: frozenset[str]  # hookkit's tables found in it

    @property
    def at_head(self) -> bool:
        return self.revision == self.head

    @property
    def empty(self) -> bool:
        return self.revision is None and not self.tables

    @property
    def made_before_migrations(self) -> bool:
        """hookkit's tables without a revision: made by `create_all` before migrations."""
        return self.revision is None and self.tables >= BASELINE_TABLES

    @property
    def known(self) -> bool:
        """Whether `upgrade` knows what to do with it."""
        if self.revision is None:
            return self.empty or self.made_before_migrations
        return self.revision in {step.revision for step in history()}

    def __str__(self) -> str:
        if self.at_head:
            return f"{self.revision} (head)"
        if self.empty:
            return "empty (no tables yet)"
        if self.made_before_migrations:
            return f"not stamped: made before migrations (upgrade adopts it at {BASELINE})"
        if self.revision is None:
            found = ", ".join(sorted(self.tables))
            return f"not stamped, with only some of hookkit's tables ({found})"
        if not self.known:
            return f"{self.revision}, a revision this code does not know (head {self.head})"
        return f"{self.revision}, behind head {self.head}"


@dataclass(frozen=True)
class Upgraded:
    """What `upgrade` did: `before` is where the database was, `after` where it is now."""

    before: Status
    after: str

    def __str__(self) -> str:
        if self.before.at_head:
            return f"already at {self.after} (head)"
        if self.before.empty:
            return f"created the schema at {self.after} (head)"
        if self.before.made_before_migrations:
            return (
                f"adopted a database made before migrations at {BASELINE}, "
                f"now at {self.after} (head)"
            )
        return f"upgraded from {self.before.revision} to {self.after} (head)"


@dataclass(frozen=True)
class Revision:
    """One migration: its id, the one it follows, and the first line of its docstring."""

    revision: str
    down_revision: str | None
    message: str


def upgrade(store: Store) -> Upgraded:
    """Bring the database to head (see the module docstring); safe to run concurrently.

    Raises `SchemaNotCurrent` for a database it does not recognise, touching nothing."""
    with _schema_transaction(store) as conn:
        before = _status(conn)
        if before.at_head:
            return Upgraded(before, before.head)
        if not before.known:
            raise SchemaNotCurrent(_refusal(before))
        if before.empty:
            metadata.create_all(conn, checkfirst=False)
            if not store.is_sqlite:
                for ddl in NOTIFY_DDL:
                    conn.execute(text(ddl))
            MigrationContext.configure(conn).stamp(_scripts(), "head")
        else:
            if before.made_before_migrations:
                MigrationContext.configure(conn).stamp(_scripts(), BASELINE)
            with _ALEMBIC:
                command.upgrade(alembic_config(conn, sealer=lambda: store.sealer), "head")
        result = Upgraded(before, _status(conn).revision or "")
    log.info("database schema: %s", result)
    return result


def current(store: Store) -> Status:
    """Where the database's schema is; changes nothing."""
    with store.read() as conn:
        return _status(conn)


def history() -> list[Revision]:
    """Every migration, newest (head) first."""
    return list(_history())


def head() -> str:
    """The revision this code needs."""
    return _head()


def ensure_current(store: Store, *, auto_migrate: bool) -> None:
    """The start-up check: upgrade the database when `auto_migrate`, else refuse one that is
    not at head. Raises `SchemaNotCurrent`, whose message says what to run."""
    if auto_migrate:
        upgrade(store)
        return
    status = current(store)
    if not status.at_head:
        raise SchemaNotCurrent(
            f"the database schema is {status}; this hookkit needs revision {status.head}. "
            + (
                f"Run `{UPGRADE_COMMAND}` (HOOKKIT_AUTO_MIGRATE=false: the service does not "
                "change the schema itself)"
                if status.known
                else _refusal(status)
            )
        )


def alembic_config(
    connection: Connection | None = None, *, sealer: Callable[[], Sealer] | None = None
) -> Config:
    """Alembic's configuration for hookkit's migrations, built in code (no alembic.ini).

    `alembic.command` functions take it, e.g. to write a new migration from the template:
    `command.revision(alembic_config(), "add x", rev_id="0002")`. Commands that touch a
    database need `connection` (env.py runs on it, in the caller's transaction). Migrations
    that seal secrets (0003) call `sealer` for the store's keys, only when they have rows
    to seal, so a database without hooks upgrades without keys."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    if sealer is not None:
        config.attributes["sealer"] = sealer
    return config


@contextmanager
def _schema_transaction(store: Store) -> Iterator[Connection]:
    # SQLite: the per-file lock of this process, then BEGIN IMMEDIATE (the database's write
    # lock) for other processes. PostgreSQL: an advisory lock, held until the transaction ends.
    with store.schema_write() as conn:
        if not store.is_sqlite:
            conn.execute(text(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})"))
        yield conn


def _status(conn: Connection) -> Status:
    names = set(inspect(conn).get_table_names())
    revision = None
    if VERSION_TABLE in names:
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        revision = ", ".join(sorted(rows)) or None
    hookkit_tables = names & (BASELINE_TABLES | set(metadata.tables))
    return Status(revision=revision, head=_head(), tables=frozenset(hookkit_tables))


def _refusal(status: Status) -> str:
    if status.revision is not None:
        return (
            f"The database is at revision {status.revision}, which this hookkit does not "
            f"know (its newest is {status.head}): a newer hookkit upgraded it, and hookkit "
            "never downgrades. Run that version, or restore a backup."
        )
    return (
        f"The database has some of hookkit's tables ({', '.join(sorted(status.tables))}) "
        f"but not all, and no {VERSION_TABLE} table: hookkit did not make it, so it is "
        "left alone. Point HOOKKIT_DATABASE_URL at an empty database or a hookkit one."
    )


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


@cache
def _head() -> str:
    found = _scripts().get_current_head()
    if found is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return found


@cache
def _history() -> list[Revision]:
    return [
        Revision(
            revision=script.revision,
            down_revision=script.down_revision,  # type: ignore[arg-type]
            message=script.doc.strip().splitlines()[0] if script.doc.strip() else "",
        )
        for script in _scripts().walk_revisions()
    ]
