"""Reading requests: the JSON body, and integer and enum query parameters.

Views call these and never touch `request.data` themselves, so every endpoint answers bad
input with the same problem codes (400 malformed_json, 413, 415, 422 with a path). Names
may come in camelCase in either `HOOKKIT_JSON_CASE`: the body's top-level members and the
query's parameters are read as their snake_case names (`customValues` as `custom_values`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from typing import Any

from flask import request
from werkzeug.datastructures import ImmutableMultiDict

from ..errors import MalformedJSON, UnsupportedMediaType, ValidationError
from .casing import snake

# Text that cannot go on: NUL (PostgreSQL text refuses it) and lone surrogates (a JSON
# `\ud800` escape decodes to one, but no UTF-8 writer, database or receiver takes it).
_UNSENDABLE = re.compile("[\x00\ud800-\udfff]")


def unsendable(text: str) -> str | None:
    """Why `text` cannot be stored and sent (NUL, or not encodable as UTF-8), or None."""
    found = _UNSENDABLE.search(text)
    if found is None:
        return None
    if found.group() == "\0":
        return "may not contain NUL characters (\\u0000)"
    return "is not valid Unicode: a lone surrogate cannot be encoded as UTF-8"


def _reject_unsendable(value: Any, path: str) -> None:
    """Walk a JSON value; the first string or key that `unsendable` refuses is a 422 at its path.

    Keys are checked before the path names them, so an error never echoes unsendable text.
    """
    if isinstance(value, str):
        if (why := unsendable(value)) is not None:
            raise ValidationError.at(path, f"strings {why}")
    elif isinstance(value, dict):
        for key, inner in value.items():
            if (why := unsendable(key)) is not None:
                raise ValidationError.at(path, f"keys {why}")
            _reject_unsendable(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _reject_unsendable(inner, f"{path}[{index}]")


def json_body(*, optional: bool = False, keep: Collection[str] = ()) -> dict[str, Any]:
    """The request's JSON object, or a problem: 415 wrong type, 400 malformed, 422 not an object.

    Top-level camelCase names are read as their snake_case ones, except those in `keep`
    (names that are accepted as they are, like the `hookUrl` alias of the target URL).
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        if optional:
            return {}
        raise MalformedJSON("the request body is empty; send a JSON object")
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as application/json (got {mimetype or 'no Content-Type'})"
        )
    try:
        body = json.loads(raw, parse_constant=_no_constants, parse_float=_finite)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJSON(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedJSON("the body is nested too deeply") from None
    if not isinstance(body, dict):
        raise ValidationError.at("$", "the body must be a JSON object")
    _reject_unsendable(body, "$")
    return _snake_names(body.items(), keep, "$.")


def snake_query() -> None:
    """`before_request`: read camelCase query parameters as their snake_case names."""
    if any(snake(name) != name for name in request.args):
        pairs = _snake_names(request.args.lists(), (), "$.query.")
        request.args = ImmutableMultiDict(pairs)  # type: ignore[misc]


def _snake_names(members: Any, keep: Collection[str], where: str) -> dict[str, Any]:
    """`(name, value)` pairs by snake_case name; both spellings of one name must agree."""
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for name, value in members:
        key = name if name in keep else snake(name)
        if key in out and _json(out[key]) != _json(value):
            raise ValidationError.at(
                f"{where}{key}",
                f"given as both {spelled[key]} and {name} with different values; send one",
            )
        if key not in out or key == name:
            out[key], spelled[key] = value, name
    return out


def _no_constants(name: str) -> None:
    """NaN and Infinity are not JSON: they could never be delivered as valid JSON either."""
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    """Numbers beyond double range (`1e400`) would become Infinity: not JSON either."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def int_arg(name: str, default: int, *, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError.at(f"$.query.{name}", f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ValidationError.at(f"$.query.{name}", f"{name} must be between {low} and {high}")
    return value


def choice_arg(name: str, choices: tuple[str, ...]) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in choices:
        raise ValidationError.at(f"$.query.{name}", f"{name} must be one of {', '.join(choices)}")
    return value


def _json(value: Any) -> str:
    """`value` as canonical JSON: two spellings agree when these match (1 is not true)."""
    return json.dumps(value, sort_keys=True)
