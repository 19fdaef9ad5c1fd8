"""REST-hook subscriptions (`/v1/hooks`): what Zapier, Make, n8n and resthooks call."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from ..hooks.fields import PLATFORMS
from .auth import authenticate_request
from .context import account, service
from .inputs import choice_arg, json_body
from .paging import paged, paging

bp = Blueprint("hooks", __name__, url_prefix="/v1/hooks")
bp.before_request(authenticate_request)

STATUSES = ("active", "paused", "failed")
DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")


@bp.post("")
def subscribe() -> tuple[Response, int] | Response:
    """201 with the secret (shown only here), or 200 with the identical existing hook."""
    created = service().subscriptions.subscribe(account().id, json_body())
    response = jsonify(created.subscription)
    response.headers["Location"] = url_for(".get_hook", hook_id=created.subscription["id"])
    return response, 201 if created.created else 200


@bp.get("")
def list_hooks() -> Response:
    page, limit = paging()
    items, total = service().subscriptions.list(
        account().id,
        page=page,
        limit=limit,
        event=request.args.get("event") or None,
        status=choice_arg("status", STATUSES),
        target_url=request.args.get("target_url") or None,
        platform=choice_arg("platform", PLATFORMS),
    )
    return paged("subscriptions", items, total, page, limit)


@bp.get("/<hook_id>")
def get_hook(hook_id: str) -> Response:
    return jsonify(service().subscriptions.get(account().id, hook_id))


@bp.patch("/<hook_id>")
def update_hook(hook_id: str) -> Response:
    return jsonify(service().subscriptions.update(account().id, hook_id, json_body()))


@bp.delete("/<hook_id>")
def unsubscribe(hook_id: str) -> tuple[str, int]:
    service().subscriptions.unsubscribe(account().id, hook_id)
    return "", 204


@bp.post("/<hook_id>/rotate-secret")
def rotate_secret(hook_id: str) -> Response:
    hk = service()
    return jsonify(hk.subscriptions.rotate_secret(account().id, hook_id, hk.settings.secret_grace))


@bp.post("/<hook_id>/test")
def test_send(hook_id: str) -> Response:
    """Send the event type's sample now, signed and mapped; answers with the attempt."""
    return jsonify(service().test_sends.send(account().id, hook_id))


@bp.get("/<hook_id>/deliveries")
def deliveries(hook_id: str) -> Response:
    page, limit = paging()
    items, total = service().deliveries.list_for_hook(
        account().id,
        hook_id,
        status=choice_arg("status", DELIVERY_STATUSES),
        page=page,
        limit=limit,
    )
    return paged("deliveries", items, total, page, limit)
