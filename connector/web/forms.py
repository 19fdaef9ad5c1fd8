"""The create form as a subscription body: the same body `POST /v1/hooks` takes, handed to
the same use case (`Subscriptions.subscribe`), so its checks and messages are the API's.
Likewise the replay form as the body of `POST /v1/hooks/{id}/replay` (`Replays.start`).

This module only decodes form fields (JSON text areas, `Name: value` header lines); it
never checks a value itself beyond what decoding needs.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.datastructures import MultiDict

from ..api.inputs import unsendable
from ..errors import FieldError, ValidationError

# Form field → body member, for the fields that are plain text (empty means left out).
_TEXT = (
    "target_url",
    "description",
    "method",
    "content_type",
    "platform",
    "mapping",
    "filter",
    "retry_schedule",
    "success",
    "expiration_date",
    "secret",
    "payload",
    "ordering",
)
_JSON = ("custom_values", "filters")
# What an emptied text field means when editing (a PATCH sends it to clear the setting).
_CLEARABLE: dict[str, Any] = {
    "description": "",
    "mapping": None,
    "filter": None,
    "retry_schedule": None,
    "expiration_date": None,
}


def hook_body(form: MultiDict[str, str], *, editing: bool = False) -> dict[str, Any]:
    """The subscription body the form describes; a 422 naming the field for text that is
    not decodable (bad JSON, a header line without a colon, unsendable characters).

    Creating, empty fields are left out (their defaults apply). `editing` (a PATCH), every
    field is sent, an emptied one as its "none" value, except the secret and the basic-auth
    password, which blank keeps (masked header values likewise keep what is stored).
    """
    for name, value in form.items(multi=True):
        if (why := unsendable(value)) is not None:
            raise ValidationError.at(f"$.{name}", f"strings {why}")
    body: dict[str, Any] = {}
    events = [e for e in form.getlist("event") if e]
    if len(events) == 1 and not editing:
        body["event"] = events[0]
    elif events or editing:
        body["events"] = events
    for name in _TEXT:
        value = form.get(name, "").strip()
        if value:
            body[name] = value
        elif editing and name in _CLEARABLE:
            body[name] = _CLEARABLE[name]
    for name in _JSON:
        text = form.get(name, "").strip()
        if text:
            body[name] = _json(name, text)
        elif editing:
            body[name] = {}
    headers = _headers(form.get("headers", ""))
    if headers or editing:
        body["headers"] = headers
    username, password = form.get("auth_username", ""), form.get("auth_password", "")
    if username or password:
        if not (editing and not password and username == form.get("current_auth_username")):
            body["auth"] = {"type": "basic", "username": username, "password": password}
    elif editing:
        body["auth"] = None
    rate = form.get("rate_limit", "").strip()
    if rate:
        try:
            body["rate_limit"] = float(rate)
        except ValueError:
            raise ValidationError.at("$.rate_limit", "rate_limit must be a number") from None
    elif editing:
        body["rate_limit"] = None
    scheme = form.get("signature_scheme", "").strip()
    if scheme:
        header = form.get("signature_header", "").strip()
        body["signature"] = {"scheme": scheme, **({"header": header} if header else {})}
    elif editing:
        body["signature"] = None
    body["log_response_body"] = form.get("log_response_body") == "on"
    return body


def replay_body(form: MultiDict[str, str]) -> dict[str, Any]:
    """The replay the form describes, as `POST /v1/hooks/{id}/replay` takes it: what is
    given is passed on as typed (the API's checks name what is wrong), an empty `until` is
    left out (now), no event type ticked means all of the hook's."""
    for name, value in form.items(multi=True):
        if (why := unsendable(value)) is not None:
            raise ValidationError.at(f"$.{name}", f"strings {why}")
    body: dict[str, Any] = {"since": form.get("since", "").strip()}
    until = form.get("until", "").strip()
    if until:
        body["until"] = until
    if "status" in form:
        body["status"] = form["status"]
    types = [name for name in form.getlist("event_types") if name]
    if types:
        body["event_types"] = types
    body["include_missed"] = form.get("include_missed") == "on"
    return body


def form_of(hook: dict[str, Any]) -> MultiDict[str, str]:
    """A hook (as the API shows it) as the form's fields, for editing."""
    fields: list[tuple[str, str]] = [("event", name) for name in hook["events"]]
    signature = hook.get("signature") or {}
    plain = {
        "target_url": hook["target_url"],
        "description": hook.get("description") or "",
        "platform": hook["platform"],
        "method": hook["method"],
        "content_type": hook["content_type"],
        "mapping": hook.get("mapping") or "",
        "filter": hook.get("filter") or "",
        "retry_schedule": hook.get("retry_schedule") or "",
        "success": hook["success"],
        "expiration_date": hook.get("expiration_date") or "",
        "headers": "\n".join(f"{k}: {v}" for k, v in (hook.get("headers") or {}).items()),
        "custom_values": json.dumps(hook["custom_values"], indent=2)
        if hook.get("custom_values")
        else "",
        "filters": json.dumps(hook["filters"], indent=2) if hook.get("filters") else "",
        "auth_username": (hook.get("auth") or {}).get("username") or "",
        "rate_limit": "" if hook.get("rate_limit") is None else f"{hook['rate_limit']:g}",
        "signature_scheme": signature.get("scheme") or "",
        "signature_header": signature.get("header") or "",
        "payload": hook.get("payload") or "",
        "ordering": hook.get("ordering") or "",
    }
    fields.extend(plain.items())
    if hook.get("log_response_body"):
        fields.append(("log_response_body", "on"))
    return MultiDict(fields)


def _json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError.at(f"$.{name}", f"{name} is not valid JSON: {exc}") from None


def _headers(text: str) -> dict[str, str]:
    """`Name: value` lines as a dict (blank lines skipped)."""
    found: dict[str, str] = {}
    errors = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            errors.append(FieldError("$.headers", f"line {number}: write a header as Name: value"))
            continue
        found[name.strip()] = value.strip()
    if errors:
        raise ValidationError(errors[0].message, errors=errors)
    return found


def field_of(path: str) -> str:
    """The form field an error path names (`$.events[0]` → `event`, `$.auth.password` →
    `auth_password`)."""
    head = path.removeprefix("$.").split("[", 1)[0]
    first, _, rest = head.partition(".")
    if first in ("events", "event"):
        return "event"
    if first in ("target", "url", "hookUrl", "targetUrl", "webhookUrl"):
        return "target_url"
    if first == "auth":
        return "auth_password" if rest == "password" else "auth_username"
    if first == "signature":
        return "signature_header" if rest == "header" else "signature_scheme"
    return first
