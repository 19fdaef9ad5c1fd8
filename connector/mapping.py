"""JMESPath payload mapping and filters, compiled once per expression.

A subscription's `mapping` reshapes the envelope `{"id","type","timestamp","data"}` into the
body it receives; `filter` (a JMESPath expression) and `filters` (equality on `data` fields)
decide whether an event creates a delivery for it at all. Expressions are checked when a
hook is saved, so delivery time only meets errors that depend on a real event's data.

Nothing here raises anything but `MappingFailed` (or, for a bad expression, a 422
`ValidationError`) whatever the event's data: a filter that cannot be evaluated does not
pass, and a mapping that cannot produce a JSON object is a failed attempt, never a crash
or a body that is not JSON.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import jmespath
from jmespath import exceptions as jexc
from jmespath.parser import ParsedResult

from .errors import FieldError, ValidationError

__all__ = [
    "MappingFailed",
    "apply_mapping",
    "compile_expression",
    "evaluate_filter",
    "passes",
    "refused",
]


class MappingFailed(Exception):
    """A valid expression could not be evaluated into what it must produce for one event."""


@lru_cache(maxsize=4096)
def _compile(expression: str) -> ParsedResult:
    return jmespath.compile(expression)


def compile_expression(expression: object, path: str) -> ParsedResult:
    """The parsed expression, or a 422 naming the field, the parser's message and position.

    The problem body gains `position` (0-based character offset) and `expression` (the
    expression with a caret under that position) beside the usual `errors`.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ValidationError.at(path, "must be a non-empty JMESPath expression")
    try:
        return _compile(expression)
    except jexc.IncompleteExpressionError as exc:
        raise _syntax_error(path, "incomplete expression", exc.lex_position, expression) from None
    except jexc.LexerError as exc:
        # LexerError keeps its own message in `message`; its `msg` is only a generic default.
        raise _syntax_error(path, exc.message, exc.lexer_position, expression) from None
    except jexc.ParseError as exc:
        raise _syntax_error(path, exc.msg, exc.lex_position, expression) from None
    except jexc.JMESPathError as exc:
        raise ValidationError.at(path, f"invalid JMESPath expression: {exc}") from None


def _syntax_error(path: str, msg: str, position: int, expression: str) -> ValidationError:
    pointer = f"{expression}\n{' ' * max(position, 0)}^"
    message = f"invalid JMESPath expression at position {position}: {msg}"
    return ValidationError(
        message,
        errors=[FieldError(path, message)],
        extra={"position": position, "expression": pointer},
    )


def refused(
    exc: MappingFailed, path: str, *, context: str = "", code: str = "mapping_invalid"
) -> ValidationError:
    """The 422 for an expression that parses but fails on the data it was tried on."""
    return ValidationError.at(path, f"{exc}{context}", code=code)


# What evaluating a valid expression over unforeseen data raises besides JMESPathError (a
# ValueError): a zero slice step a ValueError, `>` between a string and a number a TypeError
# (jmespath 1.1 orders strings, but not against numbers), `ceil()` of infinity an
# OverflowError.
_EVALUATION_ERRORS = (ValueError, TypeError, ArithmeticError, RecursionError)


def _search(expression: str, envelope: dict[str, Any]) -> Any:
    try:
        return _compile(expression).search(envelope)
    except _EVALUATION_ERRORS as exc:
        raise MappingFailed(str(exc)) from None


def apply_mapping(expression: str, envelope: dict[str, Any]) -> dict[str, Any]:
    """Run a (previously validated) mapping; anything but a JSON object is a failure."""
    try:
        result = _search(expression, envelope)
    except MappingFailed as exc:
        raise MappingFailed(f"mapping failed: {exc}") from None
    if not isinstance(result, dict):
        raise MappingFailed(f"mapping must produce a JSON object, got {_kind(result)}")
    where = _not_json(result, "$")
    if where is not None:
        path, value = where
        raise MappingFailed(f"mapping produced {value} at {path}, which JSON cannot carry")
    return result


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    # Input is JSON, so anything else is jmespath's own unevaluated `&expr` reference.
    return "an expression reference (&...)"


def _not_json(value: object, path: str) -> tuple[str, str] | None:
    """Where `value` holds something JSON cannot carry, e.g. `&expr` or `to_number('1e999')`."""
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"the number {value!r}")
    if isinstance(value, dict):
        for key, item in value.items():
            found = _not_json(item, f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _not_json(item, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    return path, _kind(value)


def evaluate_filter(expression: str, envelope: dict[str, Any]) -> bool:
    """Whether `expression` is truthy for this envelope; `MappingFailed` if it cannot run.

    JMESPath truthiness: `false`, `null`, `""`, `[]` and `{}` are false; `0` is true.
    """
    try:
        result = _search(expression, envelope)
    except MappingFailed as exc:
        raise MappingFailed(f"filter failed: {exc}") from None
    if isinstance(result, bool):
        return result
    return not (result is None or (isinstance(result, str | list | dict) and not result))


def _same_json(value: object, wanted: object) -> bool:
    # Python holds True == 1 and False == 0.0; JSON does not.
    if isinstance(value, bool) or isinstance(wanted, bool):
        return type(value) is type(wanted) and value == wanted
    return value == wanted


def passes(
    envelope: dict[str, Any], *, expression: str | None, filters: dict[str, Any] | None
) -> bool:
    """Whether an event goes to a hook: every `filters` field equal and `filter` truthy.

    `filters` keys may be dotted (`session.type`) to reach nested `data` fields; a missing
    field equals only `null`. A filter that errors on an event's data (e.g. `length()` of
    a field the event lacks) does not pass.
    """
    data = envelope.get("data")
    for key, wanted in (filters or {}).items():
        value: Any = data
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if not _same_json(value, wanted):
            return False
    if expression:
        try:
            return evaluate_filter(expression, envelope)
        except MappingFailed:
            return False
    return True
