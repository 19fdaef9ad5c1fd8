"""The event catalog: what can be subscribed to, its schema, output fields and sample bodies."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.engine import Row

from .. import events
from ..mapping import MappingFailed, compile_expression, refused
from ..payload import BodySpec
from .inputs import account, authenticate_request, int_arg, service

bp = Blueprint("event_types", __name__, url_prefix="/v1/event-types")
bp.before_request(authenticate_request)


@bp.get("")
def list_event_types() -> Response:
    catalog = service().catalog
    return jsonify({"event_types": [catalog.get(n).summary() for n in catalog.names()]})


@bp.get("/<name>")
def get_event_type(name: str) -> Response:
    """The type's schema and sample, and `output_fields`: the flat fields of the body a hook
    receives (`key` with `__` for nesting, `label`, `type`), for Zapier's and Make's field
    pickers. From the envelope's schema, or, with `mapping` or `hook_id`, from the sample
    as that mapping and those custom values reshape it.
    """
    hk = service()
    event_type = hk.catalog.get(name)
    spec, _, path = _shape()
    try:
        fields = events.output_fields(hk.catalog, name, spec)
    except MappingFailed as exc:
        raise refused(exc, path) from None
    return jsonify(
        {
            **event_type.summary(),
            "schema": event_type.schema,
            "sample": event_type.sample,
            "output_fields": fields,
        }
    )


@bp.get("/<name>/samples")
def samples(name: str) -> Response:
    """Bodies exactly as a hook would receive them, newest first (Zapier's performList).

    The account's recent real events, or the catalog sample when there are none; shaped by
    `mapping` (a JMESPath expression) or by the mapping and custom values of `hook_id`,
    whose filters also leave out the events that hook would not be sent.
    """
    hk = service()
    hk.catalog.get(name)  # 404 for unknown types
    limit = int_arg("limit", 3, low=1, high=100)
    spec, hook, path = _shape()
    try:
        bodies = events.samples(
            hk.store,
            hk.catalog,
            account().id,
            name,
            spec=spec or BodySpec(),
            limit=limit,
            filter=hook.filter if hook is not None else None,
            filters=hook.filters if hook is not None else None,
        )
    except MappingFailed as exc:
        raise refused(exc, path) from None
    return jsonify(bodies)


def _shape() -> tuple[BodySpec | None, Row[Any] | None, str]:
    """The body asked for: `hook_id`'s mapping and custom values, `mapping` overriding the
    former; None when neither is given. Also the hook, and the parameter to blame."""
    hook = None
    spec = None
    path = "$.query.mapping"
    hook_id = request.args.get("hook_id")
    if hook_id:
        hook = service().subscriptions.row(account().id, hook_id)  # 404 if not this account's
        spec = BodySpec(mapping=hook.mapping, custom_values=hook.custom_values)
        path = "$.query.hook_id"
    mapping = request.args.get("mapping")
    if mapping:  # `mapping=` left empty by a form means no mapping
        compile_expression(mapping, "$.query.mapping")
        spec = BodySpec(mapping=mapping, custom_values=spec.custom_values if spec else None)
        path = "$.query.mapping"
    return spec, hook, path
