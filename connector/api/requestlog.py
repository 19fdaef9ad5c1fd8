"""One log line per request (`hookkit.request`): method, path, status, duration, account.

`log_requests(app)` wraps the whole WSGI application (the API and the screens mounted in
front of it), so every request is logged once, whichever app answers it; the API notes the
authenticated account for its line. The path is logged without its query string and with
link tokens masked (`/actions/***`, `/portal/***`); headers and bodies are never logged, so
neither an API key, an `Authorization` value nor a payload can reach the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, g, request

from ..logs import emit, masked_path

log = logging.getLogger("hookkit.request")
_ACCOUNT = "hookkit.account"  # the WSGI environ key the API notes the account under


def note_account(app: Flask) -> None:
    """The API's part: tell the request line which account the key belonged to."""

    def note(response: Response) -> Response:
        account = g.get("account")
        if account is not None:
            request.environ[_ACCOUNT] = account.id
        return response

    app.after_request(note)


def log_requests(app: Flask) -> None:
    """Log every request `app` serves (call it last: it wraps `app.wsgi_app` as it is)."""
    inner = app.wsgi_app

    def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()

        def start(status: str, headers: Any, exc_info: Any = None) -> Any:
            method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
            code = int(status.split(" ", 1)[0])
            emit(
                log,
                f"{method} {masked_path(path)} {code}",
                method=method,
                path=masked_path(path),
                status=code,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                account=environ.get(_ACCOUNT),
            )
            return start_response(status, headers, exc_info)

        return inner(environ, start)  # type: ignore[no-any-return]

    app.wsgi_app = logged  # type: ignore[method-assign]
