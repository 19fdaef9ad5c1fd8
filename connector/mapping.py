"""JMESPath payload mapping and filters, compiled once per expression.

A subscription's `mapping` reshapes the envelope `{"id","type","timestamp","data"}` into the
body it receives; `filter` (a JMESPath expression) and `filters` (equality on `data` fields)
decide whether an event creates a delivery for it at all. Expressions are checked when a
hook is saved, so delivery time only meets errors that depend on a real event's data.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jmespath
from jmespath import exceptions as jexc
from jmespath.parser import ParsedResult

from .errors import FieldError, ValidationError


class MappingFailed(Exception):
    """A valid mapping could not turn one real event into a JSON object."""


@lru_cache(maxsize=4096)
def _compile(expression: str) -> ParsedResult:
    return jmespath.compile(expression)


def compile_expression(expression: object, path: str) -> ParsedResult:
    """The parsed expression, or a 422 naming the field, the parser's message and position."""
    if not isinstance(expression, str) or not expression.strip():
        raise ValidationError.at(path, "must be a non-empty JMESPath expression")
    try:
        return _compile(expression)
    except jexc.LexerError as exc:
        raise _syntax_error(path, exc.msg, exc.lex_position, expression) from None
    except jexc.ParseError as exc:
        raise _syntax_error(path, exc.msg, exc.lex_position, expression) from None
    except jexc.JMESPathError as exc:
        raise ValidationError.at(path, f"invalid JMESPath expression: {exc}") from None


def _syntax_error(path: str, msg: str, position: int, expression: str) -> ValidationError:
    pointer = f"{expression}\n{' ' * max(position, 0)}^"
    message = f"invalid JMESPath expression at position {position}: {msg}"
    error = ValidationError(message, errors=[FieldError(path, message)])
    error.extra = {"position": position, "expression": pointer}  # type: ignore[attr-defined]
    return error


def apply_mapping(expression: str, envelope: dict[str, Any]) -> dict[str, Any]:
    """Run a (previously validated) mapping; anything but a JSON object is a failure."""
    try:
        result = _compile(expression).search(envelope)
    except jexc.JMESPathError as exc:
        raise MappingFailed(f"mapping failed: {exc}") from None
    if not isinstance(result, dict):
        kind = "null" if result is None else type(result).__name__
        raise MappingFailed(f"mapping must produce a JSON object, got {kind}")
    return result


def passes(
    envelope: dict[str, Any], *, expression: str | None, filters: dict[str, Any] | None
) -> bool:
    """Whether an event goes to a hook: every `filters` field equal and `filter` truthy.

    `filters` keys may be dotted (`session.type`) to reach nested `data` fields. A filter
    that errors on an event's data (e.g. comparing a string with a number) does not pass.
    """
    data = envelope.get("data")
    for key, wanted in (filters or {}).items():
        value: Any = data
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value != wanted:
            return False
    if expression:
        try:
            result = _compile(expression).search(envelope)
        except jexc.JMESPathError:
            return False
        # JMESPath truthiness: empty list/object/string, false and null are false.
        return result not in (None, False, "", [], {})
    return True
