"""Errors as `application/problem+json` (RFC 9457) with a stable `code`.

Every exception, including ones hookkit did not expect, leaves as problem+json; an
unexpected one is logged with its traceback and answered 500 without internals.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from ..errors import HookkitError

log = logging.getLogger("hookkit.api")


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, object] | None = None,
) -> Response:
    body = {
        "type": f"https://hookkit.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": errors or [],
        **(extra or {}),
    }
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HookkitError)
    def _hookkit(exc: HookkitError) -> Response:
        errors = [e.as_dict() for e in exc.errors]
        return problem(exc.status, exc.code, exc.title, exc.detail, errors, exc.extra)

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
