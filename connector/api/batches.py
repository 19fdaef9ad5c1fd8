"""Batch publish (`POST /v1/events/batch`): up to 1,000 events in one request and one
transaction, answered item by item.

Each item is checked as `POST /v1/events` checks one event; the valid ones are stored
together with their deliveries in one transaction, the invalid ones are answered with
their problem (paths start at `$.events[i]`) and store nothing. An item is never half
stored: its event and all its deliveries are in the one commit, or none of it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response, jsonify, request

from .. import tracing
from ..errors import HookkitError, ValidationError
from ..events.publish import Published
from .auth import authenticate_request
from .context import account, service
from .events import PUBLISH_SCHEMA
from .inputs import json_body
from .operations import Answer, Operation, describe
from .problems import error_body
from .representations import ref

bp = Blueprint("event_batches", __name__, url_prefix="/v1/events")
bp.before_request(authenticate_request)

MAX_BATCH = 1000

BATCH_SCHEMA = {
    "type": "object",
    "properties": {
        "events": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH,
            "items": PUBLISH_SCHEMA,
            "description": "each as the body of POST /v1/events",
        }
    },
    "required": ["events"],
}


@bp.post("/batch")
@describe(
    Operation(
        "publishEvents",
        "Publish up to 1,000 events in one request and one transaction",
        "events",
        (Answer(200, "one result per item, in order", ref("BatchPublished")),),
        description="Items are checked one by one: valid ones are stored with their "
        "deliveries in one transaction (`status` 202, or 200 for an `id` published before), "
        "invalid ones answer their problem (`status` 422, paths from `$.events[i]`) and "
        "store nothing.",
        body=BATCH_SCHEMA,
    )
)
def publish_batch() -> Response:
    body = json_body()
    items = body.get("events")
    if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH:
        raise ValidationError.at(
            "$.events", f"events must be an array of 1-{MAX_BATCH} events (objects)"
        )
    hookkit = service()
    with tracing.server_span(  # HOOKKIT_TRACING: one publish span for the whole batch
        hookkit.settings.tracing,
        "POST /v1/events/batch",
        request.headers,
        **{"http.request.method": "POST", "http.route": "/v1/events/batch"},
    ):
        outcomes = hookkit.publisher.publish_many(account().id, items)
    return jsonify(batch_answer(outcomes))


def batch_answer(outcomes: Sequence[Published | HookkitError]) -> dict[str, Any]:
    """The batch's answer: per item its result (`status` 202/200) or its problem."""
    results = [
        error_body(outcome)
        if isinstance(outcome, HookkitError)
        else {"status": 202 if outcome.created else 200, **outcome.as_dict()}
        for outcome in outcomes
    ]
    accepted = sum(1 for result in results if result["status"] < 300)  # type: ignore[operator]
    return {"accepted": accepted, "failed": len(results) - accepted, "results": results}
