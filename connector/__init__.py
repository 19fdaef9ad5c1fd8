"""hookkit: event catalog, REST-hook subscriptions and signed, durable webhook delivery.

Public entry points: `create_app(config)` (the Flask application), `emit(...)` and
`emit_many(...)` (publish in-process) and `verify(...)` (check a delivery's signature, for
receivers).

A light face: `verify` and `SignatureError` import the standard library only, so a receiver
that verifies deliveries never loads Flask, SQLAlchemy, aiohttp or jsonschema;
`create_app`, `emit`, `emit_many` and `HookkitError` load the service on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__
from .wire.signing import SignatureError, verify

if TYPE_CHECKING:
    from .embed import emit, emit_many
    from .errors import HookkitError
    from .factory import create_app

__all__ = [
    "HookkitError",
    "SignatureError",
    "__version__",
    "create_app",
    "emit",
    "emit_many",
    "verify",
]

_LAZY = {"create_app": "factory", "emit": "embed", "emit_many": "embed", "HookkitError": "errors"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
