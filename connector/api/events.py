"""Publishing events (`POST /v1/events`) and reading recent ones (polling triggers)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from .. import tracing
from ..errors import ValidationError
from ..events.lookup import find as find_event
from ..events.polling import recent as recent_events
from .auth import authenticate_request
from .context import EVENTS_PATH, account, service
from .inputs import choice_arg, int_arg, json_body
from .operations import Answer, Operation, Param, describe
from .representations import ref

bp = Blueprint("events", __name__, url_prefix=EVENTS_PATH)
bp.before_request(authenticate_request)

MAX_POLL = 300  # Make's polling triggers take at most 300 items per epoch
FORMATS = ("events", "ifttt")
PUBLISH_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "description": "an event type of the catalog"},
        "data": {"description": "valid against the type's schema"},
        "id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "idempotency key",
        },
    },
    "required": ["type", "data"],
}
_SPACED_OFFSET = re.compile(r"^(.*\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


@bp.post("")
@describe(
    Operation(
        "publishEvent",
        "Publish an event: stored with every delivery it causes, in one transaction",
        "events",
        (
            Answer(202, "accepted", ref("Published")),
            Answer(200, "this `id` was published before: the first answer", ref("Published")),
        ),
        body=PUBLISH_SCHEMA,
    )
)
def publish() -> tuple[Response, int]:
    """202 with the event id and how many deliveries it queued; 200 for a repeated `id`."""
    body = json_body()
    hookkit = service()
    # HOOKKIT_TRACING: the publish span, continuing the product's `traceparent`; the event
    # stores its context, so every delivery attempt joins this trace.
    with tracing.server_span(
        hookkit.settings.tracing,
        "POST /v1/events",
        request.headers,
        **{"http.request.method": "POST", "http.route": "/v1/events"},
    ):
        published = hookkit.publisher.publish(
            account().id, body.get("type"), body.get("data"), idempotency_key=body.get("id")
        )
    return jsonify(published.as_dict()), 202 if published.created else 200


@bp.get("")
@describe(
    Operation(
        "listEvents",
        "Recent events, newest first (polling triggers)",
        "events",
        (
            Answer(
                200,
                "envelopes; `format=ifttt` answers IFTTT's shape",
                {"oneOf": [ref("EventList"), ref("IftttEventList")]},
            ),
        ),
        query=(
            Param("type", {"type": "string"}, "only this event type"),
            Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_POLL, "default": 20}),
            Param("since_id", {"type": "string"}, "only events after this one"),
            Param("since", {"type": "string", "format": "date-time"}, "only later events"),
            Param("format", {"enum": list(FORMATS), "default": "events"}),
        ),
    )
)
def recent() -> Response:
    """The account's real events, newest first: what polling triggers read.

    Query: `type` (a catalog name), `limit` (1-300, default 20), `since_id` (only events
    after that one), `since` (ISO-8601; only events whose `timestamp` is later).
    Every item is an envelope `{"id", "type", "timestamp", "data"}`: Make's id and date
    triggers read `id` and `timestamp`. Test sends never appear.

    `format=ifttt` answers in IFTTT's trigger shape for the same query:
    `{"data": [{...envelope..., "meta": {"id": ..., "timestamp": <UNIX seconds>}}]}`.
    The default, `format=events`, is `{"events": [...envelopes...]}`.
    """
    hk = service()
    event_type = request.args.get("type") or None
    if event_type is not None and event_type not in hk.catalog:
        raise ValidationError.at("$.query.type", f"unknown event type {event_type!r}")
    shape = choice_arg("format", FORMATS) or "events"
    found = recent_events(
        hk.store,
        account().id,
        event_type=event_type,
        limit=int_arg("limit", 20, low=1, high=MAX_POLL),
        since_id=request.args.get("since_id") or None,
        since=_since(),
    )
    if shape == "ifttt":
        return jsonify({"data": [_ifttt(env) for env in found]})
    return jsonify({"events": found})


@bp.get("/<event_id>")
@describe(
    Operation(
        "getEvent",
        "One event in full: what the `url` of a thin payload fetches",
        "events",
        (Answer(200, "the envelope", ref("Envelope")),),
    )
)
def get_event(event_id: str) -> Response:
    """The account's event `{"id", "type", "timestamp", "data"}`; others' ids are 404."""
    return jsonify(find_event(service().store, account().id, event_id))


def _since() -> float | None:
    raw = request.args.get("since")
    if not raw:
        return None
    # An unencoded "+01:00" offset arrives as " 01:00": a query string's "+" is a space.
    text = _SPACED_OFFSET.sub(r"\1+\2", raw.strip())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError.at(
            "$.query.since", "since must be an ISO-8601 date-time, e.g. 2026-01-29T10:30:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # no offset given: UTC, like every time we send
    return moment.timestamp()


def _ifttt(env: dict[str, Any]) -> dict[str, Any]:
    seconds = int(datetime.fromisoformat(env["timestamp"]).timestamp())
    return {**env, "meta": {"id": env["id"], "timestamp": seconds}}
