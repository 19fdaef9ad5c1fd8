"""`python -m connector export PLATFORM OUTDIR`: a platform's app written from the catalog.

Each platform module has `files(ctx) -> {relative path: text}`; this module writes them.
Output is deterministic (same catalog and options, same bytes) and every file that can
hold a comment starts with `context.GENERATED_BY`, naming the hookkit version, so nobody
edits it by hand and loses the edit at the next export.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..catalog import Catalog
from .context import ExportContext
from .description import describe_api

Exporter = Callable[[ExportContext], dict[str, str]]


def exporters() -> dict[str, Exporter]:
    """The platforms `export` knows, by the name the command takes."""
    from . import make, n8n, powerautomate, zapier

    return {
        "make": make.files,
        "n8n": n8n.files,
        "powerautomate": powerautomate.files,
        "zapier": zapier.files,
    }


def export(
    platform: str, outdir: Path, catalog: Catalog, *, base_url: str, name: str
) -> list[Path]:
    """Write `platform`'s app into `outdir`; the files written, in order."""
    known = exporters()
    if platform not in known:
        raise ValueError(f"unknown platform {platform!r}; known: {', '.join(sorted(known))}")
    openapi, swagger = describe_api(catalog, base_url)
    ctx = ExportContext(catalog, openapi, swagger, base_url.rstrip("/"), name)
    written = []
    for relative, text in sorted(known[platform](ctx).items()):
        path = outdir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
