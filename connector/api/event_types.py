"""The event catalog: what can be subscribed to, its schema, and sample bodies."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .. import events
from ..errors import ValidationError
from ..mapping import MappingFailed, compile_expression
from ..payload import BodySpec, render
from .inputs import account, authenticate_request, int_arg, service

bp = Blueprint("event_types", __name__, url_prefix="/v1/event-types")
bp.before_request(authenticate_request)


@bp.get("")
def list_event_types() -> Response:
    catalog = service().catalog
    return jsonify({"event_types": [catalog.get(n).summary() for n in catalog.names()]})


@bp.get("/<name>")
def get_event_type(name: str) -> Response:
    event_type = service().catalog.get(name)
    return jsonify(
        {**event_type.summary(), "schema": event_type.schema, "sample": event_type.sample}
    )


@bp.get("/<name>/samples")
def samples(name: str) -> Response:
    """Bodies exactly as a hook would receive them, newest first (Zapier's performList).

    The account's recent real events, or the catalog sample when there are none; shaped by
    `mapping` (a JMESPath expression) or by the mapping and custom values of `hook_id`.
    """
    hk = service()
    hk.catalog.get(name)  # 404 for unknown types
    limit = int_arg("limit", 3, low=1, high=100)
    spec = BodySpec()
    hook_id = request.args.get("hook_id")
    if hook_id:
        hook = hk.subscriptions.row(account().id, hook_id)
        spec = BodySpec(mapping=hook.mapping, custom_values=hook.custom_values)
    if request.args.get("mapping"):
        mapping = request.args["mapping"]
        compile_expression(mapping, "$.query.mapping")
        spec = BodySpec(mapping=mapping, custom_values=spec.custom_values)
    found = events.recent(hk.store, account().id, event_type=name, limit=limit)
    envelopes = found or [events.sample_envelope(hk.catalog, name)]
    try:
        bodies = [render(spec, env) for env in envelopes]
    except MappingFailed as exc:
        raise ValidationError.at("$.query.mapping", str(exc), code="mapping_invalid") from None
    return jsonify(bodies)
