"""The HTTP API under `/v1`: one blueprint per resource, one error handler for all."""

from __future__ import annotations

from flask import Flask

from . import actions, casing, deliveries, event_types, events, hooks, mappings, meta
from .inputs import snake_query
from .problems import register_error_handlers


def register(app: Flask) -> None:
    register_error_handlers(app)
    app.before_request(snake_query)
    modules = (meta, event_types, hooks, events, deliveries, actions, mappings)
    for module in modules:
        app.register_blueprint(module.bp)
    casing.install(app, {module.bp.name for module in modules})
