"""REST-hook subscriptions (`/v1/hooks`): what Zapier, Make, n8n and resthooks call."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from ..errors import (
    Conflict,
    DuplicateSubscription,
    FilterTooLarge,
    InvalidFilter,
    InvalidMapping,
    MappingTooLarge,
    UnsafeTarget,
)
from ..hooks.fields import HOOK_SCHEMA, PLATFORMS, TARGET_ALIASES
from .auth import authenticate_request
from .context import account, events_url, public_url, service
from .inputs import choice_arg, json_body
from .operations import PAGING, Answer, Operation, Param, describe
from .paging import paged, paging
from .representations import ref

bp = Blueprint("hooks", __name__, url_prefix="/v1/hooks")
bp.before_request(authenticate_request)

STATUSES = ("active", "paused", "failed")
DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")
_CHECKS = (UnsafeTarget, InvalidMapping, MappingTooLarge, InvalidFilter, FilterTooLarge)
_HOOK = (Answer(200, "the subscription", ref("Hook")),)


@bp.post("")
@describe(
    Operation(
        "createHook",
        "Subscribe a target URL to one or more event types (REST hook)",
        "hooks",
        (
            Answer(
                201,
                "created, with its signing `secret`",
                ref("Hook"),
                {"Location": "the subscription's URL; DELETE it to unsubscribe"},
            ),
            Answer(200, "this account already had this subscription: the same answer", ref("Hook")),
        ),
        description="The target URL may come as target_url, hookUrl, targetUrl, webhookUrl, "
        "target or url, as each platform sends it.",
        body=HOOK_SCHEMA.schema,
        errors=_CHECKS,
    )
)
def subscribe() -> tuple[Response, int] | Response:
    """201 with the new hook and its secret, or 200 with the identical existing one, likewise."""
    created = service().subscriptions.subscribe(
        account().id, json_body(keep=TARGET_ALIASES), events_url=events_url()
    )
    response = jsonify(created.subscription)
    response.headers["Location"] = public_url(
        url_for(".get_hook", hook_id=created.subscription["id"])
    )
    return response, 201 if created.created else 200


@bp.get("")
@describe(
    Operation(
        "listHooks",
        "The account's subscriptions, newest first",
        "hooks",
        (Answer(200, "a page of subscriptions", ref("HookList")),),
        query=(
            Param("event", {"type": "string"}, "only hooks of this event type"),
            Param("status", {"enum": list(STATUSES)}),
            Param("target_url", {"type": "string"}),
            Param("platform", {"enum": list(PLATFORMS)}),
            *PAGING,
        ),
    )
)
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
@describe(Operation("getHook", "One subscription", "hooks", _HOOK))
def get_hook(hook_id: str) -> Response:
    return jsonify(service().subscriptions.get(account().id, hook_id))


@bp.patch("/<hook_id>")
@describe(
    Operation(
        "updateHook",
        "Change any field of a subscription (status active/paused pauses and resumes)",
        "hooks",
        _HOOK,
        body=HOOK_SCHEMA.schema,
        errors=(*_CHECKS, DuplicateSubscription, Conflict),
    )
)
def update_hook(hook_id: str) -> Response:
    body = json_body(keep=TARGET_ALIASES)
    hooks = service().subscriptions
    return jsonify(hooks.update(account().id, hook_id, body, events_url=events_url()))


@bp.put("/<hook_id>")
@describe(
    Operation(
        "replaceHook",
        "Replace a subscription's settings: each one left out returns to its default",
        "hooks",
        _HOOK,
        description="Required like on subscribe: the event(s) and the target URL. The "
        "signing secret stays.",
        body=HOOK_SCHEMA.schema,
        errors=(*_CHECKS, DuplicateSubscription, Conflict),
    )
)
def replace_hook(hook_id: str) -> Response:
    body = json_body(keep=TARGET_ALIASES)
    hooks = service().subscriptions
    return jsonify(hooks.replace(account().id, hook_id, body, events_url=events_url()))


@bp.delete("/<hook_id>")
@describe(
    Operation(
        "deleteHook",
        "Unsubscribe (also fine when already deleted)",
        "hooks",
        (Answer(204, "deleted"),),
    )
)
def unsubscribe(hook_id: str) -> tuple[str, int]:
    service().subscriptions.unsubscribe(account().id, hook_id)
    return "", 204


@bp.post("/<hook_id>/rotate-secret")
@describe(
    Operation(
        "rotateHookSecret",
        "A new signing secret; the old one keeps signing during the grace period",
        "hooks",
        (Answer(200, "the subscription with its new `secret`", ref("Hook")),),
    )
)
def rotate_secret(hook_id: str) -> Response:
    hk = service()
    return jsonify(hk.subscriptions.rotate_secret(account().id, hook_id, hk.settings.secret_grace))


@bp.post("/<hook_id>/test")
@describe(
    Operation(
        "testHook",
        "Send the event type's sample now, signed and mapped",
        "hooks",
        (Answer(200, "the logged delivery and its one attempt", ref("TestSend")),),
    )
)
def test_send(hook_id: str) -> Response:
    """Send the event type's sample now, signed and mapped; answers with the attempt."""
    return jsonify(service().test_sends.send(account().id, hook_id))


@bp.get("/<hook_id>/deliveries")
@describe(
    Operation(
        "listHookDeliveries",
        "The delivery log of a subscription, newest first, with every attempt",
        "deliveries",
        (Answer(200, "a page of deliveries", ref("DeliveryList")),),
        query=(Param("status", {"enum": list(DELIVERY_STATUSES)}), *PAGING),
    )
)
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
