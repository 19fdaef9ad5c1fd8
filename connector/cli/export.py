"""`export PLATFORM OUTDIR`: write a platform's app (Zapier, Make, n8n, Power Automate)
for this catalog; `openapi` and `swagger` write the API documents themselves."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import settings_from_env


@click.command("export")
@click.argument("platform")
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--base-url", default=None, help="where the app calls hookkit (default: HOOKKIT_PUBLIC_URL)"
)
@click.option("--name", default="hookkit", show_default=True, help="the product name users see")
def export(platform: str, outdir: Path, base_url: str | None, name: str) -> None:
    """Write PLATFORM's app into OUTDIR: zapier, make, n8n, powerautomate, or the API
    documents openapi and swagger."""
    from ..catalog import Catalog
    from ..errors import CatalogError
    from ..platforms.description import describe_api
    from ..platforms.export import export as write

    settings = settings_from_env()
    url = base_url or settings.public_url or f"http://{settings.host}:{settings.port}"
    try:
        catalog = Catalog.load(settings.schemas_dir, settings.samples_dir)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    if platform in ("openapi", "swagger"):
        openapi, swagger = describe_api(catalog, url)
        outdir.mkdir(parents=True, exist_ok=True)
        path = outdir / f"{platform}.json"
        document = openapi if platform == "openapi" else swagger
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        click.echo(str(path))
        return
    try:
        written = write(platform, outdir, catalog, base_url=url, name=name)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(str(path))
