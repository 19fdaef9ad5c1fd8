"""`/openapi.json`, `/swagger.json` and the reference page `/docs`, without an API key.

The reference page is Swagger UI from assets shipped in a Python package (no CDN: hookkit
runs behind firewalls). The documents name the server by `HOOKKIT_PUBLIC_URL`, else by
the URL the request came to.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify
from flask_swagger_ui import get_swaggerui_blueprint

from ..api.context import public_url, service
from ..api.operations import Answer, Operation, describe
from .openapi import openapi_document
from .swagger import swagger_document

bp = Blueprint("api_description", __name__)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(
        get_swaggerui_blueprint(
            "/docs",
            "/openapi.json",
            config={"app_name": "hookkit API"},
            blueprint_name="api_docs_ui",
        )
    )


def _openapi() -> dict:  # type: ignore[type-arg]
    return openapi_document(current_app, service().catalog, server_url=public_url("/"))


@bp.get("/openapi.json")
@describe(
    Operation(
        "getOpenApi",
        "This API as OpenAPI 3.1, with a webhook per event type",
        "meta",
        (Answer(200, "the OpenAPI document", {"type": "object"}),),
        authenticated=False,
    )
)
def openapi() -> Response:
    return jsonify(_openapi())


@bp.get("/swagger.json")
@describe(
    Operation(
        "getSwagger",
        "This API as Swagger 2.0 (Power Automate custom connectors)",
        "meta",
        (Answer(200, "the Swagger document", {"type": "object"}),),
        authenticated=False,
    )
)
def swagger() -> Response:
    return jsonify(swagger_document(_openapi()))
