"""Portal links (`POST /v1/portal-links`): one call gives a product a signed URL that opens
the webhooks screens for its end user, inside its own settings page, with no API key.

The view parses and serialises only; `hooks.portal` checks the request and signs the link.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..errors import NotFound
from ..hooks.portal import LINK_SCHEMA, issue_link
from ..wire.envelope import iso
from .auth import authenticate_request
from .context import account, public_url, service
from .inputs import json_body
from .operations import Answer, Operation, describe
from .representations import ref

bp = Blueprint("portal_links", __name__, url_prefix="/v1/portal-links")
bp.before_request(authenticate_request)


@bp.post("")
@describe(
    Operation(
        "createPortalLink",
        "A signed link that opens the webhooks screens for an end user (embed it in an iframe)",
        "portal",
        (Answer(201, "the link and when it stops working", ref("PortalLink")),),
        description="Scoped to the whole account, or to `hook_ids` only; valid for "
        "`expires_in` (default 1h, 1m to 7d); `theme` sets an accent colour, a logo URL and "
        "a product name. The signature covers all of it. 404 when the server has no "
        "HOOKKIT_SECRET_KEY.",
        body=LINK_SCHEMA.schema,
        body_required=False,
        errors=(NotFound,),
    )
)
def create_portal_link() -> tuple[Response, int]:
    hk = service()
    token, expires_at = issue_link(
        hk.subscriptions,
        account().id,
        json_body(optional=True),
        secret_key=hk.settings.secret_key,
        clock=hk.clock,
    )
    return jsonify(
        {"url": public_url(f"/portal/{token}/hooks"), "expires_at": iso(expires_at)}
    ), 201
