"""The Flask application factory.

`create_app(config)` uses exactly the configuration it is given (a `Settings`, or a mapping
of Settings field names over the defaults) and never reads the environment: entry points
(`cli`, `app.py`) do that, and configure logging. Closing the service is the caller's job
(`Hookkit.of(app).close()`; the entry points do it at exit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import web
from .api import register
from .api.requestlog import log_requests
from .catalog import Catalog
from .clock import Clock, system_clock
from .config import Settings
from .platforms import routes as api_description
from .service import EXTENSION, Hookkit


def create_app(
    config: Settings | Mapping[str, Any] | None = None,
    *,
    clock: Clock = system_clock,
    catalog: Catalog | None = None,
) -> Flask:
    """Build the service on `config` alone.

    `config` is a `Settings`, or a mapping of Settings field names to values (strings are
    parsed like the environment's) applied over the defaults, e.g.
    `create_app({"database_url": "sqlite:///x.db"})`. `clock` and an already loaded
    `catalog` may be injected (tests move the clock and share one catalog).
    """
    settings = config if isinstance(config, Settings) else Settings().with_overrides(config or {})
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = Hookkit(settings, clock=clock, catalog=catalog)
    register(app)
    api_description.register(app)
    web.mount(app)  # the dashboard and the end-user portal (HTML screens)
    log_requests(app)  # last: one line per request, whichever app answers it
    return app
