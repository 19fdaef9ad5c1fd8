"""Publishing events: validate, store, fan out to deliveries — all in one transaction.

The database is the queue: an accepted event and every delivery it causes are committed
together (one multi-row insert), so nothing accepted can be lost between a database and a
broker, and a crash before the commit means the client was never told "accepted".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from .. import metrics, tracing
from ..catalog import Catalog
from ..catalog.validation import invalid
from ..clock import Clock
from ..errors import FieldError, HookkitError, ValidationError
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
_SEEN = select(events.c.idempotency_key, events.c.id, events.c.type, events.c.delivery_count).where(
    events.c.account_id == bindparam("account_id"),
    events.c.idempotency_key.in_(bindparam("keys", expanding=True)),
)
_STORED = select(events.c.id, events.c.delivery_count).where(
    events.c.id.in_(bindparam("ids", expanding=True))
)
_INSERT_EVENT = events.insert()
_INSERT_DELIVERIES = deliveries.insert()


_PENDING = Published("", "", 0, created=False)  # a checked item's place until it is stored


@dataclass(frozen=True)
class Item:
    """One event to publish, checked (`Publisher.check`): its type, data and idempotency key."""

    type: str
    data: Any
    key: str | None = None


class Publisher:
    """Accepts events for one store and catalog, then signals the queue."""

    def __init__(self, store: Store, catalog: Catalog, clock: Clock, signal: QueueSignal) -> None:
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.signal = signal

    def check(self, event_type: object, data: object, idempotency_key: object = None) -> Item:
        """The event as an `Item`, or ValidationError (422) with every failing path."""
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
        return Item(event_type, data, idempotency_key)

    def publish(
        self,
        account_id: str,
        event_type: object,
        data: object,
        *,
        idempotency_key: object = None,
    ) -> Published:
        """Accept one event: 422 with every failing path, else stored with its deliveries."""
        return self.publish_checked(account_id, [self.check(event_type, data, idempotency_key)])[0]

    def publish_many(
        self, account_id: str, items: Sequence[object]
    ) -> list[Published | HookkitError]:
        """A batch: each item (`{"type", "data", "id"?}`) checked alone, the valid ones stored
        in one transaction; per item its `Published` or its error, paths under `$.events[i]`.
        """
        checked: list[tuple[int, Item]] = []
        results: list[Published | HookkitError] = []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise ValidationError.at("$", "each event must be an object")
                checked.append(
                    (index, self.check(item.get("type"), item.get("data"), item.get("id")))
                )
                results.append(_PENDING)
            except HookkitError as exc:
                prefix = f"$.events[{index}]"
                exc.errors = [FieldError(prefix + e.path[1:], e.message) for e in exc.errors]
                results.append(exc)
        stored = self.publish_checked(account_id, [item for _, item in checked])
        for (index, _), published in zip(checked, stored, strict=True):
            results[index] = published
        return results

    def publish_checked(self, account_id: str, items: Sequence[Item]) -> list[Published]:
        """Store checked events and their deliveries in one transaction; one answer each.

        An item whose key was published before (or earlier in `items`) is answered as the
        first one was (`created` False) and stores nothing.
        """
        if not items:
            return []
        timer = metrics.Timer()
        try:
            results = self._store(account_id, items)
        except IntegrityError:
            # A concurrent request with the same idempotency key won the race; answer as it did.
            results = self._store(account_id, items)
        created = [published for published in results if published.created]
        if any(published.deliveries for published in created):
            self.signal.send()
        if created:  # one publish (a single event, or a whole batch): one latency
            metrics.published(timer.seconds)
        for published in created:
            metrics.event_accepted(published.type)
        return results

    def _store(self, account_id: str, items: Sequence[Item]) -> list[Published]:
        """One transaction, retried once on a lost database connection (`write_retrying`).

        Event ids are chosen before the first run: if the connection broke while the COMMIT
        travelled, the second run finds the events stored and answers with them, so a retry
        never stores an event twice, idempotency key or not.
        """
        now = self.clock()
        ids = [new_id("evt") for _ in items]
        runs = 0

        def work(conn: Connection) -> list[Published]:
            nonlocal runs
            runs += 1
            keys = [item.key for item in items if item.key is not None]
            seen = {}
            if keys:
                rows = conn.execute(_SEEN, {"account_id": account_id, "keys": keys})
                seen = {row.idempotency_key: row for row in rows}
            stored = {}
            if runs > 1:
                stored = {row.id: row.delivery_count for row in conn.execute(_STORED, {"ids": ids})}
            hooks_of: dict[str, list[Any]] = {}
            first_of: dict[str, Published] = {}
            results, event_rows, new_deliveries = [], [], []
            for item, event_id in zip(items, ids, strict=True):
                if item.key is not None and item.key in seen:
                    row = seen[item.key]
                    published = Published(row.id, row.type, row.delivery_count, row.id in ids)
                elif item.key is not None and item.key in first_of:
                    published = replace(first_of[item.key], created=False)
                elif event_id in stored:
                    published = Published(event_id, item.type, stored[event_id], created=True)
                else:
                    if item.type not in hooks_of:
                        query = {"account_id": account_id, "event_type": item.type, "now": now}
                        hooks_of[item.type] = conn.execute(_SUBSCRIBED, query).all()
                    env = envelope(event_id, item.type, now, item.data)
                    targets = [
                        hook.id
                        for hook in hooks_of[item.type]
                        if passes(env, expression=hook.filter, filters=hook.filters)
                    ]
                    event_rows.append(
                        _event_row(
                            account_id, event_id, item.type, item.data, targets, now, item.key
                        )
                    )
                    new_deliveries += delivery_rows(account_id, event_id, targets, now)
                    published = Published(event_id, item.type, len(targets), created=True)
                if item.key is not None:
                    first_of.setdefault(item.key, published)
                results.append(published)
            if event_rows:
                conn.execute(_INSERT_EVENT, event_rows)
            if new_deliveries:
                conn.execute(_INSERT_DELIVERIES, new_deliveries)
            return results

        return self.store.write_retrying(work)


def insert_event(
    conn: Connection,
    account_id: str,
    event_id: str,
    event_type: str,
    data: Any,
    hook_ids: list[str],
    now: float,
    *,
    lease_owner: str | None = None,
    lease: float = 0.0,
) -> list[str]:
    """Write one event and one delivery per hook; the delivery ids (test sends).

    A test send inserts its one delivery already leased (`lease_owner`), so no worker can
    claim it between this insert and the caller sending it.
    """
    is_test = lease_owner is not None
    conn.execute(
        _INSERT_EVENT,
        _event_row(account_id, event_id, event_type, data, hook_ids, now, None, is_test),
    )
    rows = delivery_rows(account_id, event_id, hook_ids, now, lease_owner, lease)
    if rows:
        conn.execute(_INSERT_DELIVERIES, rows)
    return [row["id"] for row in rows]


def _event_row(
    account_id: str,
    event_id: str,
    event_type: str,
    data: Any,
    hook_ids: list[str],
    now: float,
    key: str | None,
    is_test: bool = False,
) -> dict[str, Any]:
    return {
        "id": event_id,
        "account_id": account_id,
        "type": event_type,
        "data": data,
        "idempotency_key": key,
        "created_at": now,
        "is_test": is_test,
        "delivery_count": len(hook_ids),
        # The publish span's context (HOOKKIT_TRACING): the attempts join its trace.
        "trace_context": tracing.current_traceparent(),
    }


def delivery_rows(
    account_id: str,
    event_id: str,
    hook_ids: list[str],
    now: float,
    lease_owner: str | None = None,
    lease: float = 0.0,
) -> list[dict[str, Any]]:
    """One pending delivery per hook (multi-row insert), due `lease` from `now`: published
    events, test sends (leased to `lease_owner`) and replays' missed events alike."""
    return [
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
