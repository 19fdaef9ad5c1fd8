"""JSON Schema validation turned into `FieldError`s with JSONPath-like paths.

One implementation serves request bodies and published event data alike, so every 422
lists every failing field in the same notation (`$.data.session.id`, `$.events[1]`), with a
missing required property reported at the property's own path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker

from ..errors import FieldError, ValidationError

# Client data is echoed in validator messages ("<the whole object> is not of type 'string'");
# past this length a message stops helping the reader and only inflates the 422 body.
_MAX_MESSAGE = 300


def _format_checker() -> FormatChecker:
    """Draft 2020-12 format checks, with stdlib fallbacks for `date-time` and `uri`.

    jsonschema only checks those two formats when optional packages (`rfc3339-validator`,
    `rfc3987`) are installed; without them a sample saying ``"renderedAt": "yesterday"``
    would pass. The fallbacks are used only when the library has no checker of its own.
    """
    checker = FormatChecker(Draft202012Validator.FORMAT_CHECKER.checkers)
    if "date-time" not in checker.checkers:
        checker.checks("date-time")(_is_rfc3339_datetime)
    if "uri" not in checker.checkers:
        checker.checks("uri")(_is_absolute_uri)
    return checker


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*", re.ASCII)


def _is_rfc3339_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True  # formats only constrain strings; `type` speaks for the rest
    if not _RFC3339.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.upper())
    except ValueError:  # well-formed but impossible, like February 30
        return False
    return True


def _is_absolute_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _URI.fullmatch(value):
        return False
    try:
        urlsplit(value)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    return True


_FORMAT_CHECKER = _format_checker()


def _missing_property(required: object, instance: object, message: str) -> list[str]:
    """The property a `required` error is about, so its path can point at it.

    jsonschema reports the object that lacks the property, not the property itself; the
    name is recovered by matching the library's own message for each candidate.
    """
    if isinstance(required, list) and isinstance(instance, dict):
        for prop in required:
            if prop not in instance and message == f"{prop!r} is a required property":
                return [prop]
    return []


def json_path(elements: Sequence[str | int]) -> str:
    """A JSONPath suffix (no leading ``$``) in the notation jsonschema uses for `json_path`."""
    parts = []
    for element in elements:
        if isinstance(element, int):
            parts.append(f"[{element}]")
        elif re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_]*", element):
            parts.append(f".{element}")
        else:
            escaped = element.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"['{escaped}']")
    return "".join(parts)


def _sort_key(elements: Sequence[str | int]) -> list[tuple[int, int | str]]:
    # Numeric indices sort as numbers, so `[2]` comes before `[10]`; the leading 0/1 keeps
    # an index from ever being compared with a property name.
    return [(0, e) if isinstance(e, int) else (1, e) for e in elements]


def cap(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator with format checking on; build once per schema, reuse per call."""
    return Draft202012Validator(schema, format_checker=_FORMAT_CHECKER)


def field_errors(validator: Draft202012Validator, instance: Any, prefix: str) -> list[FieldError]:
    """Every violation of `instance`, sorted by path (indices numerically)."""
    located = []
    for error in validator.iter_errors(instance):
        path = list(error.absolute_path)
        if error.validator == "required":
            path.extend(_missing_property(error.validator_value, error.instance, error.message))
        located.append((_sort_key(path), prefix + json_path(path), cap(error.message)))
    located.sort()
    return [FieldError(path, message) for _, path, message in located]


def check(validator: Draft202012Validator, instance: Any, prefix: str = "$") -> None:
    """Raise one 422 listing every violation."""
    errors = field_errors(validator, instance, prefix)
    if errors:
        raise invalid(errors)


def invalid(errors: list[FieldError], what: str = "invalid field(s)") -> ValidationError:
    """A 422 whose detail summarises the first few errors."""
    summary = "; ".join(f"{e.path}: {e.message}" for e in errors[:5])
    return ValidationError(f"{len(errors)} {what}: {summary}", errors=errors)
