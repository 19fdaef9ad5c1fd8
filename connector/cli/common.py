"""What every command shares: the settings read from the environment, logging, the catalog
check and the store. Entry points are the only code that reads `HOOKKIT_*` variables."""

from __future__ import annotations

import os

import click

from ..config import Settings, env_problems
from ..store.database import Store


class BadConfiguration(click.ClickException):
    """Start-up refused: one line per problem, exit status 2, no traceback."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

    def show(self, file: object = None) -> None:
        for problem in self.problems:
            click.echo(f"bad configuration: {problem}", err=True)


def settings_from_env() -> Settings:
    """`Settings` from the `HOOKKIT_*` variables. Every unknown name (with the closest
    known one), bad value and unsafe combination is one line of a `BadConfiguration`."""
    problems = env_problems(os.environ)
    if problems:
        raise BadConfiguration(problems)
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise BadConfiguration([str(exc)]) from None


def configure_logging(settings: Settings) -> None:
    """Log lines in HOOKKIT_LOG_FORMAT at HOOKKIT_LOG_LEVEL; with HOOKKIT_METRICS_DIR, count
    metrics in prometheus-client's multiprocess mode (before anything counts)."""
    from .. import metrics
    from .logformat import configure, use_format

    configure(settings.log_level, settings.log_format)
    use_format(settings.log_format)
    if settings.metrics_dir:
        metrics.use_directory(settings.metrics_dir)


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


def check_smtp(settings: Settings) -> None:
    """With HOOKKIT_SMTP_URL set, the server must answer (and take the login) at start-up,
    so a wrong host or password is one clear line now, not a missed failure e-mail later."""
    import smtplib
    import ssl

    from ..delivery.smtp import connect, parse_smtp_url

    try:
        server = parse_smtp_url(settings.smtp_url)
    except ValueError as exc:
        raise BadConfiguration([f"HOOKKIT_SMTP_URL: {exc}"]) from None
    if server is None:
        return
    try:
        with connect(server, 5.0, ssl.create_default_context) as smtp:
            smtp.noop()
    except (OSError, smtplib.SMTPException) as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise BadConfiguration(
            [f"HOOKKIT_SMTP_URL: the SMTP server {server.host}:{server.port} fails: {reason}"]
        ) from None


def open_store(settings: Settings) -> Store:
    """The configured database, its schema at head: upgraded first unless
    HOOKKIT_AUTO_MIGRATE=false, which makes a database behind head a clear CLI error; so is
    a missing encryption key (HOOKKIT_ENCRYPTION_KEYS)."""
    from sqlalchemy.exc import OperationalError

    from ..errors import SchemaNotCurrent
    from ..store import migrate
    from ..store.secrets import SecretsError, check_stored_keys

    try:
        store = Store(settings.database_url, encryption_keys=settings.encryption_keys)
    except ValueError as exc:
        raise BadConfiguration([f"HOOKKIT_DATABASE_URL: {exc}"]) from None
    try:
        migrate.ensure_current(store, auto_migrate=settings.auto_migrate)
        with store.read() as conn:  # a missing key: one clear message, before serving
            check_stored_keys(conn, store.sealer)
    except (SchemaNotCurrent, SecretsError) as exc:
        store.dispose()
        raise click.ClickException(str(exc)) from None
    except OperationalError as exc:
        store.dispose()
        reason = " ".join(str(exc.orig).split())  # one line, as the driver words it
        raise BadConfiguration([f"HOOKKIT_DATABASE_URL: database unreachable: {reason}"]) from None
    return store
