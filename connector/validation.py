"""JSON Schema validation turned into `FieldError`s with JSONPath-like paths.

Used for request bodies and for event data alike, so every 422 lists every failing field
in the same form (`$.data.session.id`).
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from .errors import FieldError, ValidationError


def _path(prefix: str, error: SchemaError) -> str:
    parts = list(error.absolute_path)
    if error.validator == "required":
        # Point at the missing property itself, which is what a user has to add.
        missing = error.message.split("'")[1] if error.message.count("'") >= 2 else None
        if missing is not None:
            parts.append(missing)
    text = prefix
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def field_errors(validator: Draft202012Validator, instance: Any, prefix: str) -> list[FieldError]:
    """Every violation of `instance`, sorted by path."""
    found = [FieldError(_path(prefix, err), err.message) for err in validator.iter_errors(instance)]
    return sorted(found, key=lambda e: (e.path, e.message))


def check(validator: Draft202012Validator, instance: Any, prefix: str = "$") -> None:
    """Raise one 422 listing every violation."""
    errors = field_errors(validator, instance, prefix)
    if errors:
        summary = "; ".join(f"{e.path}: {e.message}" for e in errors[:5])
        raise ValidationError(f"{len(errors)} invalid field(s): {summary}", errors=errors)


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
