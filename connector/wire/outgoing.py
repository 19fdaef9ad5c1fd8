"""What goes on the wire for one message: the rendered body, headers and signature.

One function builds every outgoing request (queued deliveries, retries, redeliveries and
test sends). The body is serialised once and the signature (`schemes`, the hook's scheme)
covers exactly those bytes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import yarl

from ..version import __version__
from .body import BodySpec, flatten, render
from .schemes import Signature, signature_headers

USER_AGENT = f"hookkit/{__version__}"
CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded"}
# Compact JSON, built once (`json.dumps` with options builds a new encoder on every call).
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class RequestSpec:
    """Everything of a subscription that decides how its requests look."""

    url: str
    method: str = "POST"
    content_type: str = "json"
    headers: dict[str, str] | None = None
    auth: dict[str, str] | None = None
    body: BodySpec = field(default_factory=BodySpec)
    signature: Signature = field(default_factory=Signature)


@dataclass(frozen=True)
class OutgoingRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def build_request(
    spec: RequestSpec,
    env: dict[str, Any],
    msg_id: str,
    timestamp: int,
    secrets: list[str],
    *,
    traceparent: str | None = None,
) -> OutgoingRequest:
    """The signed request for one attempt of message `msg_id`; with `traceparent` (tracing
    on) a W3C `traceparent` header too, which no scheme signs (they sign the body only).

    For GET the fields travel in the query string and the signed payload is the whole query
    string as sent (everything after `?`), so receivers verify `request.query_string`.
    """
    body = render(spec.body, env)
    headers = {"User-Agent": USER_AGENT, **(spec.headers or {})}
    if traceparent is not None:
        headers["traceparent"] = traceparent
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
    headers.update(signature_headers(spec.signature, msg_id, timestamp, signed, secrets))
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
