"""JSON Schemas of what the API answers: one per representation, named as in the OpenAPI
document's `components/schemas`. A test validates real answers of every operation against
these, so the published description cannot drift from what the code sends.

This module only declares data; it never builds a response.
"""

from __future__ import annotations

from typing import Any

from ..config import SIGNATURE_SCHEMES

_TIME = {"type": "string", "format": "date-time"}
_MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}
_MAYBE_TEXT = {"type": ["string", "null"]}
_MAYBE_INT = {"type": ["integer", "null"]}


def ref(name: str) -> dict[str, str]:
    """A reference to one of `SCHEMAS`."""
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": _object(
        {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string", "description": "stable, machine-readable"},
            "errors": {
                "type": "array",
                "items": _object({"path": {"type": "string"}, "message": {"type": "string"}}),
            },
        },
        {"retry_after": {"type": "integer", "description": "429 and 503: seconds to wait"}},
    ),
    "Pagination": _object(
        {
            "page": {"type": "integer"},
            "limit": {"type": "integer"},
            "total": {"type": "integer"},
            "total_pages": {"type": "integer"},
            "has_next": {"type": "boolean"},
            "has_prev": {"type": "boolean"},
        }
    ),
    "Health": _object({"status": {"const": "ok"}, "version": {"type": "string"}}),
    "Account": _object(
        {"id": {"type": "string"}, "name": {"type": "string"}, "notification_email": _MAYBE_TEXT}
    ),
    "EventTypeSummary": _object(
        {"name": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"}}
    ),
    "EventTypeList": _object({"event_types": {"type": "array", "items": ref("EventTypeSummary")}}),
    "OutputField": _object(
        {"key": {"type": "string"}, "label": {"type": "string"}, "type": {"type": "string"}}
    ),
    "EventType": _object(
        {
            "name": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "schema": {"type": "object", "description": "the JSON Schema of `data`"},
            "sample": {"type": "object", "description": "a real `data` object"},
            "output_fields": {"type": "array", "items": ref("OutputField")},
        }
    ),
    "Envelope": _object(
        {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "timestamp": _TIME,
            "data": {"description": "the event's data, as its type's schema says"},
        }
    ),
    "EventList": _object({"events": {"type": "array", "items": ref("Envelope")}}),
    "IftttEventList": _object(
        {
            "data": {
                "type": "array",
                "items": {
                    "allOf": [
                        ref("Envelope"),
                        _object(
                            {
                                "meta": _object(
                                    {"id": {"type": "string"}, "timestamp": {"type": "integer"}}
                                )
                            }
                        ),
                    ]
                },
            }
        }
    ),
    "Published": _object(
        {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "deliveries": {"type": "integer", "description": "deliveries queued"},
        }
    ),
    "BatchPublished": _object(
        {
            "accepted": {"type": "integer", "description": "items stored now or before"},
            "failed": {"type": "integer"},
            "results": {
                "type": "array",
                "items": {
                    "oneOf": [
                        {
                            "allOf": [
                                ref("Published"),
                                _object({"status": {"enum": [200, 202]}}),
                            ]
                        },
                        ref("Problem"),
                    ]
                },
            },
        }
    ),
    "LastDelivery": {
        "type": ["object", "null"],
        "properties": {
            "status": {"enum": ["delivered", "retrying", "failed", "gone"]},
            "response_code": _MAYBE_INT,
            "error": _MAYBE_TEXT,
            "at": _TIME,
            "attempt": {"type": "integer"},
            "next_retry_at": _MAYBE_TIME,
            "delivery_id": {"type": "string"},
        },
    },
    "Hook": _object(
        {
            "id": {"type": "string"},
            "event": {"type": "string"},
            "events": {"type": "array", "items": {"type": "string"}},
            "target_url": {"type": "string"},
            "status": {"enum": ["active", "paused", "failed"]},
            "platform": {"type": "string"},
            "description": {"type": "string"},
            "method": {"enum": ["POST", "GET"]},
            "content_type": {"enum": ["json", "form"]},
            "headers": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "sensitive values are masked as ********",
            },
            "auth": {
                "type": ["object", "null"],
                "properties": {"type": {"const": "basic"}, "username": {"type": "string"}},
            },
            "custom_values": {"type": "object"},
            "mapping": _MAYBE_TEXT,
            "filter": _MAYBE_TEXT,
            "filters": {"type": "object"},
            "log_response_body": {"type": "boolean"},
            "rate_limit": {"type": ["number", "null"]},
            "expiration_date": _MAYBE_TIME,
            "signature": _object(
                {
                    "scheme": {"enum": list(SIGNATURE_SCHEMES)},
                    "header": {
                        "type": ["string", "null"],
                        "description": "the header of the timestamped-hex and hex schemes",
                    },
                }
            ),
            "public_key": {
                "type": ["string", "null"],
                "description": "ed25519 hooks: the whpk_ key receivers verify with",
            },
            "retry_schedule": {
                "type": ["string", "null"],
                "description": '"none", delays like "10s,10s,10s", or null: the deployment\'s',
            },
            "success": {"enum": ["2xx", "2xx-3xx"]},
            "ordering": {
                "enum": ["concurrent", "fifo"],
                "description": "fifo: one delivery at a time, in publish order",
            },
            "payload": {
                "enum": ["full", "thin"],
                "description": "thin: {id, type, timestamp, url}; GET the url for the event",
            },
            "delivery_count": {"type": "integer"},
            "failure_count": {"type": "integer"},
            "last_delivery_at": _MAYBE_TIME,
            "last_delivery": ref("LastDelivery"),
            "created_at": _TIME,
            "updated_at": _TIME,
        },
        {"secret": {"type": "string", "description": "only when created or rotated"}},
    ),
    "HookList": _object(
        {"subscriptions": {"type": "array", "items": ref("Hook")}, "pagination": ref("Pagination")}
    ),
    "Attempt": _object(
        {
            "attempt": {"type": "integer"},
            "at": _TIME,
            "duration_ms": {"type": "number"},
            "response_code": _MAYBE_INT,
            "error": _MAYBE_TEXT,
            "response_body": _MAYBE_TEXT,
            "outcome": {"enum": ["delivered", "retrying", "failed", "gone"]},
        }
    ),
    "Delivery": _object(
        {
            "id": {"type": "string", "description": "the `webhook-id` of every attempt"},
            "subscription_id": {"type": "string"},
            "event_id": {"type": "string"},
            "event_type": {"type": "string"},
            "status": {"enum": ["pending", "delivered", "failed", "cancelled"]},
            "test": {"type": "boolean"},
            "attempt_count": {"type": "integer"},
            "next_attempt_at": _MAYBE_TIME,
            "waiting_for_earlier": {
                "type": "boolean",
                "description": "a FIFO hook's delivery queued behind an unfinished earlier one",
            },
            "last_response_code": _MAYBE_INT,
            "last_error": _MAYBE_TEXT,
            "created_at": _TIME,
            "updated_at": _TIME,
            "attempts": {"type": "array", "items": ref("Attempt")},
        }
    ),
    "TestSend": {
        "allOf": [ref("Delivery"), _object({"attempt": ref("Attempt")})],
    },
    "DeliveryList": _object(
        {"deliveries": {"type": "array", "items": ref("Delivery")}, "pagination": ref("Pagination")}
    ),
    "Preview": _object({"result": {"type": "object"}}),
    "Replay": _object(
        {
            "id": {"type": "string"},
            "hook_id": {"type": "string"},
            "status": {"enum": ["running", "done", "cancelled"]},
            "scope": {"enum": ["failed", "all"], "description": "the request's `status`"},
            "event_types": {"type": ["array", "null"], "items": {"type": "string"}},
            "include_missed": {"type": "boolean"},
            "since": _TIME,
            "until": _TIME,
            "total": {"type": "integer", "description": "deliveries and missed events matched"},
            "queued": {"type": "integer", "description": "sent again or created, so far"},
            "missed": {"type": "integer", "description": "of `queued`: created for missed events"},
            "skipped": {"type": "integer", "description": "changed since asked, or filtered out"},
            "created_at": _TIME,
            "updated_at": _TIME,
            "finished_at": _MAYBE_TIME,
        }
    ),
    "ReplayList": _object({"replays": {"type": "array", "items": ref("Replay")}}),
    "PortalLink": _object(
        {
            "url": {"type": "string", "description": "open it in an iframe; no API key"},
            "expires_at": _TIME,
        }
    ),
}
