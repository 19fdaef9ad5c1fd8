"""Retention: finished deliveries (with their attempts) and events past their age are
deleted in small batches, so the queue tables stay small and claiming stays fast.

- delivered and cancelled deliveries: HOOKKIT_RETENTION after their last change (30 days);
- failed deliveries: HOOKKIT_RETENTION_FAILED (90 days), kept longer to be looked into
  and retried by hand;
- events: HOOKKIT_RETENTION after they were published, once no delivery refers to them.

A retention of 0 keeps those rows forever. Pending deliveries are never touched. Each
batch is one short transaction that re-checks the age and status of what it deletes, so
a delivery retried by hand while it is being pruned stays. The worker prunes every
HOOKKIT_PRUNE_INTERVAL; `python -m connector prune` does the same once. This module never
deletes a hook or an account.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select

from .. import metrics
from ..store.database import Store
from ..store.tables import attempts, deliveries, events

BATCH = 500


@dataclass(frozen=True)
class Pruned:
    deliveries: int = 0
    attempts: int = 0
    events: int = 0
    more: bool = False  # (`prune_batch`) a batch was full: there may be more to delete

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(
            self.deliveries + other.deliveries,
            self.attempts + other.attempts,
            self.events + other.events,
        )

    def __str__(self) -> str:
        return (
            f"pruned {self.deliveries} deliveries, {self.attempts} attempts, {self.events} events"
        )


def prune(
    store: Store, now: float, *, keep: float, keep_failed: float, batch: int = BATCH
) -> Pruned:
    """Delete everything past its retention at `now`, `batch` rows per transaction."""
    total = Pruned()
    while True:
        done = prune_batch(store, now, keep=keep, keep_failed=keep_failed, batch=batch)
        total += done
        if not done.more:
            return total


def prune_batch(
    store: Store, now: float, *, keep: float, keep_failed: float, batch: int = BATCH
) -> Pruned:
    """One step of `prune`: at most `batch` deliveries and `batch` events, each in its own
    transaction; `more` says whether another step may find more. The worker runs steps one
    at a time between its other database work."""
    done = Pruned()
    expired = _expired(now, keep, keep_failed)
    if expired is not None:
        done += _prune_deliveries(store, expired, batch)
    if keep > 0:
        done += _prune_events(store, now - keep, batch)
    metrics.pruned("deliveries", done.deliveries)
    metrics.pruned("attempts", done.attempts)
    metrics.pruned("events", done.events)
    full = done.deliveries >= batch or done.events >= batch
    return Pruned(done.deliveries, done.attempts, done.events, more=full)


def _expired(now: float, keep: float, keep_failed: float) -> object | None:
    rules = []
    if keep > 0:
        rules.append(
            and_(
                deliveries.c.status.in_(("delivered", "cancelled")),
                deliveries.c.updated_at < now - keep,
            )
        )
    if keep_failed > 0:
        rules.append(
            and_(deliveries.c.status == "failed", deliveries.c.updated_at < now - keep_failed)
        )
    return or_(*rules) if rules else None


def _prune_deliveries(store: Store, expired: object, batch: int) -> Pruned:
    with store.write() as conn:
        ids = (
            conn.execute(
                select(deliveries.c.id).where(expired).order_by(deliveries.c.id).limit(batch)
            )
            .scalars()
            .all()
        )
        if not ids:
            return Pruned()
        # Row locks in the order deliveries, then their attempts (as recording takes them).
        if not store.is_sqlite:
            ids = (
                conn.execute(
                    select(deliveries.c.id)
                    .where(deliveries.c.id.in_(ids), expired)
                    .order_by(deliveries.c.id)
                    .with_for_update(skip_locked=True)
                )
                .scalars()
                .all()
            )
        gone = conn.execute(delete(attempts).where(attempts.c.delivery_id.in_(ids))).rowcount
        removed = conn.execute(delete(deliveries).where(deliveries.c.id.in_(ids), expired)).rowcount
    return Pruned(deliveries=max(removed, 0), attempts=max(gone, 0))


def _prune_events(store: Store, before: float, batch: int) -> Pruned:
    unreferenced = ~select(deliveries.c.id).where(deliveries.c.event_id == events.c.id).exists()
    with store.write() as conn:
        ids = (
            conn.execute(
                select(events.c.id)
                .where(events.c.created_at < before, unreferenced)
                .order_by(events.c.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not ids:
            return Pruned()
        removed = conn.execute(delete(events).where(events.c.id.in_(ids), unreferenced)).rowcount
    return Pruned(events=max(removed, 0))
