"""The HTTP API under `/v1`: one blueprint per resource, one error handler for all."""

from __future__ import annotations

from flask import Flask

from . import actions, deliveries, event_types, events, hooks, mappings, meta
from .problems import register_error_handlers


def register(app: Flask) -> None:
    register_error_handlers(app)
    for module in (meta, event_types, hooks, events, deliveries, actions, mappings):
        app.register_blueprint(module.bp)
