"""The one exception tree of hookkit; `api.problems` turns each into problem+json.

Every error a client can cause is a `HookkitError` that knows its HTTP status and a stable
machine-readable `code`, so views never build error responses by hand and no client input
can surface as a 500::

    HookkitError
    ├── BadRequest (400 bad_request)
    │   └── MalformedJSON (400 malformed_json)
    ├── Unauthorized (401 unauthorized)
    ├── NotFound (404 not_found)
    ├── MethodNotAllowed (405 method_not_allowed)
    ├── Conflict (409 conflict)
    ├── PayloadTooLarge (413 payload_too_large)
    ├── UnsupportedMediaType (415 unsupported_media_type)
    ├── ValidationError (422 validation_failed)      carries errors=[FieldError]
    │   └── UnsafeTarget (422 unsafe_target_url)
    ├── RateLimited (429 rate_limited)
    └── CatalogError (not HTTP: a bad schema/sample file stops start-up)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One failing field: `path` is a JSONPath-like location (`$.data.session.id`)."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class HookkitError(Exception):
    """Base of every error hookkit raises on purpose."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Iterable[FieldError] = (),
        code: str | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors = list(errors)
        # More members for the problem body, e.g. a parser's `position` in an expression.
        self.extra = dict(extra or {})
        if code is not None:
            self.code = code
        super().__init__(self.detail)


class BadRequest(HookkitError):
    status, code, title = 400, "bad_request", "Bad request"


class MalformedJSON(BadRequest):
    code, title = "malformed_json", "Malformed JSON"


class Unauthorized(HookkitError):
    status, code, title = 401, "unauthorized", "Missing or invalid API key"


class NotFound(HookkitError):
    status, code, title = 404, "not_found", "Not found"


class MethodNotAllowed(HookkitError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"


class Conflict(HookkitError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(HookkitError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class UnsupportedMediaType(HookkitError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class ValidationError(HookkitError):
    status, code, title = 422, "validation_failed", "Validation failed"

    @classmethod
    def at(cls, path: str, message: str, **kwargs: object) -> ValidationError:
        """One failing field, the common case."""
        return cls(message, errors=[FieldError(path, message)], **kwargs)  # type: ignore[arg-type]


class UnsafeTarget(ValidationError):
    code, title = "unsafe_target_url", "Target URL not allowed"


class RateLimited(HookkitError):
    status, code, title = 429, "rate_limited", "Too many requests"


class CatalogError(HookkitError):
    """A schema or sample file is broken; raised at start-up, never over HTTP."""

    code, title = "catalog_error", "Invalid event catalog"
