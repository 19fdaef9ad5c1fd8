"""Checking a subscription body: which fields it sets, each one validated and normalised.

Every alias a platform uses for the target URL is accepted here (`TARGET_ALIASES`), every
header a hook may not set is refused here (`FORBIDDEN_HEADERS`), and a mapping or filter
is tried on the sample of every subscribed event before it is saved.

This module never writes to the database: it turns a request body into column values.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Row

from ..catalog import Catalog
from ..catalog.validation import validator_for
from ..clock import Clock
from ..config import SIGNATURE_SCHEMES, parse_schedule
from ..errors import ConfigError, ValidationError
from ..events.samples import sample_envelope
from ..wire.body import BodySpec, render
from ..wire.mapping import MappingFailed, compile_expression, evaluate_filter, refused
from ..wire.schemes import ONE_HEADER, Signature
from ..wire.signing import PREFIX as KEY_PREFIX
from ..wire.targets import check_target_url, host_key

TARGET_ALIASES = ("target_url", "targetUrl", "hookUrl", "webhookUrl", "target", "url")
PLATFORMS = ("zapier", "make", "n8n", "pipedream", "ifttt", "custom")
SUCCESS_RULES = ("2xx", "2xx-3xx")  # which answers count as delivered
ORDERINGS = ("concurrent", "fifo")  # fifo: one delivery at a time, in publish order
PAYLOADS = ("full", "thin")  # thin: {id, type, timestamp, url}, the event fetched from `url`
MIN_SECRET_LENGTH = 24
MAX_RETRIES = 30
ZAPIER_RATE_LIMIT = 30.0  # Zapier accepts at most 30 requests/s per hook

# Headers a subscription may not set: they would break signing, framing or our auth.
FORBIDDEN_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "proxy-authorization",
        "proxy-connection",
        "user-agent",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")  # use with fullmatch
# An RFC 9110 field value, without obs-text: visible ASCII, spaces and tabs only inside (or
# empty). Bytes 0x80-0xFF are obsolete there and read differently by each receiver (aiohttp
# would send UTF-8 bytes that most read as Latin-1), so non-ASCII text is refused.
_FIELD_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20\x21-\x7e\t]*[\x21-\x7e])?)?")
# Basic-auth credentials: Latin-1 without C0 controls, DEL or C1 controls.
_LATIN1_TEXT = re.compile(r"[\x20-\x7e\xa0-\xff]*")
SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|cookie|password|signature", re.I)
# What responses show instead of a sensitive header's value; sent back in a PATCH, it keeps
# the stored value (a client that read a hook can write it back unchanged).
MASK = "********"

_NULLABLE_STRING = {"type": ["string", "null"], "maxLength": 10_000}
HOOK_SCHEMA = validator_for(
    {
        "type": "object",
        "properties": {
            "event": {"type": "string", "minLength": 1, "maxLength": 200},
            "events": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 200},
                "minItems": 1,
                "maxItems": 100,
            },
            **{alias: {"type": "string", "maxLength": 2048} for alias in TARGET_ALIASES},
            "mapping": _NULLABLE_STRING,
            "filter": _NULLABLE_STRING,
            "filters": {
                "type": ["object", "null"],
                "maxProperties": 50,
                "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
            },
            "custom_values": {"type": ["object", "null"], "maxProperties": 100},
            "headers": {
                "type": ["object", "null"],
                "maxProperties": 50,
                "additionalProperties": {"type": "string", "maxLength": 4096},
            },
            "method": {"enum": ["POST", "GET", "post", "get"]},
            "content_type": {"enum": ["json", "form"]},
            "auth": {
                "anyOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": "basic"},
                            "username": {"type": "string", "maxLength": 200},
                            "password": {"type": "string", "maxLength": 200},
                        },
                        "required": ["type", "username", "password"],
                        "additionalProperties": False,
                    },
                ]
            },
            "platform": {"enum": list(PLATFORMS)},
            "description": {"type": ["string", "null"], "maxLength": 1000},
            "log_response_body": {"type": "boolean"},
            "active": {"type": "boolean"},
            "status": {"enum": ["active", "paused"]},
            "rate_limit": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 10_000},
            # Parsed by `_timestamp`, which also takes a date-time without an offset.
            "expiration_date": {"type": ["string", "null"], "maxLength": 100},
            # Not an anyOf with null: a wrong scheme is then named at $.signature.scheme.
            "signature": {
                "type": ["object", "null"],
                "properties": {
                    "scheme": {"enum": list(SIGNATURE_SCHEMES)},
                    "header": {"type": ["string", "null"], "maxLength": 100},
                },
                "additionalProperties": False,
            },
            # "none", or delays like "10s,10s,10s"; parsed by `_schedule`.
            "retry_schedule": {"type": ["string", "null"], "maxLength": 200},
            "success": {"enum": list(SUCCESS_RULES)},
            "ordering": {"enum": list(ORDERINGS)},
            "payload": {"enum": list(PAYLOADS)},
            # The user's own secret (seed 003); empty or absent on PATCH keeps the current one.
            "secret": {"type": ["string", "null"], "maxLength": 100},
        },
    }
)

# Every setting of a hook at its default, spelled as in a request body: what a subscribe
# leaves out, and what a PUT that leaves a setting out returns it to (`Subscriptions`,
# which also gives Zapier hooks without a rate limit ZAPIER_RATE_LIMIT). Events and the
# target URL are required instead; the secret is not a setting. Never mutated.
DEFAULTS: dict[str, Any] = {
    "active": True,
    "platform": "custom",
    "description": "",
    "method": "POST",
    "content_type": "json",
    "headers": {},
    "auth": None,
    "custom_values": {},
    "mapping": None,
    "filter": None,
    "filters": {},
    "log_response_body": False,
    "rate_limit": None,
    "expiration_date": None,
    "signature": None,  # the deployment's scheme
    "retry_schedule": None,  # the deployment's schedule
    "success": SUCCESS_RULES[0],
    "ordering": ORDERINGS[0],
    "payload": PAYLOADS[0],
}


class FieldChecker:
    """Checks subscription bodies against one catalog and target policy; new hooks get the
    deployment's `signature` unless they ask for another."""

    def __init__(
        self,
        catalog: Catalog,
        clock: Clock,
        *,
        allow_private: bool,
        signature: Signature | None = None,
    ) -> None:
        self.catalog = catalog
        self.clock = clock
        self.allow_private = allow_private
        self.signature = _deployment_signature(signature or Signature())

    def fields(
        self,
        body: dict[str, Any],
        *,
        creating: bool,
        current: Row[Any] | None = None,
        events_url: str | None = None,
    ) -> dict[str, Any]:
        """Validated column values for the fields present in `body`; `events_url` is where
        this service serves events (`…/v1/events`), which thin bodies link into."""
        out: dict[str, Any] = {}
        events = self._events(body, required=creating)
        if events is not None:
            out["events"] = events
            out["event_key"] = ",".join(sorted(events))
        target = _target(body, required=creating)
        if target is not None:
            out["target_url"] = check_target_url(
                target[1], allow_private=self.allow_private, path=f"$.{target[0]}"
            )
            out["target_host"] = host_key(out["target_url"])
        for name in ("platform", "content_type", "log_response_body", "rate_limit"):
            if name in body:
                out[name] = body[name]
        if "method" in body:
            out["method"] = body["method"].upper()
        if "description" in body:
            out["description"] = body["description"] or ""
        if "custom_values" in body:
            out["custom_values"] = body["custom_values"] or {}
        if "filters" in body:
            out["filters"] = body["filters"] or {}
        if "auth" in body:
            out["auth"] = _auth(body["auth"])
        if "headers" in body:
            kept = current.headers if current is not None else None
            out["headers"] = _headers(body["headers"] or {}, kept or {})
        if "filter" in body:
            if body["filter"] is not None:
                compile_expression(body["filter"], "$.filter")
            out["filter"] = body["filter"]
        if "mapping" in body:
            out["mapping"] = body["mapping"]
        if "active" in body:
            out["status"] = "active" if body["active"] else "paused"
        if "status" in body:
            out["status"] = body["status"]
        if "expiration_date" in body:
            out["expires_at"] = _timestamp(body["expiration_date"])
        if "auth" in out or "headers" in out:
            _refuse_two_authorizations(out, current)
        if "signature" in body:
            out["signature"] = _signature(body["signature"], self.signature)
        elif creating:
            out["signature"] = self.signature.as_dict()
        if "signature" in out or "headers" in out or "auth" in out:
            _refuse_header_clash(out, current)
        if "retry_schedule" in body:
            out["retry_schedule"] = _schedule(body["retry_schedule"])
        if "success" in body:
            out["success"] = body["success"]
        if "ordering" in body:  # stored NULL for concurrent, as hooks made before 0004 have
            out["ordering"] = None if body["ordering"] == ORDERINGS[0] else body["ordering"]
        if "payload" in body:
            out["payload"] = _payload(body["payload"], events_url)
        if "payload" in out or "mapping" in out:
            _refuse_mapped_thin(out, current)
        if body.get("secret"):  # empty or null keeps the current secret
            out["secret"] = _own_secret(body["secret"])
            stored = out.get("signature", getattr(current, "signature", None))
            if Signature.stored(stored).uses_key_pair:
                raise ValidationError.at(
                    "$.secret", "an ed25519 hook signs with a key pair of hookkit's; no secret"
                )
        self._check_mapping(out, current)
        return out

    def _events(self, body: dict[str, Any], *, required: bool) -> list[str] | None:
        if "events" in body:
            names, path = list(dict.fromkeys(body["events"])), "$.events"
        elif "event" in body:
            names, path = [body["event"]], "$.event"
        elif required:
            raise ValidationError.at("$.event", "an event type is required ('event' or 'events')")
        else:
            return None
        for index, name in enumerate(names):
            if name not in self.catalog:
                where = f"{path}[{index}]" if path == "$.events" else path
                known = ", ".join(self.catalog.names())
                raise ValidationError.at(where, f"unknown event type {name!r}; known: {known}")
        return names

    def _check_mapping(self, fields: dict[str, Any], current: Row[Any] | None) -> None:
        """A mapping must parse and turn every subscribed event's sample into an object; a
        filter must run on every sample (an unknown function would otherwise pass nothing)."""

        def changed(name: str) -> str | None:
            value = fields.get(name, getattr(current, name) if current is not None else None)
            return value if name in fields or "events" in fields else None

        mapping, expression = changed("mapping"), changed("filter")
        if mapping is not None:
            compile_expression(mapping, "$.mapping")
        events = fields.get("events") or (current.events if current is not None else [])
        for name in events:
            sample = sample_envelope(self.catalog, name, self.clock())
            where = f" for the sample of {name!r}"
            try:
                if mapping is not None:
                    render(BodySpec(mapping=mapping), sample)
            except MappingFailed as exc:
                raise refused(exc, "$.mapping", context=where) from None
            try:
                if expression is not None:
                    evaluate_filter(expression, sample)
            except MappingFailed as exc:
                raise refused(exc, "$.filter", context=where, kind="filter") from None


def _target(body: dict[str, Any], *, required: bool) -> tuple[str, str] | None:
    given = [(alias, body[alias]) for alias in TARGET_ALIASES if body.get(alias) is not None]
    if not given:
        if required:
            names = ", ".join(TARGET_ALIASES)
            raise ValidationError.at("$.target_url", f"a target URL is required (any of {names})")
        return None
    if len({value.strip() for _, value in given}) > 1:
        raise ValidationError.at(
            f"$.{given[1][0]}", "several different target URLs given; send exactly one"
        )
    return given[0]


def _auth(auth: dict[str, str] | None) -> dict[str, str] | None:
    if auth is None:
        return None
    if ":" in auth["username"]:
        # Basic auth joins "username:password"; a colon in the name would move the split.
        raise ValidationError.at("$.auth.username", "a basic-auth username may not contain ':'")
    for name in ("username", "password"):
        # They travel in the Authorization header: Latin-1 text without control characters.
        if not _LATIN1_TEXT.fullmatch(auth[name]):
            raise ValidationError.at(
                f"$.auth.{name}",
                "basic-auth credentials may hold Latin-1 characters only, no control characters",
            )
    return auth


def _headers(headers: dict[str, str], current: dict[str, str]) -> dict[str, str]:
    """Checked custom headers; a masked value (as responses show it) keeps the stored one."""
    stored = {name.lower(): value for name, value in current.items()}
    out: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        path = f"$.headers.{name}"
        if not _TOKEN.fullmatch(name):
            raise ValidationError.at(path, "not a valid HTTP header name")
        lowered = name.lower()
        if lowered in FORBIDDEN_HEADERS or lowered.startswith("webhook-"):
            raise ValidationError.at(path, f"header {name!r} is set by hookkit and cannot be set")
        if lowered in seen:
            raise ValidationError.at(path, "header given twice (names are case-insensitive)")
        seen.add(lowered)
        if not _FIELD_VALUE.fullmatch(value):
            raise ValidationError.at(
                path,
                "header values may hold visible ASCII characters, with spaces or tabs only "
                "between them (no line breaks, control or non-ASCII characters)",
            )
        if value == MASK and SENSITIVE_HEADER.search(name):
            if lowered not in stored:
                raise ValidationError.at(path, "a masked value can only keep an existing header")
            value = stored[lowered]
        out[name] = value
    return out


def checked_fields(row: Row[Any]) -> tuple[Any, ...]:
    """What `FieldChecker.fields` reads of a stored hook to check a body against it."""
    return (row.events, row.mapping, row.filter, row.headers, row.auth, row.payload)


def _refuse_two_authorizations(fields: dict[str, Any], current: Row[Any] | None) -> None:
    """Basic auth sets the Authorization header, so a custom one would be silently replaced."""
    auth = fields["auth"] if "auth" in fields else getattr(current, "auth", None)
    headers = fields["headers"] if "headers" in fields else getattr(current, "headers", None)
    if auth is None:
        return
    for name in headers or {}:
        if name.lower() == "authorization":
            raise ValidationError.at(
                f"$.headers.{name}",
                "a custom Authorization header cannot be combined with basic auth, which sets "
                "that header; keep one of them",
            )


def _payload(shape: str, events_url: str | None) -> dict[str, str] | None:
    """The stored form of `payload`: NULL for the full body, else the thin shape and the
    events URL its bodies link into (taken now: HOOKKIT_PUBLIC_URL, else this request's)."""
    if shape == "full":
        return None
    if not events_url:
        raise ValidationError.at("$.payload", "thin payloads need the service's public URL")
    return {"shape": shape, "events_url": events_url}


def _refuse_mapped_thin(fields: dict[str, Any], current: Row[Any] | None) -> None:
    """A thin body carries no data to map: a mapping would silently do nothing."""
    payload = fields["payload"] if "payload" in fields else getattr(current, "payload", None)
    mapping = fields["mapping"] if "mapping" in fields else getattr(current, "mapping", None)
    if payload is not None and mapping is not None:
        path = "$.payload" if "payload" in fields else "$.mapping"
        raise ValidationError.at(
            path, "a thin payload carries no data to map; set mapping to null, or payload full"
        )


def _timestamp(text: str | None) -> float | None:
    """UNIX seconds of an ISO-8601 date-time; without an offset (or a bare date) it is UTC.

    The year, in UTC, must be 1970-9999: hooks show the date formatted from these seconds,
    which cannot hold a year past 9999, and an expiry before 1970 means nothing.
    """
    if text is None:
        return None
    path = "$.expiration_date"
    try:
        moment = datetime.fromisoformat(text.upper())
    except ValueError:
        message = "not an ISO-8601 date-time, like 2027-01-01T00:00:00Z"
        raise ValidationError.at(path, message) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        seconds = moment.timestamp()
        year: int | None = datetime.fromtimestamp(seconds, tz=UTC).year
    except (OverflowError, OSError, ValueError):
        year = None
    if year is None or not 1970 <= year <= 9999:
        raise ValidationError.at(path, "must be in the years 1970 to 9999 (in UTC)")
    return seconds


def _signature(value: dict[str, Any] | None, default: Signature) -> dict[str, Any]:
    """The stored form of a hook's signature; null means the deployment's default."""
    if value is None:
        return default.as_dict()
    scheme = value.get("scheme") or default.scheme
    header = value.get("header")
    if header is not None:
        path = "$.signature.header"
        if scheme not in ONE_HEADER:
            raise ValidationError.at(path, f"the {scheme} scheme has no header of its own")
        if not _TOKEN.fullmatch(header):
            raise ValidationError.at(path, "not a valid HTTP header name")
        lowered = header.lower()
        if lowered in FORBIDDEN_HEADERS or lowered.startswith("webhook-"):
            raise ValidationError.at(path, f"header {header!r} is set by hookkit otherwise")
    return Signature(scheme, header).as_dict()


def _refuse_header_clash(fields: dict[str, Any], current: Row[Any] | None) -> None:
    """A custom header, or basic auth's Authorization, may not have the name the signature
    travels in: one of the two would silently replace the other."""
    stored = fields.get("signature", getattr(current, "signature", None))
    name = Signature.stored(stored).header_name
    if name is None:
        return
    headers = fields["headers"] if "headers" in fields else getattr(current, "headers", None)
    for header in headers or {}:
        if header.lower() == name.lower():
            raise ValidationError.at(
                f"$.headers.{header}", f"{name} carries the signature; choose another name"
            )
    auth = fields["auth"] if "auth" in fields else getattr(current, "auth", None)
    if auth is not None and name.lower() == "authorization":
        raise ValidationError.at(
            "$.signature.header",
            "basic auth sets the Authorization header; sign in another header",
        )


def _deployment_signature(signature: Signature) -> Signature:
    """The deployment's scheme for new hooks, held to the rules of a hook's own
    (HOOKKIT_SIGNATURE_HEADER: only for the one-header schemes, not a header hookkit sets)."""
    try:
        _signature({"scheme": signature.scheme, "header": signature.header}, signature)
    except ValidationError as exc:
        raise ConfigError(f"HOOKKIT_SIGNATURE_HEADER={signature.header!r}: {exc}") from None
    return signature


def _schedule(text: str | None) -> list[float] | None:
    """Delays before each retry (`[]` for "none"); null means the deployment's schedule."""
    if text is None:
        return None
    path = "$.retry_schedule"
    if text.strip().lower() == "none":
        return []
    try:
        delays = list(parse_schedule(text))
    except ValueError as exc:
        raise ValidationError.at(path, f'{exc}; or "none"') from None
    if not delays:
        raise ValidationError.at(path, 'give delays like "10s,10s,10s", or "none"')
    if len(delays) > MAX_RETRIES or any(d > 30 * 86400 for d in delays):
        raise ValidationError.at(path, f"at most {MAX_RETRIES} retries, each within 30 days")
    return delays


def _own_secret(secret: str) -> str:
    """A secret the user chose: long enough to be one, and printable."""
    path = "$.secret"
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValidationError.at(path, f"a secret needs at least {MIN_SECRET_LENGTH} characters")
    if not secret.isprintable() or secret != secret.strip():
        raise ValidationError.at(
            path, "a secret may not hold spaces at its ends or control characters"
        )
    if secret.startswith(KEY_PREFIX):  # Standard Webhooks signs with the key it encodes
        try:
            key = base64.b64decode(secret[len(KEY_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not key:
            raise ValidationError.at(
                path,
                f"a {KEY_PREFIX} secret is a base64 key (Standard Webhooks); leave out the "
                f"{KEY_PREFIX} prefix to sign with the string itself",
            )
    return secret


def schedule_text(delays: list[float] | None) -> str | None:
    """How a stored retry schedule is shown: "none", "10s,10s,10s", or null (the default)."""
    if delays is None:
        return None
    return ",".join(f"{delay:g}s" for delay in delays) or "none"
