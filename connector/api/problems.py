"""Errors as `application/problem+json` (RFC 9457) with a stable `code`.

Every exception, including ones hookkit did not expect, leaves as problem+json; an
unexpected one is logged with its traceback and answered 500 without internals.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, json
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from ..errors import DatabaseUnavailable, HookkitError

log = logging.getLogger("hookkit.api")


def problem_body(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, object] | None = None,
) -> dict[str, object]:
    """The problem+json members (also one item's answer in a batch)."""
    return {
        "type": f"https://hookkit.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": errors or [],
        **(extra or {}),
    }


def error_body(exc: HookkitError) -> dict[str, object]:
    """A hookkit error's problem+json members."""
    errors = [e.as_dict() for e in exc.errors]
    return problem_body(exc.status, exc.code, exc.title, exc.detail, errors, exc.extra)


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, object] | None = None,
) -> Response:
    body = problem_body(status, code, title, detail, errors, extra)
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def with_retry_after(response: Response, exc: HookkitError) -> Response:
    """`response` with the Retry-After of a 429 or 503 (`errors.RetryLater`: when to come
    back, in whole seconds); the API's answers and the screens' alike."""
    if "retry_after" in exc.extra:
        response.headers["Retry-After"] = str(exc.extra["retry_after"])
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HookkitError)
    def _hookkit(exc: HookkitError) -> Response:
        body = json.dumps(error_body(exc))
        response = Response(body, status=exc.status, mimetype="application/problem+json")
        return with_retry_after(response, exc)

    @app.errorhandler(DBAPIError)
    def _database(exc: DBAPIError) -> Response:
        # A connection that broke mid-request (a restarted or failed-over PostgreSQL, a
        # terminated backend) is the database's state, not a bug: nothing of the request
        # was committed, so the client may retry. Anything else stays a 500.
        if not exc.connection_invalidated:
            return _unexpected(exc)
        log.warning("database connection lost during a request: %s", type(exc.orig).__name__)
        return _hookkit(DatabaseUnavailable("the database connection was lost; retry shortly"))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        # Flask's own errors (404 for an unknown route, 405, 413) take the code of our class
        # for that status, so a client sees one vocabulary.
        status = exc.code or 500
        known = HookkitError.for_status(status)
        code = known.code if known is not None else "http_error"
        response = problem(status, code, exc.name, exc.description or exc.name)
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "internal_error", "Internal error", "an unexpected error occurred")
