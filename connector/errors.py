"""The one exception tree of hookkit; `api.problems` turns each into problem+json.

Every error a client can cause is a `HookkitError` whose class knows its HTTP status and a
stable machine-readable `code`: one class per code, so views never build error responses
by hand and no client input can surface as a 500. The status and code live on the classes
alone; `for_status` finds the class for a status that Flask or Werkzeug raised itself::

    HookkitError
    ├── BadRequest (400 bad_request)
    │   └── MalformedJSON (400 malformed_json)
    ├── Unauthorized (401 unauthorized)
    ├── NotFound (404 not_found)
    ├── MethodNotAllowed (405 method_not_allowed)
    ├── Conflict (409 conflict)
    │   ├── DuplicateSubscription (409 duplicate_subscription)   extra: duplicate_of
    │   ├── HookDeleted (409 hook_deleted)
    │   ├── HookNotActive (409 hook_not_active)
    │   ├── RetryOfTestSend (409 test_delivery)
    │   ├── DeliveryInFlight (409 delivery_in_flight)
    │   └── ReplayRunning (409 replay_running)            extra: replay_id
    ├── PayloadTooLarge (413 payload_too_large)
    ├── UnsupportedMediaType (415 unsupported_media_type)
    ├── ValidationError (422 validation_failed)      carries errors=[FieldError]
    │   ├── UnsafeTarget (422 unsafe_target_url)
    │   ├── ReplayTooLarge (422 replay_too_large)
    │   ├── InvalidMapping (422 mapping_invalid)
    │   ├── MappingTooLarge (422 mapping_too_large)
    │   ├── InvalidFilter (422 filter_invalid)
    │   └── FilterTooLarge (422 filter_too_large)
    ├── Gone (410 gone)
    │   └── LinkUsed (410 link_used)
    ├── RateLimited (429 rate_limited)            extra: retry_after → Retry-After header
    ├── Unavailable (503 unavailable)              extra: retry_after → Retry-After header
    │   └── DatabaseUnavailable (503 database_unavailable)
    ├── CatalogError (not HTTP: a bad schema/sample file stops start-up)
    ├── ConfigError (not HTTP: a setting that cannot work with this catalog stops start-up)
    └── SchemaNotCurrent (not HTTP: the database is not at the schema this code needs)

This module imports nothing of hookkit and nothing outside the standard library.
"""

from __future__ import annotations

import math
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
        extra: dict[str, object] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors = list(errors)
        # More members for the problem body, e.g. a parser's `position` in an expression.
        self.extra = dict(extra or {})
        super().__init__(self.detail)

    @staticmethod
    def for_status(status: int) -> type[HookkitError] | None:
        """The general class of an HTTP status (404 → NotFound), None for one we never use."""
        return next((cls for cls in HookkitError.__subclasses__() if cls.status == status), None)


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


class DuplicateSubscription(Conflict):
    """Another live hook of the account already sends these events to this URL."""

    code, title = "duplicate_subscription", "Duplicate subscription"

    def __init__(self, twin_id: str) -> None:
        super().__init__(
            f"subscription {twin_id} already sends these events to this URL; change or delete "
            "that one instead",
            extra={"duplicate_of": twin_id},
        )


class HookDeleted(Conflict):
    code, title = "hook_deleted", "Subscription deleted"


class HookNotActive(Conflict):
    code, title = "hook_not_active", "Subscription not active"


class RetryOfTestSend(Conflict):
    code, title = "test_delivery", "Test sends are not retried"


class DeliveryInFlight(Conflict):
    code, title = "delivery_in_flight", "Delivery in flight"


class ReplayRunning(Conflict):
    """The hook has a replay running; one at a time per hook."""

    code, title = "replay_running", "A replay of this subscription is running"

    def __init__(self, replay_id: str) -> None:
        super().__init__(
            f"replay {replay_id} of this subscription is still running; wait for it or "
            "cancel it (DELETE /v1/replays/{id})",
            extra={"replay_id": replay_id},
        )


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


class ReplayTooLarge(ValidationError):
    """More deliveries and events than one replay may cover."""

    code, title = "replay_too_large", "Replay too large"


class InvalidMapping(ValidationError):
    """A mapping parses but cannot give an object for the event it was tried on."""

    code, title = "mapping_invalid", "Mapping cannot be applied"


class MappingTooLarge(ValidationError):
    code, title = "mapping_too_large", "Mapping outgrew its evaluation budget"


class InvalidFilter(ValidationError):
    code, title = "filter_invalid", "Filter cannot be evaluated"


class FilterTooLarge(ValidationError):
    code, title = "filter_too_large", "Filter outgrew its evaluation budget"


class Gone(HookkitError):
    status, code, title = 410, "gone", "Gone"


class LinkUsed(Gone):
    """A one-click link works once; this one was used already."""

    code, title = "link_used", "Link already used"


class RetryLater:
    """Mixed into errors a client should retry after `retry_after` seconds: the member
    `retry_after` of the problem, and the answer's Retry-After header (whole seconds)."""

    def __init__(self, detail: str | None = None, *, retry_after: float = 1.0) -> None:
        super().__init__(detail, extra={"retry_after": max(1, math.ceil(retry_after))})  # type: ignore[call-arg]


class RateLimited(RetryLater, HookkitError):
    """Too many requests."""

    status, code, title = 429, "rate_limited", "Too many requests"


class Unavailable(RetryLater, HookkitError):
    """The service cannot answer now but will soon."""

    status, code, title = 503, "unavailable", "Service unavailable"


class DatabaseUnavailable(Unavailable):
    """The database connection failed twice in a row; nothing of the request was stored."""

    code, title = "database_unavailable", "Database unavailable"


class CatalogError(HookkitError):
    """A schema or sample file is broken; raised at start-up, never over HTTP."""

    code, title = "catalog_error", "Invalid event catalog"


class ConfigError(HookkitError):
    """A setting cannot work with this catalog (e.g. HOOKKIT_ENVELOPE fails on a sample);
    raised at start-up, never over HTTP, naming the variable."""

    code, title = "config_error", "Invalid configuration"


class SchemaNotCurrent(HookkitError):
    """The database's schema is not the one this code needs, and was not (or cannot be)
    brought there; raised at start-up and by `db` commands, the message says what to do."""

    code, title = "schema_not_current", "Database schema not current"
