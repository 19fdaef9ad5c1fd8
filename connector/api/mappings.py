"""Trying a mapping before saving it: `POST /v1/mappings/preview`."""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify

from .. import events
from ..errors import ValidationError
from ..mapping import MappingFailed, compile_expression, refused
from ..payload import BodySpec, envelope, render
from ..validation import check, validator_for
from .inputs import account, authenticate_request, json_body, service

bp = Blueprint("mappings", __name__, url_prefix="/v1/mappings")
bp.before_request(authenticate_request)

PREVIEW_SCHEMA = validator_for(
    {
        "type": "object",
        "properties": {
            "event_type": {"type": "string", "minLength": 1, "maxLength": 200},
            "mapping": {"type": ["string", "null"], "maxLength": 10_000},
            "custom_values": {"type": ["object", "null"], "maxProperties": 100},
        },
    }
)


@bp.post("/preview")
def preview() -> Response:
    """`{"result": body}`: what a hook with this `mapping` and `custom_values` would receive.

    Body: `event_type` (its catalog sample is the event), or `data` (any JSON, wrapped in an
    envelope of `event_type`, else of type `preview`), or both; `mapping` and
    `custom_values` optional, as on a subscription. A mapping that does not parse, or does
    not give an object for this event, is a 422 with the parser's message and position.
    """
    body = json_body()
    check(PREVIEW_SCHEMA, body)
    account()  # authenticated by before_request; previews touch no account data
    catalog = service().catalog
    event_type = body.get("event_type")
    if event_type is not None and event_type not in catalog:
        raise ValidationError.at("$.event_type", f"unknown event type {event_type!r}")
    if "data" in body:
        env = envelope("evt_preview", event_type or "preview", time.time(), body["data"])
    elif event_type is not None:
        env = events.sample_envelope(catalog, event_type)
    else:
        raise ValidationError.at("$.event_type", "give an event_type, data, or both")
    mapping = body.get("mapping")
    if mapping is not None:
        compile_expression(mapping, "$.mapping")
    try:
        result = render(BodySpec(mapping, body.get("custom_values")), env)
    except MappingFailed as exc:
        raise refused(exc, "$.mapping") from None
    return jsonify({"result": result})
