"""`db upgrade|current|history`: the database schema's revision (Alembic migrations).

With HOOKKIT_AUTO_MIGRATE=false the service never changes the schema itself; a deploy runs
`db upgrade` once, before starting the new processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.exc import OperationalError

from ..config import Settings
from ..store import migrate
from ..store.database import Store
from ..store.secrets import SecretsError, reseal
from .common import configure_logging, settings_from_env


@click.group()
def db() -> None:
    """The database schema: upgrade it, show its revision, list the migrations."""


@db.command("upgrade")
def upgrade_db() -> None:
    """Bring the database (HOOKKIT_DATABASE_URL) to the newest revision. Safe to run while
    the service runs or another upgrade starts; a database made before hookkit had
    migrations is adopted with its data."""
    settings = settings_from_env()
    configure_logging(settings)
    with _store(settings) as store:
        click.echo(str(migrate.upgrade(store)))


@db.command("reseal")
def reseal_db() -> None:
    """Seal every stored secret with the first of HOOKKIT_ENCRYPTION_KEYS (after putting a
    new key first), so the keys after it can be dropped. Safe while the service runs."""
    settings = settings_from_env()
    configure_logging(settings)
    with _store(settings) as store, store.write() as conn:
        changed = reseal(conn, store.sealer)
    click.echo(f"sealed {changed} hook(s) again with key {store.sealer.sealing_key_id}")


@db.command("current")
@click.option("--check", is_flag=True, help="exit with status 1 unless the database is at head")
def current_db(check: bool) -> None:
    """Print the database's revision (and whether it is the newest); changes nothing."""
    with _store(settings_from_env()) as store:
        status = migrate.current(store)
    click.echo(str(status))
    if check and not status.at_head:
        raise SystemExit(1)


@db.command("history")
def history_db() -> None:
    """List the migrations this hookkit ships, newest first."""
    for step in migrate.history():
        marks = [
            mark
            for mark, revision in (("head", migrate.head()), ("baseline", migrate.BASELINE))
            if step.revision == revision
        ]
        suffix = f"  ({', '.join(marks)})" if marks else ""
        click.echo(f"{step.revision}  {step.message}{suffix}")


@contextmanager
def _store(settings: Settings) -> Iterator[Store]:
    """The configured database, closed after use; its errors become one clear CLI message."""
    try:
        store = Store(settings.database_url, encryption_keys=settings.encryption_keys)
    except ValueError as exc:
        raise click.ClickException(f"HOOKKIT_DATABASE_URL: {exc}") from None
    try:
        yield store
    except (migrate.SchemaNotCurrent, SecretsError) as exc:
        raise click.ClickException(str(exc)) from None
    except OperationalError as exc:
        raise click.ClickException(f"database unreachable or failing: {exc.orig}") from None
    finally:
        store.dispose()
