"""hookkit: event catalog, REST-hook subscriptions and signed, durable webhook delivery.

Public entry points: `create_app(config)` (the Flask application), `emit(...)` (publish an
event in-process) and `verify(...)` (check a delivery's signature, for receivers).
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import HookkitError
from .factory import create_app, emit
from .signing import SignatureError, verify

__all__ = ["HookkitError", "SignatureError", "__version__", "create_app", "emit", "verify"]
