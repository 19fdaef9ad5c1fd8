"""Trying a mapping before saving it: the body a hook with it would receive for one event."""

from __future__ import annotations

from typing import Any

from ..catalog import Catalog
from ..catalog.validation import check, validator_for
from ..errors import ValidationError
from ..wire.body import BodySpec, render
from ..wire.envelope import envelope
from ..wire.mapping import MappingFailed, compile_expression, refused
from .samples import sample_envelope

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


def preview(
    catalog: Catalog, body: dict[str, Any], now: float, default_body: str | None = None
) -> dict[str, Any]:
    """What a hook with this `mapping` and `custom_values` would receive.

    `body`: `event_type` (its catalog sample is the event), or `data` (any JSON, wrapped in
    an envelope of `event_type`, else of type `preview`), or both; `mapping` and
    `custom_values` optional, as on a subscription. A mapping that does not parse, or does
    not give an object for this event, is a 422 with the parser's message and position.
    Without a mapping the body is the deployment's default one (`default_body`), as sent.
    """
    check(PREVIEW_SCHEMA, body)
    event_type = body.get("event_type")
    if event_type is not None and event_type not in catalog:
        raise ValidationError.at("$.event_type", f"unknown event type {event_type!r}")
    if "data" in body:
        env = envelope("evt_preview", event_type or "preview", now, body["data"])
    elif event_type is not None:
        env = sample_envelope(catalog, event_type, now)
    else:
        raise ValidationError.at("$.event_type", "give an event_type, data, or both")
    mapping = body.get("mapping")
    if mapping is not None:
        compile_expression(mapping, "$.mapping")
    try:
        return render(BodySpec(mapping, body.get("custom_values"), default_body or None), env)
    except MappingFailed as exc:
        raise refused(exc, "$.mapping") from None
