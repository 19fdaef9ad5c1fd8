"""The queue as the database holds it, read at scrape time for `/metrics`: what is due, what
is scheduled, what is claimed, how long the oldest due delivery has waited, hooks by status.

Read from the database rather than counted by a process, so every API process answers the
same and work done by any worker is included. One read transaction, two short queries
over the `deliveries` due index and `subscriptions`. This module never writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from ..metrics import Reading
from ..store.database import Store
from ..store.tables import deliveries, subscriptions

HOOK_STATUSES = ("active", "paused", "failed")


@dataclass(frozen=True)
class Backlog:
    """Pending deliveries by state, and hooks (not deleted) by status."""

    due: int  # of active hooks, due now and not held by a live lease
    scheduled: int  # of active hooks, due later (retries waiting for their time)
    claimed: int  # held by a worker's live lease (being sent)
    held: int  # pending, but their hook is paused or failed
    expired_leases: int  # claimed by a worker whose lease ran out (it stopped or stalled)
    oldest_due_age: float  # seconds the longest-waiting due delivery has been due
    hooks: dict[str, int]

    def readings(self) -> list[Reading]:
        """The gauges `metrics.render` shows (docs/operations.md)."""
        backlog_help = (
            "Pending deliveries by state: due (now), scheduled (later), claimed (being "
            "sent), held (hook paused or failed)"
        )
        states = {
            "due": self.due,
            "scheduled": self.scheduled,
            "claimed": self.claimed,
            "held": self.held,
        }
        found = [
            Reading("hookkit_backlog", backlog_help, count, {"state": state})
            for state, count in states.items()
        ]
        found.append(
            Reading(
                "hookkit_oldest_due_age_seconds",
                "How long the longest-waiting due delivery has been due (0: none)",
                self.oldest_due_age,
            )
        )
        found.append(
            Reading(
                "hookkit_leases_expired",
                "Claimed deliveries whose lease ran out before a result was recorded "
                "(their worker stopped or stalled); they are sent again",
                self.expired_leases,
            )
        )
        found.extend(
            Reading("hookkit_hooks", "Hooks (not deleted) by status", count, {"status": status})
            for status, count in self.hooks.items()
        )
        return found


def backlog(store: Store, now: float) -> Backlog:
    """The queue at `now` (see `Backlog`)."""
    leased = deliveries.c.lease_owner.is_not(None)
    live_lease = and_(leased, deliveries.c.next_attempt_at > now)
    expired = and_(leased, deliveries.c.next_attempt_at <= now)
    active = subscriptions.c.status == "active"
    due = and_(active, deliveries.c.next_attempt_at <= now, or_(~leased, expired))
    queue = (
        select(
            func.count().filter(due),
            func.count().filter(and_(active, ~leased, deliveries.c.next_attempt_at > now)),
            func.count().filter(live_lease),
            func.count().filter(and_(~active, ~leased)),
            func.count().filter(expired),
            func.min(deliveries.c.next_attempt_at).filter(due),
        )
        .select_from(deliveries)
        .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
        .where(deliveries.c.status == "pending")
    )
    by_status = (
        select(subscriptions.c.status, func.count())
        .where(subscriptions.c.deleted_at.is_(None))
        .group_by(subscriptions.c.status)
    )
    with store.read() as conn:
        row = conn.execute(queue).one()
        hooks = {status: 0 for status in HOOK_STATUSES}
        hooks.update({status: count for status, count in conn.execute(by_status).all()})
    oldest = row[5]
    return Backlog(
        due=row[0] or 0,
        scheduled=row[1] or 0,
        claimed=row[2] or 0,
        held=row[3] or 0,
        expired_leases=row[4] or 0,
        oldest_due_age=max(0.0, now - oldest) if oldest is not None else 0.0,
        hooks=hooks,
    )
