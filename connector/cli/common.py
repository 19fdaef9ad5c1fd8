"""What every command shares: the settings read from the environment, logging, the catalog
check and the store. Entry points are the only code that reads `HOOKKIT_*` variables."""

from __future__ import annotations

import logging

import click

from ..config import Settings
from ..store.database import Store


def settings_from_env() -> Settings:
    """`Settings` from the `HOOKKIT_*` variables; a bad value is a clear CLI error."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(f"bad configuration: {exc}") from None


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


def check_catalog(settings: Settings) -> None:
    """Load the catalog once, so a broken file is one clear message, not a failed boot."""
    from ..catalog import Catalog
    from ..clock import system_clock
    from ..errors import CatalogError, ConfigError
    from ..events.samples import check_envelope

    try:
        catalog = Catalog.load(settings.schemas_dir, settings.samples_dir)
        check_envelope(catalog, settings.envelope, system_clock())
    except (CatalogError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None


def open_store(settings: Settings) -> Store:
    """The configured database, its schema at head: upgraded first unless
    HOOKKIT_AUTO_MIGRATE=false, which makes a database behind head a clear CLI error; so is
    a missing encryption key (HOOKKIT_ENCRYPTION_KEYS)."""
    from ..errors import SchemaNotCurrent
    from ..store import migrate
    from ..store.secrets import SecretsError, check_stored_keys

    store = Store(settings.database_url, encryption_keys=settings.encryption_keys)
    try:
        migrate.ensure_current(store, auto_migrate=settings.auto_migrate)
        with store.read() as conn:  # a missing key: one clear message, before serving
            check_stored_keys(conn, store.sealer)
    except (SchemaNotCurrent, SecretsError) as exc:
        store.dispose()
        raise click.ClickException(str(exc)) from None
    return store
