"""The delivery log: what was sent where, every attempt's result, and manual redelivery."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import and_, case, func, select

from ..clock import Clock
from ..errors import DeliveryInFlight, HookDeleted, HookNotActive, NotFound, RetryOfTestSend
from ..hooks.stored import owned
from ..store.database import Store
from ..store.signal import QueueSignal
from ..store.tables import PARKED, attempts, deliveries, events, subscriptions
from ..wire.envelope import iso

_COLUMNS = (
    deliveries,
    events.c.type.label("event_type"),
)


def _attempt(row: Any) -> dict[str, Any]:
    return {
        "attempt": row.attempt,
        "at": iso(row.at),
        "duration_ms": round(row.duration_ms, 1),
        "response_code": row.response_code,
        "error": row.error,
        "response_body": row.response_body,
        "outcome": row.outcome,
    }


def serialize(row: Any, tries: list[dict[str, Any]]) -> dict[str, Any]:
    pending = row.status == "pending"
    # A FIFO hook's delivery waiting for an earlier one has no due time of its own yet.
    waiting = pending and row.next_attempt_at >= PARKED
    return {
        "id": row.id,
        "subscription_id": row.subscription_id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "status": row.status,
        "test": row.is_test,
        "attempt_count": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at) if pending and not waiting else None,
        "waiting_for_earlier": waiting,
        "last_response_code": row.last_response_code,
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "attempts": tries,
    }


def _with_attempts(conn: Any, rows: list[Any]) -> list[dict[str, Any]]:
    """Deliveries with their attempts: two queries for a whole page, not one per row."""
    by_delivery: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if rows:
        found = conn.execute(
            select(attempts)
            .where(attempts.c.delivery_id.in_([r.id for r in rows]))
            .order_by(attempts.c.delivery_id, attempts.c.attempt, attempts.c.id)
        ).all()
        for a in found:
            by_delivery[a.delivery_id].append(_attempt(a))
    return [serialize(r, by_delivery[r.id]) for r in rows]


class DeliveryLog:
    """Reading an account's deliveries and queueing one again."""

    def __init__(self, store: Store, clock: Clock, signal: QueueSignal) -> None:
        self.store = store
        self.clock = clock
        self.signal = signal

    def list_for_hook(
        self, account_id: str, hook_id: str, *, status: str | None, page: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """A hook's deliveries, newest first (the hook may be deleted: its log stays)."""
        return list_for_hook(self.store, account_id, hook_id, status=status, page=page, limit=limit)

    def get(self, account_id: str, delivery_id: str) -> dict[str, Any]:
        return get(self.store, account_id, delivery_id)

    def hourly(
        self, account_id: str, hook_id: str, now: float, hours: int = 24
    ) -> tuple[list[int], list[int]]:
        """A hook's delivered and failed (any other outcome) attempts per hour over the last
        `hours`, oldest hour first: one grouped query (`ix_attempts_hook_at`)."""
        return hourly(self.store, account_id, hook_id, now, hours)

    def redeliver(self, account_id: str, delivery_id: str) -> dict[str, Any]:
        """Queue one more attempt now, with the same `webhook-id` (a receiver can dedupe).

        409 when it cannot go out now: its hook is deleted, paused or failed (only active
        hooks send), it is a test send, or an attempt of it is in flight this moment.
        """
        queued = _redeliver(self.store, account_id, delivery_id, self.clock())
        self.signal.send()
        return queued


def list_for_hook(
    store: Store, account_id: str, hook_id: str, *, status: str | None, page: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    with store.read() as conn:
        owned(conn, account_id, hook_id, include_deleted=True)  # readable once deleted too
        where = and_(
            deliveries.c.subscription_id == hook_id,
            *([deliveries.c.status == status] if status else []),
        )
        total = conn.execute(select(func.count()).select_from(deliveries).where(where))
        rows = conn.execute(
            select(*_COLUMNS)
            .join(events, events.c.id == deliveries.c.event_id)
            .where(where)
            .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
            .limit(limit)
            .offset((page - 1) * limit)
        ).all()
        return _with_attempts(conn, rows), int(total.scalar_one())


def hourly(
    store: Store, account_id: str, hook_id: str, now: float, hours: int
) -> tuple[list[int], list[int]]:
    start = now - hours * 3600
    delivered = attempts.c.outcome == "delivered"

    def count(hour: int, ok: bool) -> Any:
        lower, upper = start + hour * 3600, start + (hour + 1) * 3600
        match = and_(attempts.c.at > lower, attempts.c.at <= upper, delivered if ok else ~delivered)
        return func.coalesce(func.sum(case((match, 1), else_=0)), 0)

    with store.read() as conn:
        owned(conn, account_id, hook_id, include_deleted=True)  # readable once deleted too
        row = conn.execute(
            select(*(count(hour, ok) for ok in (True, False) for hour in range(hours))).where(
                attempts.c.subscription_id == hook_id, attempts.c.at > start, attempts.c.at <= now
            )
        ).one()
    counts = [int(value) for value in row]
    return counts[:hours], counts[hours:]


def get(store: Store, account_id: str, delivery_id: str) -> dict[str, Any]:
    with store.read() as conn:
        row = _owned(conn, account_id, delivery_id)
        return _with_attempts(conn, [row])[0]


def _owned(conn: Any, account_id: str, delivery_id: str) -> Any:
    row = conn.execute(
        select(*_COLUMNS)
        .join(events, events.c.id == deliveries.c.event_id)
        .where(deliveries.c.id == delivery_id, deliveries.c.account_id == account_id)
    ).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    return row


def requeue(conn: Any, now: float, *where: Any) -> int:
    """Make the deliveries matching `where` due now for any worker (a retry by hand, a
    replay): the same rows, so the same `webhook-id`; how many were requeued."""
    return int(
        conn.execute(
            deliveries.update()
            .where(*where)
            .values(status="pending", next_attempt_at=now, lease_owner=None, updated_at=now)
        ).rowcount
    )


def _redeliver(store: Store, account_id: str, delivery_id: str, now: float) -> dict[str, Any]:
    with store.write() as conn:
        row = _owned(conn, account_id, delivery_id)
        hook = conn.execute(
            select(subscriptions.c.deleted_at, subscriptions.c.status).where(
                subscriptions.c.id == row.subscription_id
            )
        ).one()
        if hook.deleted_at is not None:
            raise HookDeleted("the subscription of this delivery was deleted")
        if row.is_test:
            raise RetryOfTestSend("test sends are not retried; send a new test")
        if hook.status != "active":
            raise HookNotActive(
                f"the subscription is {hook.status}; set its status to active to retry"
            )
        if row.status == "pending" and row.lease_owner is not None and row.next_attempt_at > now:
            raise DeliveryInFlight("an attempt of this delivery is in flight")
        requeue(conn, now, deliveries.c.id == delivery_id)
        fresh = _owned(conn, account_id, delivery_id)
        return _with_attempts(conn, [fresh])[0]
