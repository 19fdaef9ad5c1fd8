"""Unauthenticated health check, and the caller's own account."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..hooks.accounts import set_notification_email
from ..version import __version__
from .auth import authenticate_request
from .context import account, service
from .inputs import json_body

bp = Blueprint("meta", __name__)


@bp.get("/healthz")
def health() -> Response:
    """Liveness plus a database round trip, for load balancers."""
    service().ping()
    return jsonify({"status": "ok", "version": __version__})


account_bp = Blueprint("account", __name__, url_prefix="/v1")
account_bp.before_request(authenticate_request)


@account_bp.get("/account")
def get_account() -> Response:
    """Who this key belongs to; Zapier and Make call it to test a connection."""
    me = account()
    return jsonify({"id": me.id, "name": me.name, "notification_email": me.notification_email})


@account_bp.patch("/account")
def update_account() -> Response:
    body = json_body()
    me = account()
    if "notification_email" in body:  # like every PATCH: a missing field stays as it is
        me = set_notification_email(service().store, me, body["notification_email"])
    return jsonify({"id": me.id, "name": me.name, "notification_email": me.notification_email})


bp.register_blueprint(account_bp)
