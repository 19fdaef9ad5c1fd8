"""Trying a mapping before saving it: `POST /v1/mappings/preview`."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..errors import InvalidMapping, MappingTooLarge
from ..events.preview import PREVIEW_SCHEMA
from ..events.preview import preview as render_preview
from .auth import authenticate_request
from .context import service
from .inputs import json_body
from .operations import Answer, Operation, describe
from .representations import ref

bp = Blueprint("mappings", __name__, url_prefix="/v1/mappings")
bp.before_request(authenticate_request)


@bp.post("/preview")
@describe(
    Operation(
        "previewMapping",
        "What a hook with this mapping and custom values would receive",
        "mappings",
        (Answer(200, "the body", ref("Preview")),),
        description="Give event_type (its sample is the event), data (any JSON), or both.",
        body=PREVIEW_SCHEMA.schema,
        errors=(InvalidMapping, MappingTooLarge),
    )
)
def preview() -> Response:
    """`{"result": body}`: what a hook with this `mapping` and `custom_values` would receive
    (`events.preview.preview` says what the body may hold). Previews touch no account data;
    the caller is authenticated by `before_request`."""
    hk = service()
    result = render_preview(hk.catalog, json_body(), hk.clock(), hk.settings.envelope)
    return jsonify({"result": result})
