"""Unauthenticated health check, and the caller's own account."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..hooks.accounts import account_by_name, set_notification_email
from ..version import __version__
from .auth import authenticate_request
from .context import account, service
from .inputs import json_body
from .operations import Answer, Operation, describe
from .representations import ref

bp = Blueprint("meta", __name__)


@bp.get("/healthz")
@describe(
    Operation(
        "getHealth",
        "Liveness and a database round trip",
        "meta",
        (Answer(200, "the service is up and reaches its database", ref("Health")),),
        authenticated=False,
    )
)
def health() -> Response:
    """Liveness plus a database round trip, for load balancers."""
    service().ping()
    return jsonify({"status": "ok", "version": __version__})


account_bp = Blueprint("account", __name__, url_prefix="/v1")
account_bp.before_request(authenticate_request)


@account_bp.get("/account")
@describe(
    Operation(
        "getAccount",
        "The account of this API key (a platform's connection test)",
        "account",
        (Answer(200, "the account", ref("Account")),),
    )
)
def get_account() -> Response:
    """Who this key belongs to; Zapier and Make call it to test a connection."""
    me = account_by_name(service().store, account().name)  # fresh: keys are cached a while
    return jsonify({"id": me.id, "name": me.name, "notification_email": me.notification_email})


@account_bp.patch("/account")
@describe(
    Operation(
        "updateAccount",
        "Set where failure e-mails go",
        "account",
        (Answer(200, "the account", ref("Account")),),
        body={
            "type": "object",
            "properties": {"notification_email": {"type": ["string", "null"], "format": "email"}},
        },
    )
)
def update_account() -> Response:
    body = json_body()
    me = account()
    if "notification_email" in body:  # like every PATCH: a missing field stays as it is
        me = set_notification_email(service().store, me, body["notification_email"])
    return jsonify({"id": me.id, "name": me.name, "notification_email": me.notification_email})


bp.register_blueprint(account_bp)
