"""Reading requests: the JSON body, and integer and enum query parameters.

Views call these and never touch `request.data` themselves, so every endpoint answers bad
input with the same problem codes (400 malformed_json, 413, 415, 422 with a path).
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import request

from ..errors import MalformedJSON, UnsupportedMediaType, ValidationError


def _reject_nul(value: Any, path: str) -> None:
    if isinstance(value, str):
        if "\0" in value:
            raise ValidationError.at(path, "strings may not contain NUL characters (\\u0000)")
    elif isinstance(value, dict):
        for key, inner in value.items():
            if "\0" in key:
                raise ValidationError.at(path, "keys may not contain NUL characters (\\u0000)")
            _reject_nul(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _reject_nul(inner, f"{path}[{index}]")


def json_body(*, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object, or a problem: 415 wrong type, 400 malformed, 422 not an object."""
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
    _reject_nul(body, "$")
    return body


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
