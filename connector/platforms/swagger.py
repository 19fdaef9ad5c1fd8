"""The same API as Swagger 2.0, for Power Automate (which imports only 2.0, under 1 MB).

Converted from the OpenAPI 3.1 document, so both describe the same operations. JSON
Schema 2020-12 is narrowed to Swagger's schema subset: `["string", "null"]` becomes
`string` with `x-nullable`, `const` an `enum`, numeric `exclusiveMinimum` the boolean
form, local references are inlined, and keywords 2.0 does not know are dropped.

The subscribe operation becomes Power Automate's webhook trigger: `x-ms-trigger: single`,
the target URL marked `x-ms-notification-url` and `x-ms-visibility: internal` (Power
Automate fills it with its callback URL), the delivered envelope as the path's
`x-ms-notification-content`, and `201` with `Location`, which Power Automate DELETEs when
the flow is turned off.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from .openapi import PROBLEM_JSON

TRIGGER_OPERATION = "createHook"

_KEPT = {
    "type",
    "format",
    "title",
    "description",
    "default",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "properties",
    "additionalProperties",
    "items",
    "allOf",
    "example",
}
# Target URL aliases other platforms send; Power Automate sends `target_url` alone.
_ALIASES = ("targetUrl", "hookUrl", "webhookUrl", "target", "url")


# Operations a connector's users never call: health, readiness, metrics and the API
# documents ("meta"), and the signed one-click links of notification e-mails ("actions").
# Power Automate would list each as an action of the connector.
_NOT_ACTIONS = frozenset({"meta", "actions"})


def swagger_document(openapi: dict[str, Any]) -> dict[str, Any]:
    """Swagger 2.0 for the OpenAPI 3.1 document `openapi` (`openapi_document`): the API's
    own operations, not the operational ones (`_NOT_ACTIONS`)."""
    components = openapi["components"]["schemas"]
    convert = _Converter(components)
    paths: dict[str, Any] = {}
    for path, all_operations in openapi["paths"].items():
        operations = {
            method: operation
            for method, operation in all_operations.items()
            if not set(operation.get("tags", ())) & _NOT_ACTIONS
        }
        if not operations:
            continue
        item: dict[str, Any] = {
            method: _operation(operation, convert, list(openapi.get("webhooks", {})))
            for method, operation in operations.items()
        }
        if any(op["operationId"] == TRIGGER_OPERATION for op in operations.values()):
            # Power Automate reads the payload schema from the trigger's path item.
            item["x-ms-notification-content"] = {
                "description": "the delivered event: an envelope {id, type, timestamp, data}",
                "schema": convert({"$ref": "#/components/schemas/Envelope"}),
            }
        paths[path] = item
    document: dict[str, Any] = {
        "swagger": "2.0",
        "info": {
            "title": openapi["info"]["title"],
            "version": openapi["info"]["version"],
            "description": openapi["info"]["description"],
        },
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": paths,
        "definitions": {name: convert(schema) for name, schema in components.items()},
        "securityDefinitions": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
        "security": [{"apiKey": []}],
    }
    servers = openapi.get("servers")
    if servers:
        parts = urlsplit(servers[0]["url"])
        document["host"] = parts.netloc
        document["basePath"] = parts.path or "/"
        document["schemes"] = [parts.scheme]
    return document


class _Converter:
    """JSON Schema 2020-12 → Swagger 2.0 schema objects, resolving `#/components/...`."""

    def __init__(self, components: dict[str, Any]) -> None:
        self.components = components

    def __call__(self, schema: Any, depth: int = 0) -> dict[str, Any]:
        if not isinstance(schema, dict):
            return {}  # boolean schemas: anything
        if depth > 32:
            return {"type": "object"}  # a recursive schema: stop describing it here
        if "$ref" in schema:
            return self(self._resolve(schema["$ref"]), depth + 1)
        out: dict[str, Any] = {}
        kind = schema.get("type")
        if isinstance(kind, list):
            named = [t for t in kind if t != "null"]
            if "null" in kind:
                out["x-nullable"] = True
            kind = named[0] if len(named) == 1 else None
        if kind == "null":
            out["x-nullable"] = True
            kind = None
        if kind is not None:
            out["type"] = kind
        if "const" in schema:
            out["enum"] = [schema["const"]]
        for variants in ("anyOf", "oneOf"):
            if variants in schema:  # 2.0 has neither: keep the one non-null variant, if single
                options = [v for v in schema[variants] if v != {"type": "null"}]
                if len(options) == 1:
                    out.update(self(options[0], depth + 1))
                if len(options) < len(schema[variants]):
                    out["x-nullable"] = True
        for key, value in schema.items():
            if key not in _KEPT or key == "type":
                continue
            if key == "properties":
                out[key] = {name: self(sub, depth + 1) for name, sub in value.items()}
            elif key in ("items", "additionalProperties") and isinstance(value, dict):
                out[key] = self(value, depth + 1)
            elif key == "allOf":
                out[key] = [self(sub, depth + 1) for sub in value]
            elif key == "exclusiveMinimum" and not isinstance(value, bool):
                out["minimum"], out["exclusiveMinimum"] = value, True
            elif key == "exclusiveMaximum" and not isinstance(value, bool):
                out["maximum"], out["exclusiveMaximum"] = value, True
            elif key == "enum":
                out[key] = [item for item in value if item is not None]
                if None in value:
                    out["x-nullable"] = True
            else:
                out[key] = copy.deepcopy(value)
        if out.get("enum") == []:
            del out["enum"]
        return out

    def _resolve(self, pointer: str) -> Any:
        prefix = "#/components/schemas/"
        if not pointer.startswith(prefix):
            return {}
        node: Any = self.components
        for part in pointer[len(prefix) :].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node


def _operation(
    operation: dict[str, Any], convert: _Converter, event_types: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        key: operation[key]
        for key in ("operationId", "summary", "description", "tags", "security")
        if key in operation
    }
    parameters = []
    for param in operation.get("parameters", []):
        converted = {
            "name": param["name"],
            "in": param["in"],
            "required": param.get("required", False),
            **convert(param["schema"]),
        }
        if "description" in param:
            converted["description"] = param["description"]
        if "type" not in converted:
            converted["type"] = "string"
        converted.pop("x-nullable", None)
        parameters.append(converted)
    body = operation.get("requestBody")
    if body is not None:
        schema = convert(body["content"]["application/json"]["schema"])
        if operation["operationId"] == TRIGGER_OPERATION:
            schema = _trigger_body(schema, event_types)
        parameters.append(
            {"name": "body", "in": "body", "required": body.get("required", True), "schema": schema}
        )
    if parameters:
        out["parameters"] = parameters
    responses = {}
    for status, response in operation["responses"].items():
        converted = {"description": response["description"]}
        content = response.get("content", {})
        for media in ("application/json", PROBLEM_JSON, "text/html"):
            if media in content and "schema" in content[media]:
                converted["schema"] = convert(content[media]["schema"])
                break
        if "headers" in response:
            converted["headers"] = {
                name: {"type": "string", "description": header["description"]}
                for name, header in response["headers"].items()
            }
        responses[status] = converted
    out["responses"] = responses
    produces = sorted(
        {media for r in operation["responses"].values() for media in r.get("content", {})}
    )
    if produces:
        out["produces"] = produces
    if operation["operationId"] == TRIGGER_OPERATION:
        out["x-ms-trigger"] = "single"
    return out


def _trigger_body(schema: dict[str, Any], event_types: list[str]) -> dict[str, Any]:
    """The subscribe body as Power Automate fills it: the event type the user picks, and its
    callback URL in `target_url`."""
    properties = dict(schema.get("properties", {}))
    for alias in _ALIASES:
        properties.pop(alias, None)
    properties["event"] = {
        "type": "string",
        "enum": event_types,
        "title": "Event",
        "description": "the event type that starts the flow",
        "x-ms-summary": "Event",
    }
    properties["target_url"] = {
        **properties.get("target_url", {"type": "string"}),
        "description": "the flow's callback URL",
        "x-ms-notification-url": True,
        "x-ms-visibility": "internal",
    }
    return {**schema, "properties": properties, "required": ["event", "target_url"]}
