"""The OpenAPI 3.1 document of a running app, written from its routes and its catalog.

Every route's view carries an `api.operations.Operation`; this module turns them, with
the errors common to each kind of operation, into paths, and the catalog into a `webhooks`
section (one entry per event type, whose body is the delivered envelope with the type's
schema as `data`, and whose headers are the signature headers). Same app, same catalog:
the same document, byte for byte once serialised with sorted keys. An app running with
`HOOKKIT_JSON_CASE=camel` is described with its answers' members in camelCase, converted
by the function that converts the answers (`api.casing.camelize`).

This module never changes the app it reads, and never documents a route it cannot see.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from typing import Any

from flask import Flask

from ..api.casing import OPAQUE_ANSWERS, camelize, json_case
from ..api.operations import Operation, operation_of
from ..api.representations import SCHEMAS, ref
from ..catalog import Catalog
from ..errors import (
    BadRequest,
    DatabaseUnavailable,
    HookkitError,
    MalformedJSON,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RetryLater,
    Unauthorized,
    UnsupportedMediaType,
    ValidationError,
)
from ..version import __version__
from ..wire.envelope import envelope_schema

# Routes that are not part of the API: static files and the reference page's assets.
UNDOCUMENTED = frozenset({"static", "api_docs_ui.show"})

PROBLEM_JSON = "application/problem+json"
_PATH_PARAM = re.compile(r"<(?:[a-z_]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
_BODY_ERRORS = (MalformedJSON, PayloadTooLarge, UnsupportedMediaType, ValidationError)
_DATA_KEYWORDS = {"const", "enum", "examples", "default"}

_CAMEL_NOTE = (
    " Answers name their members in camelCase; requests may name them in camelCase or snake_case."
)

SIGNATURE_HEADERS = {
    "webhook-id": "the message id, stable across retries: deduplicate on it",
    "webhook-timestamp": "UNIX seconds of this attempt",
    "webhook-signature": 'space-separated "v1,<base64 HMAC-SHA256 of id.timestamp.body>"',
}


def openapi_document(app: Flask, catalog: Catalog, *, server_url: str = "") -> dict[str, Any]:
    """The OpenAPI 3.1 document of `app`'s routes and `catalog`'s event types."""
    camel = json_case(app) == "camel"
    paths: dict[str, dict[str, Any]] = defaultdict(dict)
    for path, method, operation in described_routes(app):
        paths[path][method] = _operation(operation, path, camel=camel)
    schemas = camelize(SCHEMAS) if camel else copy.deepcopy(SCHEMAS)
    webhooks = {}
    for name in catalog.names():
        key = data_schema_name(name)
        schemas[key] = _embedded(catalog.get(name).schema, f"#/components/schemas/{key}")
        webhooks[name] = _webhook(catalog, name, key)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "hookkit",
            "version": __version__,
            "description": "Event catalog, REST-hook subscriptions and signed, durable "
            "webhook delivery. Errors are application/problem+json with a stable `code`."
            + (_CAMEL_NOTE if camel else ""),
        },
        "paths": {path: paths[path] for path in sorted(paths)},
        "webhooks": webhooks,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the API key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "metricsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "HOOKKIT_METRICS_TOKEN (GET /metrics only; not an API key)",
                },
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }
    if server_url:
        document["servers"] = [{"url": server_url.rstrip("/")}]
    return document


def described_routes(app: Flask) -> list[tuple[str, str, Operation]]:
    """`(OpenAPI path, method, operation)` of every documented route, in a stable order.

    Raises `LookupError` naming a route whose view was never described: an API route
    missing from the document is a bug, not something to skip.
    """
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED:
            continue
        view = app.view_functions[rule.endpoint]
        operation = operation_of(view)
        if operation is None:
            raise LookupError(f"route {rule.rule} ({rule.endpoint}) has no described operation")
        path = _PATH_PARAM.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((path, method.lower(), operation))
    return sorted(found, key=lambda item: (item[0], item[1]))


def data_schema_name(event_type: str) -> str:
    """The components key of an event type's `data` schema."""
    return "data." + re.sub(r"[^A-Za-z0-9._-]", "_", event_type)


def path_params(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)


def errors_of(operation: Operation, path: str) -> dict[int, list[type[HookkitError]]]:
    """The errors an operation may answer, by status: its own, plus those of its kind."""
    found: list[type[HookkitError]] = []
    if operation.authenticated:
        found.extend((Unauthorized, RateLimited))
    if path_params(path):
        found.append(NotFound)
    if operation.body is not None:
        found.extend(_BODY_ERRORS)
    if operation.query:
        found.append(ValidationError)
    found.extend(operation.errors)
    found.append(DatabaseUnavailable)  # any request whose database connection breaks
    by_status: dict[int, list[type[HookkitError]]] = defaultdict(list)
    for error in found:
        if error not in by_status[error.status]:
            by_status[error.status].append(error)
    if BadRequest.status in by_status:
        by_status[BadRequest.status].sort(key=lambda e: e.code)
    return dict(sorted(by_status.items()))


def _operation(operation: Operation, path: str, *, camel: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    if operation.description:
        out["description"] = operation.description
    if operation.security is not None:
        out["security"] = [{operation.security: []}]
    elif not operation.authenticated:
        out["security"] = []
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in path_params(path)
    ]
    parameters += [
        {
            "name": param.name,
            "in": "query",
            "required": param.required,
            "schema": param.schema,
            **({"description": param.description} if param.description else {}),
        }
        for param in operation.query
    ]
    if parameters:
        out["parameters"] = parameters
    if operation.body is not None:
        out["requestBody"] = {
            "required": operation.body_required,
            "content": {"application/json": {"schema": operation.body}},
        }
    responses: dict[str, Any] = {}
    for answer in operation.answers:
        response: dict[str, Any] = {"description": answer.description}
        if answer.schema is not None:
            schema = answer.schema
            if camel and operation.operation_id not in OPAQUE_ANSWERS:
                schema = camelize(schema)
            response["content"] = {answer.media_type: {"schema": schema}}
        if answer.headers:
            response["headers"] = _headers(answer.headers)
        responses[str(answer.status)] = response
    for status, errors in errors_of(operation, path).items():
        codes = ", ".join(f"`{error.code}`" for error in errors)
        responses[str(status)] = {
            "description": f"problem+json; code: {codes}",
            "content": {PROBLEM_JSON: {"schema": ref("Problem")}},
        }
        if any(issubclass(error, RetryLater) for error in errors):
            responses[str(status)]["headers"] = _headers(RETRY_AFTER)
    if operation.authenticated:  # every answer says where the key stands (`api.auth`)
        for response in responses.values():
            response["headers"] = {**response.get("headers", {}), **_headers(RATE_LIMIT)}
    out["responses"] = responses
    out.update(operation.extensions)
    return out


RETRY_AFTER = {"Retry-After": "seconds to wait before retrying"}
RATE_LIMIT = {
    "RateLimit-Limit": "requests this API key may send per window",
    "RateLimit-Remaining": "requests left in the current window",
    "RateLimit-Reset": "seconds until the whole window is available again",
    "RateLimit-Policy": "the limit and its window, e.g. `1000;w=1`",
}


def _headers(described: dict[str, str]) -> dict[str, Any]:
    return {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in described.items()
    }


def _webhook(catalog: Catalog, name: str, key: str) -> dict[str, Any]:
    event_type = catalog.get(name)
    body = envelope_schema({"$ref": f"#/components/schemas/{key}"})
    body["properties"]["type"] = {"const": name, "title": "Type"}
    return {
        "post": {
            "summary": event_type.title,
            "description": event_type.description
            + " Without a mapping the body is this envelope; a hook's mapping and custom "
            "values reshape it.",
            "operationId": f"on.{name}",
            "parameters": [
                {
                    "name": header,
                    "in": "header",
                    "required": True,
                    "description": text,
                    "schema": {"type": "string"},
                }
                for header, text in SIGNATURE_HEADERS.items()
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": body, "example": _example(catalog, name)}
                },
            },
            "responses": {
                "200": {"description": "any 2xx: delivered"},
                "410": {"description": "Gone: the subscription is deleted"},
            },
        }
    }


def _example(catalog: Catalog, name: str) -> dict[str, Any]:
    return {
        "id": "evt_sample",
        "type": name,
        "timestamp": "2026-01-01T00:00:00.000Z",
        "data": catalog.get(name).sample,
    }


def _embedded(schema: dict[str, Any], base: str) -> dict[str, Any]:
    """A catalog schema placed at `base`: local `$ref`s re-pointed under it, `$schema` gone
    (the document's dialect is already 2020-12)."""

    def walk(node: Any, in_data: bool = False) -> Any:
        if in_data:
            return copy.deepcopy(node)
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "$schema":
                    continue
                if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                    out[key] = base + value[1:] if value.startswith("#") else value
                else:
                    out[key] = walk(value, key in _DATA_KEYWORDS)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema)  # type: ignore[no-any-return]
