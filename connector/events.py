"""Publishing events: validate, store, fan out to deliveries — all in one transaction.

The database is the queue: an accepted event and every delivery it causes are committed
together (one multi-row insert), so nothing accepted can be lost between a database and a
broker, and a crash before the commit means the client was never told "accepted".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from .catalog import Catalog, schema_fields, value_fields
from .errors import ValidationError
from .mapping import MappingFailed, passes
from .payload import BodySpec, envelope, render
from .store import Store, deliveries, events, new_id, subscription_events, subscriptions
from .validation import invalid


@dataclass(frozen=True)
class Published:
    id: str
    type: str
    deliveries: int
    created: bool  # False when the idempotency key was seen before

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "deliveries": self.deliveries}


# The publish path's statements, built once: values travel as execution parameters, so
# SQLAlchemy reuses the compiled statement without rebuilding the expression and its cache
# key for every event.
_SUBSCRIBED = (
    select(subscriptions.c.id, subscriptions.c.filter, subscriptions.c.filters)
    .join(subscription_events, subscription_events.c.subscription_id == subscriptions.c.id)
    .where(
        subscription_events.c.account_id == bindparam("account_id"),
        subscription_events.c.event_type == bindparam("event_type"),
        subscriptions.c.status == "active",
        subscriptions.c.expires_at.is_(None) | (subscriptions.c.expires_at > bindparam("now")),
    )
)
_SEEN = select(events.c.id, events.c.type, events.c.delivery_count).where(
    events.c.account_id == bindparam("account_id"), events.c.idempotency_key == bindparam("key")
)
_INSERT_EVENT = events.insert()
_INSERT_DELIVERIES = deliveries.insert()


def publish(
    store: Store,
    catalog: Catalog,
    account_id: str,
    event_type: object,
    data: object,
    *,
    idempotency_key: object = None,
) -> Published:
    """Accept one event: 422 with every failing path, else stored with its deliveries."""
    if not isinstance(event_type, str) or event_type not in catalog:
        known = ", ".join(catalog.names())
        raise ValidationError.at("$.type", f"unknown event type {event_type!r}; known: {known}")
    if idempotency_key is not None and (
        not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 200
    ):
        raise ValidationError.at("$.id", "id must be a string of 1-200 characters")
    errors = catalog.validate(event_type, data)
    if errors:
        raise invalid(errors, f"field(s) of data do not match the {event_type!r} schema")
    try:
        return _store_event(store, account_id, event_type, data, idempotency_key)
    except IntegrityError:
        # A concurrent request with the same idempotency key won the race; answer as it did.
        return _store_event(store, account_id, event_type, data, idempotency_key)


def _store_event(
    store: Store, account_id: str, event_type: str, data: Any, key: str | None
) -> Published:
    now = time.time()
    with store.write() as conn:
        if key is not None:
            seen = conn.execute(_SEEN, {"account_id": account_id, "key": key}).first()
            if seen is not None:
                return Published(seen.id, seen.type, seen.delivery_count, created=False)
        event_id = new_id("evt")
        env = envelope(event_id, event_type, now, data)
        hooks = conn.execute(
            _SUBSCRIBED, {"account_id": account_id, "event_type": event_type, "now": now}
        ).all()
        targets = [
            hook.id for hook in hooks if passes(env, expression=hook.filter, filters=hook.filters)
        ]
        insert_event(conn, account_id, event_id, event_type, data, targets, now, key=key)
    return Published(event_id, event_type, len(targets), created=True)


def insert_event(
    conn: Connection,
    account_id: str,
    event_id: str,
    event_type: str,
    data: Any,
    hook_ids: list[str],
    now: float,
    *,
    key: str | None = None,
    lease_owner: str | None = None,
    lease: float = 0.0,
) -> list[str]:
    """Write an event and one delivery per hook (one multi-row insert); the delivery ids.

    A test send inserts its one delivery already leased (`lease_owner`), so no worker can
    claim it between this insert and the caller sending it.
    """
    conn.execute(
        _INSERT_EVENT,
        {
            "id": event_id,
            "account_id": account_id,
            "type": event_type,
            "data": data,
            "idempotency_key": key,
            "created_at": now,
            "is_test": lease_owner is not None,
            "delivery_count": len(hook_ids),
        },
    )
    rows = [
        {
            "id": new_id("msg"),
            "account_id": account_id,
            "subscription_id": hook_id,
            "event_id": event_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now + lease,
            "lease_owner": lease_owner,
            "created_at": now,
            "updated_at": now,
            "is_test": lease_owner is not None,
        }
        for hook_id in hook_ids
    ]
    if rows:
        conn.execute(_INSERT_DELIVERIES, rows)
    return [row["id"] for row in rows]


def recent(
    store: Store,
    account_id: str,
    *,
    event_type: str | None,
    limit: int,
    since_id: str | None = None,
    since: float | None = None,
) -> list[dict[str, Any]]:
    """The account's real events as envelopes, newest first; test sends never appear.

    `since_id` keeps events that come after that event in this order; `since` (UNIX
    seconds) keeps events whose millisecond `timestamp` is later, so a poller passing back
    the newest `timestamp` it saw is not sent that event again.
    """
    query = select(events.c.id, events.c.type, events.c.created_at, events.c.data).where(
        events.c.account_id == account_id, events.c.is_test.is_(False)
    )
    if event_type:
        query = query.where(events.c.type == event_type)
    with store.read() as conn:
        if since_id:
            query = query.where(_after(conn, account_id, since_id))
        if since is not None:
            query = query.where(events.c.created_at >= (math.floor(since * 1000) + 1) / 1000)
        query = query.order_by(events.c.created_at.desc(), events.c.id.desc()).limit(limit)
        rows = conn.execute(query).all()
    return [envelope(r.id, r.type, r.created_at, r.data) for r in rows]


def _after(conn: Connection, account_id: str, event_id: str) -> ColumnElement[bool]:
    """Events after `event_id` in the (created_at, id) order `recent` lists them in.

    Ids sort by creation only to the millisecond, so the event's own time decides; an id
    this account never had (say, from a purged event) falls back to comparing ids.
    """
    seen = conn.execute(
        select(events.c.created_at).where(
            events.c.account_id == account_id, events.c.id == event_id
        )
    ).scalar_one_or_none()
    if seen is None:
        return events.c.id > event_id
    return (events.c.created_at > seen) | ((events.c.created_at == seen) & (events.c.id > event_id))


def sample_envelope(catalog: Catalog, event_type: str) -> dict[str, Any]:
    """The catalog's sample in the shape a hook receives, for accounts with no events yet."""
    return envelope(
        f"evt_sample_{event_type}", event_type, time.time(), catalog.get(event_type).sample
    )


def envelope_schema(catalog: Catalog, event_type: str) -> dict[str, Any]:
    """The JSON Schema of the envelope a hook without a mapping receives for `event_type`."""
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string", "title": "ID"},
            "type": {"type": "string", "title": "Type"},
            "timestamp": {"type": "string", "format": "date-time", "title": "Timestamp"},
            "data": {**catalog.get(event_type).schema, "title": "Data"},
        },
        "required": ["id", "type", "timestamp", "data"],
    }


def output_fields(
    catalog: Catalog, event_type: str, spec: BodySpec | None = None
) -> list[dict[str, str]]:
    """The flat fields (`key`, `label`, `type`) of the body a hook receives, for field pickers.

    The envelope's fields come from the schema, so fields the sample happens to lack are
    listed too; a body reshaped by a mapping or custom values can only be described by
    rendering the sample (raises `MappingFailed` when the mapping cannot).
    """
    if spec is None or (spec.mapping is None and not spec.custom_values):
        return schema_fields(envelope_schema(catalog, event_type))
    return value_fields(render(spec, sample_envelope(catalog, event_type)))


SAMPLE_WINDOW = 100  # recent events looked through when some may be skipped


def samples(
    store: Store,
    catalog: Catalog,
    account_id: str,
    event_type: str,
    *,
    spec: BodySpec,
    limit: int,
    filter: str | None = None,
    filters: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Bodies exactly as a hook with this body `spec` and filters would receive them.

    The account's recent real events, newest first, less those the hook would not be sent
    (filtered out, or the mapping fails on them); the catalog sample when none is left.
    Raises `MappingFailed` only when the mapping fails on the catalog sample too.
    """
    may_skip = bool(spec.mapping or filter or filters)
    found = recent(
        store, account_id, event_type=event_type, limit=SAMPLE_WINDOW if may_skip else limit
    )
    bodies = []
    for env in found:
        if not passes(env, expression=filter, filters=filters):
            continue
        try:
            bodies.append(render(spec, env))
        except MappingFailed:
            continue
        if len(bodies) == limit:
            break
    return bodies or [render(spec, sample_envelope(catalog, event_type))]
