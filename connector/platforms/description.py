"""The API description without a running service: the routes of a bare Flask app (no
database, no worker) and a catalog are all the documents need, so `export` can write
them from a clone."""

from __future__ import annotations

from typing import Any

from flask import Flask

from ..api import register
from ..catalog import Catalog
from . import routes
from .openapi import openapi_document
from .swagger import swagger_document


def describe_api(catalog: Catalog, server_url: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """`(OpenAPI 3.1, Swagger 2.0)` of the API that `create_app` serves."""
    app = Flask("hookkit")
    register(app)
    routes.register(app)
    openapi = openapi_document(app, catalog, server_url=server_url)
    return openapi, swagger_document(openapi)
