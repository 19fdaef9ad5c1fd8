"""Single deliveries: look one up, or deliver it again now."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..errors import DeliveryInFlight, HookDeleted, HookNotActive, RetryOfTestSend
from .auth import authenticate_request
from .context import account, service
from .operations import Answer, Operation, describe
from .representations import ref

bp = Blueprint("deliveries", __name__, url_prefix="/v1/deliveries")
bp.before_request(authenticate_request)


@bp.get("/<delivery_id>")
@describe(
    Operation(
        "getDelivery",
        "One delivery with its attempts",
        "deliveries",
        (Answer(200, "the delivery", ref("Delivery")),),
    )
)
def get_delivery(delivery_id: str) -> Response:
    return jsonify(service().deliveries.get(account().id, delivery_id))


@bp.post("/<delivery_id>/retry")
@describe(
    Operation(
        "retryDelivery",
        "Deliver again now, with the same webhook-id",
        "deliveries",
        (Answer(202, "queued", ref("Delivery")),),
        errors=(HookDeleted, HookNotActive, RetryOfTestSend, DeliveryInFlight),
    )
)
def retry(delivery_id: str) -> tuple[Response, int]:
    """Queue another attempt now, same `webhook-id` (seed 001's manual retry)."""
    return jsonify(service().deliveries.redeliver(account().id, delivery_id)), 202
