"""`config` (the effective configuration, secrets masked) and `prune` (retention, once)."""

from __future__ import annotations

import click

from ..config import parse_schedule
from .common import configure_logging, open_store, settings_from_env


@click.command("config")
def show_config() -> None:
    """Print the effective configuration, one `HOOKKIT_NAME=value` line per setting, with
    secrets as *** and URLs without their password. Exits 2 on a bad configuration."""
    settings = settings_from_env()
    for spec, value in settings.masked():
        if isinstance(value, bool):
            shown = str(value).lower()
        elif spec.metadata.get("parse") is parse_schedule:
            shown = ",".join(f"{item:g}s" for item in value)
        elif isinstance(value, float):
            shown = f"{value:g}"
        else:
            shown = str(value)
        click.echo(f"{spec.metadata['env']}={shown}")


@click.command("prune")
def prune() -> None:
    """Delete delivered deliveries and events older than HOOKKIT_RETENTION and failed ones
    older than HOOKKIT_RETENTION_FAILED, in small batches (workers also do it every
    HOOKKIT_PRUNE_INTERVAL). Safe while the service runs."""
    from ..clock import system_clock
    from ..delivery.retention import prune as run

    settings = settings_from_env()
    configure_logging(settings)
    store = open_store(settings)
    try:
        pruned = run(
            store,
            system_clock(),
            keep=settings.retention,
            keep_failed=settings.retention_failed,
        )
    finally:
        store.dispose()
    click.echo(str(pruned))
