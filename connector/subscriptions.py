"""REST-hook subscriptions: subscribe, look up, list, update, pause, rotate, unsubscribe.

Platforms call these on behalf of end users and each speaks a dialect: the target URL comes
as `target_url` (resthooks), `hookUrl`/`targetUrl`/`webhookUrl` (Zapier apps), `target` or
`url` (Make, n8n). Subscribing twice returns the same hook (Pipedream and n8n re-run their
activate step) and unsubscribing twice succeeds (Zapier cannot tell off from deleted).

An account has at most one live hook per event set and URL: the database holds it to that
(a unique index), so concurrent identical subscribes make one hook, and a PATCH that would
make a second one is a conflict.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from .catalog import Catalog
from .errors import Conflict, NotFound, ValidationError
from .events import sample_envelope
from .mapping import MappingFailed, compile_expression, evaluate_filter, refused
from .payload import BodySpec, RequestSpec, iso, render
from .signing import generate_secret
from .store import Store, deliveries, host_key, new_id, subscription_events, subscriptions
from .targets import check_target_url
from .validation import check, validator_for

TARGET_ALIASES = ("target_url", "targetUrl", "hookUrl", "webhookUrl", "target", "url")
PLATFORMS = ("zapier", "make", "n8n", "pipedream", "ifttt", "custom")
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
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_SENSITIVE = re.compile(r"auth|token|key|secret|cookie|password|signature", re.I)
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
        },
    }
)


@dataclass(frozen=True)
class Created:
    subscription: dict[str, Any]
    created: bool  # False: an identical subscription already existed


# How often `update` checks a body again when the hook keeps changing under it.
_UPDATE_ATTEMPTS = 3


class Subscriptions:
    """Subscription use cases for one store, catalog and target policy."""

    def __init__(self, store: Store, catalog: Catalog, *, allow_private: bool) -> None:
        self.store = store
        self.catalog = catalog
        self.allow_private = allow_private

    # -- commands ---------------------------------------------------------------------------

    def subscribe(self, account_id: str, body: dict[str, Any]) -> Created:
        """Create a hook, or return the identical one this account already has."""
        check(HOOK_SCHEMA, body)
        fields = self._fields(body, creating=True)
        try:
            return self._create(account_id, fields)
        except IntegrityError:
            # An identical subscribe committed between our look and our insert (PostgreSQL
            # lets both look at once); the unique index stopped ours. Answer with its hook.
            with self.store.read() as conn:
                existing = _live_twin(conn, account_id, fields["event_key"], fields["target_url"])
            if existing is None:
                raise
            return Created(serialize(existing), created=False)

    def _create(self, account_id: str, fields: dict[str, Any]) -> Created:
        now = time.time()
        with self.store.write() as conn:
            existing = _live_twin(conn, account_id, fields["event_key"], fields["target_url"])
            if existing is not None:
                return Created(serialize(existing), created=False)
            hook_id = new_id("hook")
            secret = generate_secret()
            row = {
                "id": hook_id,
                "account_id": account_id,
                "status": "active",
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
                "expires_at": None,
                **fields,
                "secret": secret,
                "created_at": now,
                "updated_at": now,
                "delivery_count": 0,
                "failure_count": 0,
                "failure_streak": 0,
            }
            if row["platform"] == "zapier" and row["rate_limit"] is None:
                row["rate_limit"] = ZAPIER_RATE_LIMIT
            conn.execute(subscriptions.insert().values(row))
            _index_events(conn, hook_id, account_id, row["events"])
            created = conn.execute(select(subscriptions).where(subscriptions.c.id == hook_id)).one()
        return Created({**serialize(created), "secret": secret}, created=True)

    def update(self, account_id: str, hook_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change the fields `body` gives; 409 if the hook would duplicate another live one.

        The fields are checked before the write transaction opens: trying a mapping on every
        subscribed event's sample takes a while, and SQLite has a single writer. Should the
        hook change meanwhile in a way those checks read, they run again.
        """
        check(HOOK_SCHEMA, body)
        for _ in range(_UPDATE_ATTEMPTS):
            current = self.row(account_id, hook_id)
            fields = self._fields(body, creating=False, current=current)
            try:
                with self.store.write() as conn:
                    latest = _owned(conn, account_id, hook_id)
                    if _checked_fields(latest) != _checked_fields(current):
                        continue
                    return serialize(_apply(conn, latest, fields))
            except IntegrityError:
                # A concurrent subscribe or update took this event and URL first.
                with self.store.read() as conn:
                    twin = _live_twin(
                        conn,
                        account_id,
                        fields.get("event_key", current.event_key),
                        fields.get("target_url", current.target_url),
                        other_than=hook_id,
                    )
                if twin is None:
                    raise
                raise _duplicate(twin.id) from None
        raise Conflict("the subscription kept changing while this update was checked; try again")

    def unsubscribe(self, account_id: str, hook_id: str) -> None:
        """Delete a hook; deleting it again is fine, another account's id is NotFound."""
        with self.store.write() as conn:
            row = _owned(conn, account_id, hook_id, include_deleted=True)
            if row.deleted_at is None:
                remove(conn, hook_id, time.time())

    def rotate_secret(self, account_id: str, hook_id: str, grace: float) -> dict[str, Any]:
        """A new secret; the old one keeps signing beside it until the grace period ends."""
        now = time.time()
        secret = generate_secret()
        with self.store.write() as conn:
            current = _owned(conn, account_id, hook_id)
            conn.execute(
                subscriptions.update()
                .where(subscriptions.c.id == hook_id)
                .values(
                    secret=secret,
                    previous_secret=current.secret,
                    previous_secret_expires_at=now + grace,
                    updated_at=now,
                )
            )
            row = conn.execute(select(subscriptions).where(subscriptions.c.id == hook_id)).one()
        return {**serialize(row), "secret": secret}

    # -- queries ----------------------------------------------------------------------------

    def get(self, account_id: str, hook_id: str) -> dict[str, Any]:
        return serialize(self.row(account_id, hook_id))

    def row(self, account_id: str, hook_id: str) -> Row[Any]:
        with self.store.read() as conn:
            return _owned(conn, account_id, hook_id)

    def list(
        self,
        account_id: str,
        *,
        page: int,
        limit: int,
        event: str | None = None,
        status: str | None = None,
        target_url: str | None = None,
        platform: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        conditions = [
            subscriptions.c.account_id == account_id,
            subscriptions.c.deleted_at.is_(None),
        ]
        if status:
            conditions.append(subscriptions.c.status == status)
        if target_url:
            conditions.append(subscriptions.c.target_url == target_url.strip())
        if platform:
            conditions.append(subscriptions.c.platform == platform)
        if event:
            conditions.append(
                subscriptions.c.id.in_(
                    select(subscription_events.c.subscription_id).where(
                        subscription_events.c.account_id == account_id,
                        subscription_events.c.event_type == event,
                    )
                )
            )
        where = and_(*conditions)
        with self.store.read() as conn:
            total = conn.execute(select(func.count()).select_from(subscriptions).where(where))
            rows = conn.execute(
                select(subscriptions)
                .where(where)
                .order_by(subscriptions.c.created_at.desc(), subscriptions.c.id.desc())
                .limit(limit)
                .offset((page - 1) * limit)
            ).all()
            return [serialize(row) for row in rows], int(total.scalar_one())

    # -- field handling ---------------------------------------------------------------------

    def _fields(
        self, body: dict[str, Any], *, creating: bool, current: Row[Any] | None = None
    ) -> dict[str, Any]:
        """Validated column values for the fields present in `body`."""
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
            sample, where = sample_envelope(self.catalog, name), f" for the sample of {name!r}"
            try:
                if mapping is not None:
                    render(BodySpec(mapping=mapping), sample)
            except MappingFailed as exc:
                raise refused(exc, "$.mapping", context=where) from None
            try:
                if expression is not None:
                    evaluate_filter(expression, sample)
            except MappingFailed as exc:
                raise refused(
                    exc,
                    "$.filter",
                    context=where,
                    code="filter_invalid",
                    too_large="filter_too_large",
                ) from None


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
    if auth is not None and ":" in auth["username"]:
        # Basic auth joins "username:password"; a colon in the name would move the split.
        raise ValidationError.at("$.auth.username", "a basic-auth username may not contain ':'")
    return auth


def _headers(headers: dict[str, str], current: dict[str, str]) -> dict[str, str]:
    """Checked custom headers; a masked value (as responses show it) keeps the stored one."""
    stored = {name.lower(): value for name, value in current.items()}
    out: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        path = f"$.headers.{name}"
        if not _TOKEN.match(name):
            raise ValidationError.at(path, "not a valid HTTP header name")
        lowered = name.lower()
        if lowered in FORBIDDEN_HEADERS or lowered.startswith("webhook-"):
            raise ValidationError.at(path, f"header {name!r} is set by hookkit and cannot be set")
        if lowered in seen:
            raise ValidationError.at(path, "header given twice (names are case-insensitive)")
        seen.add(lowered)
        if any(ch in value for ch in "\r\n\0"):
            raise ValidationError.at(path, "header values may not contain line breaks")
        if value == MASK and _SENSITIVE.search(name):
            if lowered not in stored:
                raise ValidationError.at(path, "a masked value can only keep an existing header")
            value = stored[lowered]
        out[name] = value
    return out


def _checked_fields(row: Row[Any]) -> tuple[Any, ...]:
    """What `Subscriptions._fields` reads of a stored hook to check a body against it."""
    return (row.events, row.mapping, row.filter, row.headers, row.auth)


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


def _live_twin(
    conn: Connection,
    account_id: str,
    event_key: str,
    target_url: str,
    *,
    other_than: str | None = None,
) -> Row[Any] | None:
    """The account's live hook for these events and URL (other than `other_than`), if any."""
    query = select(subscriptions).where(
        subscriptions.c.account_id == account_id,
        subscriptions.c.event_key == event_key,
        subscriptions.c.target_url == target_url,
        subscriptions.c.deleted_at.is_(None),
    )
    if other_than is not None:
        query = query.where(subscriptions.c.id != other_than)
    return conn.execute(query).first()


def _duplicate(twin_id: str) -> Conflict:
    return Conflict(
        f"subscription {twin_id} already sends these events to this URL; change or delete "
        "that one instead",
        code="duplicate_subscription",
        extra={"duplicate_of": twin_id},
    )


def _apply(conn: Connection, current: Row[Any], fields: dict[str, Any]) -> Row[Any]:
    """Write checked `fields` to the hook `current` (read in this transaction); the new row."""
    if "event_key" in fields or "target_url" in fields:
        twin = _live_twin(
            conn,
            current.account_id,
            fields.get("event_key", current.event_key),
            fields.get("target_url", current.target_url),
            other_than=current.id,
        )
        if twin is not None:
            raise _duplicate(twin.id)
    values = {**fields, "updated_at": time.time()}
    if values.get("status") == "active" and current.status != "active":
        values["failure_streak"] = 0  # a user resuming a paused or failed hook starts afresh
    conn.execute(subscriptions.update().where(subscriptions.c.id == current.id).values(values))
    if "events" in values:
        conn.execute(
            subscription_events.delete().where(subscription_events.c.subscription_id == current.id)
        )
        _index_events(conn, current.id, current.account_id, values["events"])
    return conn.execute(select(subscriptions).where(subscriptions.c.id == current.id)).one()


def _index_events(conn: Connection, hook_id: str, account_id: str, names: list[str]) -> None:
    conn.execute(
        subscription_events.insert(),
        [{"subscription_id": hook_id, "event_type": n, "account_id": account_id} for n in names],
    )


def _owned(
    conn: Connection, account_id: str, hook_id: str, *, include_deleted: bool = False
) -> Row[Any]:
    """The hook if this account owns it; another account's id is exactly like an unknown one."""
    row = conn.execute(
        select(subscriptions).where(
            subscriptions.c.id == hook_id, subscriptions.c.account_id == account_id
        )
    ).first()
    if row is None or (row.deleted_at is not None and not include_deleted):
        raise NotFound(f"no subscription {hook_id!r}")
    return row


def remove(conn: Connection, hook_id: str, now: float) -> None:
    """Soft-delete a hook (its log stays readable) and cancel what it still had queued."""
    conn.execute(
        subscriptions.update()
        .where(subscriptions.c.id == hook_id)
        .values(deleted_at=now, updated_at=now, status="deleted")
    )
    conn.execute(
        subscription_events.delete().where(subscription_events.c.subscription_id == hook_id)
    )
    conn.execute(
        deliveries.update()
        .where(deliveries.c.subscription_id == hook_id, deliveries.c.status == "pending")
        .values(status="cancelled", lease_owner=None, updated_at=now)
    )


def request_spec(row: Any) -> RequestSpec:
    """How a stored hook's requests look: `outbox` builds every send from it (deliveries,
    retries, redeliveries, test sends). The samples endpoint shapes bodies from the same
    mapping and custom values itself (`api.event_types`), not through this."""
    return RequestSpec(
        url=row.target_url,
        method=row.method,
        content_type=row.content_type,
        headers=row.headers,
        auth=row.auth,
        body=BodySpec(mapping=row.mapping, custom_values=row.custom_values),
    )


def signing_secrets(row: Any, now: float) -> list[str]:
    """The current secret, plus the previous one while its grace period lasts."""
    keys = [row.secret]
    expires = row.previous_secret_expires_at
    if row.previous_secret and expires is not None and expires > now:
        keys.append(row.previous_secret)
    return keys


def serialize(row: Any) -> dict[str, Any]:
    """The public view of a hook: never its secret, basic-auth password or sensitive headers."""
    auth = row.auth
    if auth:
        auth = {"type": auth.get("type"), "username": auth.get("username")}
    headers = {
        name: (MASK if _SENSITIVE.search(name) else value)
        for name, value in (row.headers or {}).items()
    }
    return {
        "id": row.id,
        "event": row.events[0],
        "events": list(row.events),
        "target_url": row.target_url,
        "status": row.status,
        "platform": row.platform,
        "description": row.description,
        "method": row.method,
        "content_type": row.content_type,
        "headers": headers,
        "auth": auth,
        "custom_values": row.custom_values,
        "mapping": row.mapping,
        "filter": row.filter,
        "filters": row.filters,
        "log_response_body": row.log_response_body,
        "rate_limit": row.rate_limit,
        "expiration_date": iso(row.expires_at),
        "delivery_count": row.delivery_count,
        "failure_count": row.failure_count,
        "last_delivery_at": iso(row.last_delivery_at),
        "last_delivery": row.last_delivery,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
