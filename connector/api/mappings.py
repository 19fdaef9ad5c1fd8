"""Trying a mapping before saving it: `POST /v1/mappings/preview`."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..events.preview import preview as render_preview
from .auth import authenticate_request
from .context import service
from .inputs import json_body

bp = Blueprint("mappings", __name__, url_prefix="/v1/mappings")
bp.before_request(authenticate_request)


@bp.post("/preview")
def preview() -> Response:
    """`{"result": body}`: what a hook with this `mapping` and `custom_values` would receive
    (`events.preview.preview` says what the body may hold). Previews touch no account data;
    the caller is authenticated by `before_request`."""
    hk = service()
    return jsonify({"result": render_preview(hk.catalog, json_body(), hk.clock())})
