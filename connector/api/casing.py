"""Member names in snake_case or camelCase (`HOOKKIT_JSON_CASE`), for products whose API
speaks camelCase (seed 004: `targetUrl`, `deliveryCount`, `pagination.totalPages`).

hookkit names its members in snake_case. With `json_case = "camel"` every JSON answer of
the API leaves with them in camelCase, converted here once, after the view (`install`
hooks `camel_answer` into the app), and `platforms.openapi` describes the answers through
the same `camelize`. User data is never renamed: the members in `OPAQUE` hold what users
sent or will receive and keep their keys as given, and the answers of `OPAQUE_ANSWERS`
are user data as a whole. problem+json keeps RFC 9457's members (one word each); ours are
converted like any other (`duplicate_of` → `duplicateOf`).

Requests take both spellings in both modes: `inputs` reads camelCase body and query names
as their snake_case ones (`snake`).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from flask import Flask, Response, current_app, request

from ..service import EXTENSION
from .operations import operation_of

# The members of `representations.SCHEMAS` whose value is not ours to rename.
OPAQUE = frozenset(
    {
        "data",  # Envelope: the event's data (IftttEventList: envelopes, whose keys are one word)
        "schema",  # EventType: the type's JSON Schema
        "sample",  # EventType: a real `data` object
        "custom_values",  # Hook: merged into delivered bodies
        "headers",  # Hook: header names are the user's
        "filters",  # Hook: keys are paths in `data`
        "result",  # Preview: a delivered body
    }
)
# Operations answering user data as a whole: bare delivered bodies (Zapier's performList).
OPAQUE_ANSWERS = frozenset({"listEventTypeSamples"})

JSON_MEDIA = frozenset({"application/json", "application/problem+json"})
_SNAKE = re.compile(r"_([a-z0-9])")
_CAMEL = re.compile(r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+$")
_HUMP = re.compile(r"([A-Z])")


def camel(name: str) -> str:
    """`total_pages` → `totalPages`; a name without underscores stays as it is."""
    return _SNAKE.sub(lambda match: match.group(1).upper(), name)


def snake(name: str) -> str:
    """`totalPages` → `total_pages`; anything but a plain camelCase name stays as it is."""
    return _HUMP.sub(r"_\1", name).lower() if _CAMEL.match(name) else name


def camelize(node: Any) -> Any:
    """`node` with every member name in camelCase, except inside the `OPAQUE` members.

    It serves an answer and the JSON Schema of one alike: schema keywords have no
    underscores, so in a schema only the names under `properties` change, and the names
    listed by `required` with them; an opaque member's subschema is kept as it is.
    """
    if isinstance(node, list):
        return [camelize(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for name, value in node.items():
        if name in OPAQUE:
            out[camel(name)] = copy.deepcopy(value)
        elif name == "required" and isinstance(value, list):
            out[name] = [camel(item) if isinstance(item, str) else item for item in value]
        else:
            out[camel(name)] = camelize(value)
    return out


def json_case(app: Flask) -> str:
    """The app's `json_case`: snake for an app without a service (the bare app that
    `platforms.description` writes the documents from)."""
    running = app.extensions.get(EXTENSION)
    return running.settings.json_case if running is not None else "snake"


def install(app: Flask, blueprints: set[str]) -> None:
    """With `json_case = "camel"`, convert the JSON answers of `blueprints` (the API) and
    every problem+json answer; in snake case nothing is hooked."""
    if json_case(app) != "camel":
        return

    def camel_answer(response: Response) -> Response:
        if response.mimetype not in JSON_MEDIA or response.direct_passthrough:
            return response
        if response.mimetype == "application/json":
            if not request.blueprints or request.blueprints[-1] not in blueprints:
                return response  # /openapi.json and /swagger.json describe camel answers
            view = current_app.view_functions.get(request.endpoint or "")
            operation = operation_of(view) if view is not None else None
            if operation is not None and operation.operation_id in OPAQUE_ANSWERS:
                return response
        raw = response.get_data()
        if not raw:
            return response
        body = json.loads(raw)
        response.set_data(current_app.json.dumps(camelize(body), separators=(",", ":")))
        return response

    app.after_request(camel_answer)
