"""`receive` (a demo receiver that checks signatures) and `check` (validate the catalog)."""

from __future__ import annotations

import contextlib
import time

import click

from ..testing import Receiver, Recorded, Reply
from ..wire.signing import SignatureError, verify
from .common import check_catalog, settings_from_env


@click.command()
@click.option("--port", default=9000, show_default=True)
@click.option("--secret", default=None, help="whsec_... secret to verify signatures with")
def receive(port: int, secret: str | None) -> None:
    """A demo receiver on 127.0.0.1:PORT: prints every delivery and checks its signature."""

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


@click.command()
def check() -> None:
    """Validate the event catalog (schemas against samples) and exit."""
    settings = settings_from_env()
    check_catalog(settings)
    click.echo(f"catalog OK: {settings.schemas_dir}")
