"""The Flask application factory and the in-process `emit`."""

from __future__ import annotations

import atexit
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from .config import Settings
from .service import Hookkit


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the service: settings from the environment, overridden by `config`.

    `config` is a `Settings`, or a mapping of Settings field names to values (strings are
    parsed like the environment's), e.g. `create_app({"database_url": "sqlite:///x.db"})`.
    """
    if isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_env().with_overrides(config or {})
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    service = Hookkit(settings)
    app.extensions["hookkit"] = service
    atexit.register(service.close)

    from .api import register

    register(app)
    return app


def service_of(app: Flask | None = None) -> Hookkit:
    return (app or current_app).extensions["hookkit"]  # type: ignore[no-any-return]


def emit(
    event_type: str,
    data: Any,
    *,
    account: str,
    id: str | None = None,
    app: Flask | None = None,
) -> dict[str, Any]:
    """Publish an event without HTTP, exactly as `POST /v1/events` would.

    `account` is the account's name (as given to `keys create`); `app` defaults to the
    current Flask app. Raises `ValidationError` (with every failing path) on bad data.
    """
    from .accounts import account_by_name

    service = service_of(app)
    owner = account_by_name(service.store, account)
    return service.publish(owner.id, event_type, data, idempotency_key=id).as_dict()
