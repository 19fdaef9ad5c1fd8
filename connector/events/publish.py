"""Publishing events: validate, store, fan out to deliveries — all in one transaction.

The database is the queue: an accepted event and every delivery it causes are committed
together (one multi-row insert), so nothing accepted can be lost between a database and a
broker, and a crash before the commit means the client was never told "accepted".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..catalog import Catalog
from ..catalog.validation import invalid
from ..clock import Clock
from ..errors import ValidationError
from ..store.database import Store
from ..store.ids import new_id
from ..store.signal import QueueSignal
from ..store.tables import deliveries, events, subscription_events, subscriptions
from ..wire.envelope import envelope
from ..wire.mapping import passes


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


class Publisher:
    """Accepts events for one store and catalog, then signals the queue."""

    def __init__(self, store: Store, catalog: Catalog, clock: Clock, signal: QueueSignal) -> None:
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.signal = signal

    def publish(
        self,
        account_id: str,
        event_type: object,
        data: object,
        *,
        idempotency_key: object = None,
    ) -> Published:
        """Accept one event: 422 with every failing path, else stored with its deliveries."""
        catalog = self.catalog
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
            published = self._store(account_id, event_type, data, idempotency_key)
        except IntegrityError:
            # A concurrent request with the same idempotency key won the race; answer as it did.
            published = self._store(account_id, event_type, data, idempotency_key)
        if published.created and published.deliveries:
            self.signal.send()
        return published

    def _store(self, account_id: str, event_type: str, data: Any, key: str | None) -> Published:
        now = self.clock()
        with self.store.write() as conn:
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
                hook.id
                for hook in hooks
                if passes(env, expression=hook.filter, filters=hook.filters)
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
