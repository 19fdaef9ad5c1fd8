"""JMESPath payload mapping and filters, compiled once per expression.

A subscription's `mapping` reshapes the envelope `{"id","type","timestamp","data"}` into the
body it receives; `filter` (a JMESPath expression) and `filters` (equality on `data` fields)
decide whether an event creates a delivery for it at all. Expressions are checked when a
hook is saved, so delivery time only meets errors that depend on a real event's data.

Nothing here raises anything but `MappingFailed` (or, for a bad expression, a 422
`ValidationError`) whatever the event's data: a filter that cannot be evaluated does not
pass, and a mapping that cannot produce a JSON object is a failed attempt, never a crash
or a body that is not JSON.

Evaluation is budgeted, and must never be unbounded: a few characters of JMESPath can
describe gigabytes (`[@, @]` doubles its input, thirty pipes of it a billion copies), and
one such mapping would take down the API that previews it and every worker that picks up
its deliveries. Whatever outgrows the budget raises `OverBudget`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import jmespath
from jmespath import exceptions as jexc
from jmespath.parser import ParsedResult
from jmespath.visitor import TreeInterpreter

from ..catalog.fields import json_type
from ..errors import (
    FieldError,
    FilterTooLarge,
    InvalidFilter,
    InvalidMapping,
    MappingTooLarge,
    ValidationError,
)

__all__ = [
    "MAX_RESULT_BYTES",
    "MappingFailed",
    "OverBudget",
    "apply_mapping",
    "compile_expression",
    "evaluate_filter",
    "passes",
    "refused",
]


class MappingFailed(Exception):
    """A valid expression could not be evaluated into what it must produce for one event."""


class OverBudget(MappingFailed):
    """Evaluating an expression on one event would outgrow the budget below."""


# The budget of one evaluation. Sizes are of the JSON a value serialises to, estimated (a
# value referenced twice counts twice, as JSON writes it out twice).
MAX_RESULT_BYTES = 1_048_576  # any one value built, and a mapping's result: a body's worth
MAX_BUILT_BYTES = 32 * MAX_RESULT_BYTES  # everything built, compared or passed to functions
MAX_STEPS = 1_000_000  # expression nodes visited: about a second of work at worst


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
    except RecursionError:  # the parser recurses once per level of brackets and the like
        raise ValidationError.at(path, "the expression is nested too deeply") from None


def _syntax_error(path: str, msg: str, position: int, expression: str) -> ValidationError:
    pointer = f"{expression}\n{' ' * max(position, 0)}^"
    message = f"invalid JMESPath expression at position {position}: {msg}"
    return ValidationError(
        message,
        errors=[FieldError(path, message)],
        extra={"position": position, "expression": pointer},
    )


def refused(
    exc: MappingFailed, path: str, *, context: str = "", kind: str = "mapping"
) -> ValidationError:
    """The 422 for an expression (`kind`: mapping or filter) that parses but fails on the
    data it was tried on, or outgrew the evaluation budget there."""
    invalid, too_large = _REFUSALS[kind]
    chosen = too_large if isinstance(exc, OverBudget) else invalid
    return chosen.at(path, f"{exc}{context}")


_REFUSALS: dict[str, tuple[type[ValidationError], type[ValidationError]]] = {
    "mapping": (InvalidMapping, MappingTooLarge),
    "filter": (InvalidFilter, FilterTooLarge),
}


# What evaluating a valid expression over unforeseen data raises besides JMESPathError (a
# ValueError): a zero slice step a ValueError, `>` between a string and a number a TypeError
# (jmespath 1.1 orders strings, but not against numbers), `ceil()` of infinity an
# OverflowError.
_EVALUATION_ERRORS = (ValueError, TypeError, ArithmeticError, RecursionError)


# Nodes whose result is a new value rather than a part of their input.
_BUILDERS = frozenset(
    {
        "multi_select_list",
        "multi_select_dict",
        "flatten",
        "slice",
        "projection",
        "value_projection",
        "filter_projection",
        "function_expression",
    }
)


class _Budgeted(TreeInterpreter):
    """jmespath's interpreter, keeping one evaluation within `MAX_*`.

    Every value the expression builds is measured when it is built, so growth stops at the
    first step past the budget instead of after the last; comparisons and function calls
    are charged the size of what they work through. Sizes are remembered per object, so a
    value shared a million times over (what `[@, @]` makes) is measured once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0
        self.built = 0
        self._sizes: dict[int, tuple[object, int]] = {}  # the object too: its id stays unique

    def size(self, value: object) -> int:
        """About how many bytes of JSON `value` is."""
        if not isinstance(value, dict | list):
            return _scalar_size(value)
        known = self._sizes.get(id(value))
        if known is not None:
            return known[1]
        total = 1 + len(value)  # brackets and commas
        if isinstance(value, dict):
            total += sum(len(str(key)) + 3 for key in value)
        for item in value.values() if isinstance(value, dict) else value:
            if type(item) is str:  # the common case, without a call
                total += len(item) + 2
            else:
                total += self.size(item)
        self._sizes[id(value)] = (value, total)
        return total

    def charge(self, size: int) -> None:
        self.built += size
        if self.built > MAX_BUILT_BYTES:
            raise OverBudget(
                f"too large: it builds or works through more than {MAX_BUILT_BYTES:,} bytes "
                "of JSON in all"
            )

    def visit(self, node: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise OverBudget(f"too large: it takes more than {MAX_STEPS:,} steps")
        kind = node["type"]
        method = self._method_cache.get(kind)  # jmespath's dispatch, inlined: this is hot
        if method is None:
            method = self._method_cache[kind] = getattr(self, f"visit_{kind}", self.default_visit)
        result = method(node, *args, **kwargs)
        if kind in _BUILDERS:
            size = self.size(result)
            if size > MAX_RESULT_BYTES:
                raise OverBudget(
                    f"too large: it builds a value of about {size:,} bytes of JSON, more than "
                    f"the {MAX_RESULT_BYTES:,} allowed"
                )
            self.charge(size)
        return result

    def visit_function_expression(self, node: dict[str, Any], value: Any) -> Any:
        args = [self.visit(child, value) for child in node["children"]]
        self.charge(sum(self.size(arg) for arg in args))
        return self._functions.call_function(node["value"], args)

    def visit_comparator(self, node: dict[str, Any], value: Any) -> Any:
        left, right = (self.visit(child, value) for child in node["children"])
        self.charge(min(self.size(left), self.size(right)))
        # jmespath compares them as always, handed over as literals (visited once only).
        given = [{"type": "literal", "value": left}, {"type": "literal", "value": right}]
        return super().visit_comparator({**node, "children": given}, value)


def _scalar_size(value: object) -> int:
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 2  # digits, about, without writing them out
    if isinstance(value, float):
        return len(repr(value))
    return 8  # an `&expr` reference


def _search(expression: str, envelope: dict[str, Any]) -> tuple[Any, _Budgeted]:
    """The expression's result, and the interpreter that measured it."""
    interpreter = _Budgeted()
    try:
        return interpreter.visit(_compile(expression).parsed, envelope), interpreter
    except _EVALUATION_ERRORS as exc:
        raise MappingFailed(str(exc)) from None


def _run(what: str, expression: str, envelope: dict[str, Any]) -> tuple[Any, _Budgeted]:
    """`_search` with errors that say whether a mapping or a filter failed."""
    try:
        return _search(expression, envelope)
    except OverBudget as exc:
        raise OverBudget(f"{what} {exc}") from None
    except MappingFailed as exc:
        raise MappingFailed(f"{what} failed: {exc}") from None


def apply_mapping(expression: str, envelope: dict[str, Any]) -> dict[str, Any]:
    """Run a (previously validated) mapping; anything but a JSON object is a failure, and so
    is a result of more than `MAX_RESULT_BYTES` (`OverBudget`)."""
    result, interpreter = _run("mapping", expression, envelope)
    if not isinstance(result, dict):
        raise MappingFailed(f"mapping must produce a JSON object, got {_kind(result)}")
    size = interpreter.size(result)
    if size > MAX_RESULT_BYTES:  # e.g. `{all: data}` of an event larger than a body may be
        raise OverBudget(
            f"mapping result too large: about {size:,} bytes of JSON, more than the "
            f"{MAX_RESULT_BYTES:,} allowed"
        )
    where = _not_json(result, "$")
    if where is not None:
        path, value = where
        raise MappingFailed(f"mapping produced {value} at {path}, which JSON cannot carry")
    return result


_ARTICLED = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "a number",
    "number": "a number",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}


def _kind(value: object) -> str:
    kind = json_type(value)
    # Input is JSON, so anything else is jmespath's own unevaluated `&expr` reference.
    return _ARTICLED[kind] if kind else "an expression reference (&...)"


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
    result, _ = _run("filter", expression, envelope)
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
