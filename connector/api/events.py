"""Publishing events (`POST /v1/events`) and reading recent ones (polling triggers)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .. import events
from .inputs import account, authenticate_request, int_arg, json_body, service

bp = Blueprint("events", __name__, url_prefix="/v1/events")
bp.before_request(authenticate_request)


@bp.post("")
def publish() -> tuple[Response, int]:
    """202 with the event id and how many deliveries it queued; 200 for a repeated `id`."""
    body = json_body()
    published = service().publish(account().id, body.get("type"), body.get("data"), body.get("id"))
    return jsonify(published.as_dict()), 202 if published.created else 200


@bp.get("")
def recent() -> Response:
    limit = int_arg("limit", 20, low=1, high=300)
    found = events.recent(
        service().store,
        account().id,
        event_type=request.args.get("type") or None,
        limit=limit,
        since_id=request.args.get("since_id") or None,
    )
    return jsonify({"events": found})
