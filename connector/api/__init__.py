"""The HTTP API under `/v1`: one blueprint per resource, one error handler for all."""

from __future__ import annotations

from flask import Flask

from . import (
    actions,
    batches,
    casing,
    deliveries,
    event_types,
    events,
    hooks,
    mappings,
    meta,
    operating,
    portal_links,
    replays,
    requestlog,
)
from .auth import rate_limit_headers
from .inputs import snake_query
from .problems import register_error_handlers


def register(app: Flask) -> None:
    register_error_handlers(app)
    requestlog.note_account(app)
    app.before_request(snake_query)
    app.after_request(rate_limit_headers)
    modules = (
        meta,
        operating,
        event_types,
        hooks,
        events,
        batches,
        deliveries,
        actions,
        mappings,
        portal_links,
        replays,
    )
    for module in modules:
        app.register_blueprint(module.bp)
    casing.install(app, {module.bp.name for module in modules})
