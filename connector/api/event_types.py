"""The event catalog: what can be subscribed to, its schema, output fields and sample bodies."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..hooks import samples as hook_samples
from .auth import authenticate_request
from .context import account, service
from .inputs import int_arg
from .operations import Answer, Operation, Param, describe
from .representations import ref

_SHAPE = (
    Param(
        "hook_id", {"type": "string"}, "shape as this hook does (mapping, custom values, filters)"
    ),
    Param("mapping", {"type": "string"}, "a JMESPath mapping, overriding the hook's"),
)

bp = Blueprint("event_types", __name__, url_prefix="/v1/event-types")
bp.before_request(authenticate_request)


@bp.get("")
@describe(
    Operation(
        "listEventTypes",
        "The event catalog",
        "event types",
        (Answer(200, "every event type", ref("EventTypeList")),),
    )
)
def list_event_types() -> Response:
    catalog = service().catalog
    return jsonify({"event_types": [catalog.get(n).summary() for n in catalog.names()]})


@bp.get("/<name>")
@describe(
    Operation(
        "getEventType",
        "One event type: schema, sample and output fields",
        "event types",
        (Answer(200, "the event type", ref("EventType")),),
        query=_SHAPE,
    )
)
def get_event_type(name: str) -> Response:
    """The type's schema and sample, and `output_fields`: the flat fields of the body a hook
    receives (`key` with `__` for nesting, `label`, `type`), for Zapier's and Make's field
    pickers. From the envelope's schema, or, with `mapping` or `hook_id`, from the sample
    as that mapping and those custom values reshape it.
    """
    hk = service()
    event_type = hk.catalog.get(name)
    fields = hook_samples.output_fields(hk.subscriptions, account().id, name, **_shape_args())
    return jsonify(
        {
            **event_type.summary(),
            "schema": event_type.schema,
            "sample": event_type.sample,
            "output_fields": fields,
        }
    )


@bp.get("/<name>/samples")
@describe(
    Operation(
        "listEventTypeSamples",
        "Bodies exactly as a hook receives them (Zapier's performList)",
        "event types",
        (
            Answer(
                200,
                "newest first: recent real events, else the catalog sample",
                {"type": "array", "items": {"type": "object"}},
            ),
        ),
        query=(
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 3}),
            *_SHAPE,
        ),
    )
)
def samples(name: str) -> Response:
    """Bodies exactly as a hook would receive them, newest first (Zapier's performList).

    The account's recent real events, or the catalog sample when there are none; shaped by
    `mapping` (a JMESPath expression) or by the mapping and custom values of `hook_id`,
    whose filters also leave out the events that hook would not be sent.
    """
    hk = service()
    hk.catalog.get(name)  # 404 for unknown types, before the query is checked
    limit = int_arg("limit", 3, low=1, high=100)
    bodies = hook_samples.samples(
        hk.subscriptions, account().id, name, limit=limit, **_shape_args()
    )
    return jsonify(bodies)


def _shape_args() -> dict[str, str | None]:
    return {
        "hook_id": request.args.get("hook_id") or None,
        "mapping": request.args.get("mapping") or None,
    }
