"""Bodies: what one hook receives for one event, as a JSON object and as form fields.

One function renders bodies for requests, test sends, the samples endpoint and previews,
so what a user previews in Zapier's editor is byte for byte what a hook receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .mapping import apply_mapping


@dataclass(frozen=True)
class BodySpec:
    """The parts of a subscription that shape its body."""

    mapping: str | None = None
    custom_values: dict[str, Any] | None = None
    # The deployment's default body (HOOKKIT_ENVELOPE), a JMESPath expression over the
    # standard envelope; a hook's own `mapping` applies to the standard envelope and wins.
    default_body: str | None = None
    # Thin payloads: the collection (`…/v1/events`) each body's `url` points into. A thin
    # body carries no data, so neither a mapping nor the default body applies to it.
    events_url: str | None = None

    @property
    def reshapes(self) -> bool:
        """Whether the body differs from the standard envelope."""
        return (
            self.mapping is not None
            or bool(self.custom_values)
            or bool(self.default_body)
            or self.events_url is not None
        )


def render(spec: BodySpec, env: dict[str, Any]) -> dict[str, Any]:
    """The JSON object a hook receives: the thin body when `events_url` is set, else its
    mapping's result, else the deployment's default body (`default_body`), else the
    standard envelope; plus custom values.

    Raises `mapping.MappingFailed` when the mapping cannot yield an object for this event.
    """
    shape = spec.mapping or spec.default_body
    if spec.events_url is not None:
        body = thin(env, spec.events_url)
    elif shape:
        body = apply_mapping(shape, env)
    else:
        body = dict(env)
    if spec.custom_values:
        body = {**body, **spec.custom_values}
    return body


def thin(env: dict[str, Any], events_url: str) -> dict[str, Any]:
    """The thin ("skinny") body: `{"id", "type", "timestamp", "url"}`, where `url` fetches
    the full event (`GET /v1/events/{id}` with the account's API key)."""
    return {
        "id": env["id"],
        "type": env["type"],
        "timestamp": env["timestamp"],
        "url": f"{events_url.rstrip('/')}/{quote(str(env['id']), safe='')}",
    }


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Form/GET fields with dotted keys: `{"a": {"b": 1}, "l": [x]}` → `a.b=1`, `l.0=x`."""
    if isinstance(value, dict):
        items: list[tuple[str, str]] = []
        for key, inner in value.items():
            items.extend(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return items
    if isinstance(value, list):
        items = []
        for index, inner in enumerate(value):
            items.extend(flatten(inner, f"{prefix}.{index}" if prefix else str(index)))
        return items
    if value is None:
        return [(prefix, "")]
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [(prefix, str(value))]
