"""`keys create|list|revoke`: API keys, shown once and stored only as their hash."""

from __future__ import annotations

import click

from ..errors import NotFound
from ..hooks import accounts
from ..wire.envelope import iso
from .common import open_store, settings_from_env


@click.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.argument("account")
@click.option("--email", default=None, help="where failure notifications go")
def create_key(account: str, email: str | None) -> None:
    """Create a key for ACCOUNT (created if new). The key is printed once, on the last line."""
    store = open_store(settings_from_env())
    owner = accounts.ensure_account(store, account, notification_email=email)
    key_id, key = accounts.create_key_with_id(store, owner)
    click.echo(
        f"account {owner.name} ({owner.id}), key {key_id}; store the key now, it is not shown "
        "again:",
        err=True,
    )
    click.echo(key)


@keys.command("list")
@click.argument("account")
def list_keys(account: str) -> None:
    """List ACCOUNT's keys: id, prefix, created, revoked (never the keys themselves)."""
    store = open_store(settings_from_env())
    try:
        owner = accounts.account_by_name(store, account)
    except NotFound as exc:
        raise click.ClickException(exc.detail) from None
    for key in accounts.list_keys(store, owner):
        revoked = f"revoked {iso(key['revoked_at'])}" if key["revoked_at"] else "active"
        click.echo(f"{key['id']}  {key['prefix']}…  created {iso(key['created_at'])}  {revoked}")


@keys.command("revoke")
@click.argument("key")
def revoke_key(key: str) -> None:
    """Revoke KEY, given as its id (key_…) or the key itself; it stops working at once."""
    if not accounts.revoke_key(open_store(settings_from_env()), key):
        raise click.ClickException("no active key matches")
    click.echo("revoked", err=True)
