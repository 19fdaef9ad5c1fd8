"""Output fields: the flat fields of a body that Zapier and Make show users for a trigger.

Both `schema_fields` and `value_fields` describe the same body, one from its schema, one
from a concrete value, so a user sees the same keys whichever the platform asked for.
`json_type` names the JSON type of a value, for every message that has to say one.
"""

from __future__ import annotations

import re
from typing import Any

_ACRONYMS = {"id", "ids", "url", "uri", "uid", "uuid", "qr", "api", "sms", "gif", "pdf", "ai"}
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?", re.ASCII
)
_JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object", "null")


def schema_fields(schema: dict[str, Any]) -> list[dict[str, str]]:
    """The flat output fields a body matching `schema` has, for a platform's field picker.

    Nested object properties are flattened into ``parent__child`` keys (Zapier's own
    convention); arrays are one field; a property's ``title`` becomes its label part. Only
    ``properties`` are followed, not ``allOf``/``oneOf``; a schema that is not an object
    has no named fields.
    """
    fields: list[dict[str, str]] = []
    _schema_fields(schema, (), (), fields)
    return fields


def value_fields(value: object) -> list[dict[str, str]]:
    """The flat output fields of a concrete JSON value, such as a sample after a mapping.

    Same keys and types as `schema_fields` gives for the value's schema, so previews built
    from real events and from schemas agree. A value that is not an object has no named
    fields.
    """
    fields: list[dict[str, str]] = []
    _value_fields(value, (), (), fields)
    return fields


def _schema_fields(
    schema: object,
    keys: tuple[str, ...],
    labels: tuple[str, ...],
    fields: list[dict[str, str]],
) -> None:
    if not isinstance(schema, dict):  # boolean schemas say nothing about shape
        if keys:
            fields.append(_field(keys, labels, "string"))
        return
    kind = _schema_type(schema)
    properties = schema.get("properties")
    if kind == "object" and isinstance(properties, dict) and properties:
        for key, subschema in properties.items():
            title = subschema.get("title") if isinstance(subschema, dict) else None
            label = title if isinstance(title, str) and title else _humanize(key)
            _schema_fields(subschema, (*keys, key), (*labels, label), fields)
    elif keys:
        fields.append(_field(keys, labels, kind))


def _schema_type(schema: dict[str, Any]) -> str:
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared]
    # A nullable field is still its non-null type to a user mapping it.
    named = [t for t in types if t in _JSON_TYPES and t != "null"] or [
        t for t in types if t == "null"
    ]
    if named:
        kind = named[0]
    elif "properties" in schema:
        kind = "object"
    elif "const" in schema or schema.get("enum"):
        example = schema["const"] if "const" in schema else schema["enum"][0]
        kind = _value_type(example)
    else:
        kind = "string"  # untyped: platforms treat unknown fields as text
    if kind == "string" and schema.get("format") == "date-time":
        return "datetime"
    return kind


def _value_fields(
    value: object,
    keys: tuple[str, ...],
    labels: tuple[str, ...],
    fields: list[dict[str, str]],
) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _value_fields(item, (*keys, str(key)), (*labels, _humanize(str(key))), fields)
    elif keys:
        fields.append(_field(keys, labels, _value_type(value)))


def json_type(value: object) -> str | None:
    """The JSON type of a decoded value (`integer` apart from `number`); None if not JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return None


def _value_type(value: object) -> str:
    if isinstance(value, str) and _ISO_DATETIME.fullmatch(value):
        return "datetime"
    return json_type(value) or "object"


def _field(keys: tuple[str, ...], labels: tuple[str, ...], kind: str) -> dict[str, str]:
    return {"key": "__".join(keys), "label": " ".join(labels), "type": kind}


def _humanize(key: str) -> str:
    """``device_info`` -> ``Device Info``, ``imageId`` -> ``Image ID``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", re.sub(r"[_\-.\s]+", " ", key))
    words = spaced.split()
    return (
        " ".join(w.upper() if w.lower() in _ACRONYMS else w[:1].upper() + w[1:] for w in words)
        or key
    )
