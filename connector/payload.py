"""What goes on the wire for one message: envelope, body, headers, signature.

One function builds every outgoing request — queued deliveries, retries, redeliveries and
test sends — and one renders bodies for both requests and the samples endpoint, so what a
user previews in Zapier's editor is byte for byte what a hook receives. The body is
serialised once and the signature covers exactly those bytes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import yarl

from . import __version__
from .mapping import apply_mapping
from .signing import sign

USER_AGENT = f"hookkit/{__version__}"
CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded"}
# Compact JSON, built once (`json.dumps` with options builds a new encoder on every call).
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def iso(ts: float | None) -> str | None:
    """UNIX seconds → ISO-8601 UTC with milliseconds and a `Z` (what Make's date triggers read)."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(event_id: str, event_type: str, created_at: float, data: Any) -> dict[str, Any]:
    """The standard body: `{"id", "type", "timestamp", "data"}`."""
    return {"id": event_id, "type": event_type, "timestamp": iso(created_at), "data": data}


@dataclass(frozen=True)
class BodySpec:
    """The parts of a subscription that shape its body."""

    mapping: str | None = None
    custom_values: dict[str, Any] | None = None


def render(spec: BodySpec, env: dict[str, Any]) -> dict[str, Any]:
    """The JSON object a hook receives: mapped (if it has a mapping) plus custom values.

    Raises `mapping.MappingFailed` when the mapping cannot yield an object for this event.
    """
    body = apply_mapping(spec.mapping, env) if spec.mapping else dict(env)
    if spec.custom_values:
        body = {**body, **spec.custom_values}
    return body


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


@dataclass(frozen=True)
class RequestSpec:
    """Everything of a subscription that decides how its requests look."""

    url: str
    method: str = "POST"
    content_type: str = "json"
    headers: dict[str, str] | None = None
    auth: dict[str, str] | None = None
    body: BodySpec = BodySpec()


@dataclass(frozen=True)
class OutgoingRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def build_request(
    spec: RequestSpec, env: dict[str, Any], msg_id: str, timestamp: int, secrets: list[str]
) -> OutgoingRequest:
    """The signed request for one attempt of message `msg_id`.

    For GET the fields travel in the query string and the signed payload is the whole query
    string as sent (everything after `?`), so receivers verify `request.query_string`.
    """
    body = render(spec.body, env)
    headers = {"User-Agent": USER_AGENT, **(spec.headers or {})}
    if spec.auth and spec.auth.get("type") == "basic":
        token = f"{spec.auth['username']}:{spec.auth['password']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
    url = spec.url
    if spec.method == "GET":
        url, query = _with_fields(url, urlencode(flatten(body)))
        signed = query.encode()
        payload = b""
    else:
        if spec.content_type == "form":
            payload = urlencode(flatten(body)).encode()
        else:
            payload = _JSON.encode(body).encode()
        headers["Content-Type"] = CONTENT_TYPES[spec.content_type]
        signed = payload
    headers["webhook-id"] = msg_id
    headers["webhook-timestamp"] = str(timestamp)
    headers["webhook-signature"] = sign(msg_id, timestamp, signed, secrets)
    return OutgoingRequest(spec.method, url, headers, payload)


def _with_fields(url: str, fields: str) -> tuple[str, str]:
    """`url` with `fields` appended to its query; returns the URL and its query as sent.

    aiohttp re-quotes every URL through yarl (`%3A` becomes `:`, `%7E` becomes `~`, ...), so
    the query is put in that form here: what is signed is then exactly what goes on the wire.
    A fragment is never sent, and would otherwise swallow the fields.
    """
    target = yarl.URL(url).with_fragment(None)
    query = "&".join(part for part in (target.raw_query_string, fields) if part)
    base = str(target.with_query(None))
    sent = yarl.URL(f"{base}?{query}" if query else base)
    return str(sent), sent.raw_query_string
