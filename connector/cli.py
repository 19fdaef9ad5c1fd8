"""`python -m connector ...`: serve, run a worker, manage keys, check the catalog."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from typing import Any

import click

from .config import Settings


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(f"bad configuration: {exc}") from None


def _check_catalog(settings: Settings) -> None:
    from .catalog import Catalog
    from .errors import CatalogError

    try:
        Catalog.load(settings.schemas_dir, settings.samples_dir)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def main() -> None:
    """hookkit: webhook subscriptions and signed, durable delivery."""


@main.command()
@click.option("--workers", default=1, show_default=True, help="gunicorn worker processes")
@click.option("--threads", default=8, show_default=True, help="threads per worker process")
def serve(workers: int, threads: int) -> None:
    """Serve the API on HOOKKIT_HOST:HOOKKIT_PORT (gunicorn), with the delivery worker
    in-process unless HOOKKIT_EMBEDDED_WORKER=false."""
    from gunicorn.app.base import BaseApplication

    settings = _settings()
    _check_catalog(settings)  # a clear message here beats "worker failed to boot"

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", str(workers))
            self.cfg.set("threads", str(threads))
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", "-")
            if "control_socket_disable" in self.cfg.settings:
                # One shared control socket path would clash between several services.
                self.cfg.set("control_socket_disable", "true")
            grace = int(settings.connect_timeout + settings.read_timeout) + 1
            self.cfg.set("graceful_timeout", str(grace))

        def load(self) -> Any:
            from .factory import create_app

            return create_app(settings)

    click.echo(f"hookkit listening on http://{settings.host}:{settings.port}", err=True)
    _App().run()


@main.command()
def worker() -> None:
    """Run a standalone delivery worker (scale-out: any number, sharing one database).

    SIGTERM or Ctrl-C stops it cleanly: sends in flight finish, unsent claims are handed
    back for other workers at once. A second signal exits at once; a killed worker's claims
    are sent again when their lease (HOOKKIT_LEASE) runs out."""
    from .service import Hookkit
    from .worker import Worker

    settings = _settings()
    _check_catalog(settings)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    service = Hookkit(settings, start_worker=False)
    runner = Worker(service)
    service.worker = runner
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        # First signal: finish what is in flight, release the rest, exit. Second: exit now;
        # the claims come back when their leases run out.
        nonlocal stopping
        if stopping:
            os._exit(128 + signum)
        stopping = True
        runner.stop(timeout=0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        runner.run()
    finally:
        service.store.dispose()


@main.group()
def keys() -> None:
    """API keys."""


def _store() -> Any:
    from .store import Store

    store = Store(_settings().database_url)
    store.create_schema()
    return store


@keys.command("create")
@click.argument("account")
@click.option("--email", default=None, help="where failure notifications go")
def create_key(account: str, email: str | None) -> None:
    """Create a key for ACCOUNT (created if new). The key is printed once, on the last line."""
    from .accounts import create_key_with_id, ensure_account

    store = _store()
    owner = ensure_account(store, account, notification_email=email)
    key_id, key = create_key_with_id(store, owner)
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
    from .accounts import account_by_name
    from .accounts import list_keys as keys_of
    from .errors import NotFound
    from .payload import iso

    store = _store()
    try:
        owner = account_by_name(store, account)
    except NotFound as exc:
        raise click.ClickException(exc.detail) from None
    for key in keys_of(store, owner):
        revoked = f"revoked {iso(key['revoked_at'])}" if key["revoked_at"] else "active"
        click.echo(f"{key['id']}  {key['prefix']}…  created {iso(key['created_at'])}  {revoked}")


@keys.command("revoke")
@click.argument("key")
def revoke_key(key: str) -> None:
    """Revoke KEY, given as its id (key_…) or the key itself; it stops working at once."""
    from .accounts import revoke_key as revoke

    if not revoke(_store(), key):
        raise click.ClickException("no active key matches")
    click.echo("revoked", err=True)


@main.command()
@click.option("--port", default=9000, show_default=True)
@click.option("--secret", default=None, help="whsec_... secret to verify signatures with")
def receive(port: int, secret: str | None) -> None:
    """A demo receiver on 127.0.0.1:PORT: prints every delivery and checks its signature."""
    import time

    from .signing import SignatureError, verify
    from .testing import Receiver, Recorded, Reply

    def show(request: Recorded) -> Reply:
        payload = request.query.encode() if request.method == "GET" else request.body
        verdict = "not checked (no --secret)"
        if secret:
            try:
                verify(payload, request.headers, secret)
                verdict = "valid"
            except SignatureError as exc:
                verdict = f"INVALID ({exc})"
        click.echo(f"{request.method} {request.path} webhook-id={request.header('webhook-id')}")
        click.echo(f"  signature: {verdict}")
        click.echo(f"  {payload.decode(errors='replace')}")
        return Reply(200, b"ok")

    with Receiver(show, port=port) as receiver:
        click.echo(f"receiving on {receiver.url} (Ctrl-C to stop)", err=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


@main.command()
def check() -> None:
    """Validate the event catalog (schemas against samples) and exit."""
    settings = _settings()
    _check_catalog(settings)
    click.echo(f"catalog OK: {settings.schemas_dir}")


if __name__ == "__main__":
    sys.exit(main())
