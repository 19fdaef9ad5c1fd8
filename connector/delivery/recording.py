"""Writing attempt results back: one transaction for a whole batch of attempts.

Each result updates its delivery (delivered, retried later, failed for good, gone), its
hook's counters and failure streak, and may disable the hook or delete it (410 Gone);
what the account must hear about comes back as `Notice`s. This module never sends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, case, select

from ..hooks.stored import remove
from ..store.database import Store
from ..store.tables import attempts, deliveries, subscriptions
from ..wire.envelope import iso
from . import observe
from .jobs import Notice, Result
from .outbox import listed, unpark_next

_ENDS_A_TURN = ("delivered", "failed")  # "gone" deletes the hook and cancels its queue
_RECORD_ATTEMPTS = attempts.insert()
_RECORD_DELIVERIES = (
    deliveries.update()
    .where(deliveries.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next"),
        lease_owner=None,
        last_response_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
        updated_at=bindparam("b_now"),
    )
)
_CANCEL_ORPHANS = (
    deliveries.update()
    .where(
        deliveries.c.id.in_(listed("ids")),
        select(subscriptions.c.id)
        .where(
            subscriptions.c.id == deliveries.c.subscription_id,
            subscriptions.c.deleted_at.is_not(None),
        )
        .exists(),
    )
    .values(status="cancelled", updated_at=bindparam("b_now"))
)
_RECORD_HOOKS = (
    subscriptions.update()
    .where(subscriptions.c.id == bindparam("b_id"))
    .values(
        delivery_count=subscriptions.c.delivery_count + bindparam("b_sent"),
        failure_count=subscriptions.c.failure_count + bindparam("b_failed"),
        last_delivery_at=bindparam("b_at"),
        last_delivery=bindparam("b_last"),
        failure_streak=case(
            (bindparam("b_reset"), bindparam("b_add")),
            else_=subscriptions.c.failure_streak + bindparam("b_add"),
        ),
    )
)


def record(
    store: Store, results: Sequence[Result], *, failure_threshold: int, now: float
) -> list[Notice]:
    """Write a batch of attempt results in one transaction; returns what to notify about."""
    notices: list[Notice] = []
    with store.write() as conn:
        conn.execute(
            _RECORD_ATTEMPTS,
            [
                {
                    "delivery_id": r.job.id,
                    "subscription_id": r.job.subscription_id,
                    "attempt": r.job.attempt,
                    "at": r.at,
                    "duration_ms": r.duration_ms,
                    "response_code": r.response_code,
                    "error": r.error,
                    "response_body": r.response_body,
                    "outcome": r.outcome,
                }
                for r in results
            ],
        )
        conn.execute(
            _RECORD_DELIVERIES,
            [
                {
                    "b_id": r.job.id,
                    "b_status": "pending" if r.outcome == "retrying" else _final(r.outcome),
                    "b_attempts": r.job.attempt,
                    "b_next": r.next_attempt_at if r.next_attempt_at is not None else r.at,
                    "b_code": r.response_code,
                    "b_error": r.error,
                    "b_now": now,
                }
                for r in results
            ],
        )
        _cancel_orphans(conn, [r.job.id for r in results if r.outcome == "retrying"], now)
        # A FIFO hook's next delivery waits (parked) until this one is final. Only hooks that
        # were FIFO when claimed are looked at (no query for the others); one switched to FIFO
        # since is released by `outbox.heal`.
        unpark_next(
            conn,
            [r.job.subscription_id for r in results if r.job.fifo and r.outcome in _ENDS_A_TURN],
            now,
        )
        # Every row lock in the order deliveries, then hooks (by id): the order unsubscribing
        # takes too, so two transactions never wait on each other (PostgreSQL deadlocks).
        gone = {r.job.subscription_id for r in results if r.outcome == "gone"}
        for hook_id in sorted(gone):
            remove(conn, hook_id, now)
        _update_hooks(conn, results)
        notices.extend(
            _notice("delivery_failed", r)
            for r in results
            if r.outcome == "failed" and not r.job.is_test
        )
        notices.extend(_disable_failing(conn, results, failure_threshold, gone))
    observe.recorded(results)
    return notices


def _final(outcome: str) -> str:
    return "delivered" if outcome == "delivered" else "failed"


def _cancel_orphans(conn: Any, retrying: list[str], now: float) -> None:
    """A hook deleted while an attempt was in flight gets no retry: cancel it again.

    Deleting a hook cancels its pending deliveries, but the in-flight attempt's result was
    just written back as `pending`, which would sit in the log as waiting forever.
    """
    if retrying:
        conn.execute(_CANCEL_ORPHANS, {"ids": retrying, "b_now": now})


def _update_hooks(conn: Any, results: Sequence[Result]) -> None:
    """Counters, last delivery and the failure streak, one UPDATE per hook in the batch."""
    by_hook: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_hook[r.job.subscription_id].append(r)
    params = []
    for hook_id, items in sorted(by_hook.items()):
        items.sort(key=lambda r: r.at)
        last = items[-1]
        streak_reset, streak_add = False, 0
        for r in items:
            if r.job.is_test:
                continue
            if r.outcome == "delivered":
                streak_reset, streak_add = True, 0
            elif r.outcome == "failed":
                streak_add += 1
        params.append(
            {
                "b_id": hook_id,
                "b_sent": len(items),
                "b_failed": sum(r.outcome != "delivered" for r in items),
                "b_at": last.at,
                "b_last": {
                    "status": "retrying" if last.outcome == "retrying" else _final(last.outcome),
                    "response_code": last.response_code,
                    "error": last.error,
                    "at": iso(last.at),
                    "attempt": last.job.attempt,
                    "next_retry_at": iso(last.next_attempt_at)
                    if last.outcome == "retrying"
                    else None,
                    "delivery_id": last.job.id,
                },
                "b_reset": streak_reset,
                "b_add": streak_add,
            }
        )
    conn.execute(_RECORD_HOOKS, params)


def _disable_failing(
    conn: Any, results: Sequence[Result], threshold: int, gone: set[str]
) -> list[Notice]:
    """Hooks whose streak of exhausted messages reached the threshold stop receiving.

    Test sends never count: they neither extend a streak nor disable a hook.
    """
    touched = {
        r.job.subscription_id for r in results if r.outcome == "failed" and not r.job.is_test
    } - gone
    if not touched or threshold <= 0:
        return []
    failing = conn.execute(
        select(subscriptions.c.id, subscriptions.c.failure_streak).where(
            subscriptions.c.id.in_(touched),
            subscriptions.c.status == "active",
            subscriptions.c.failure_streak >= threshold,
        )
    ).all()
    if not failing:
        return []
    conn.execute(
        subscriptions.update()
        .where(subscriptions.c.id.in_([row.id for row in failing]))
        .values(status="failed")
    )
    latest = {r.job.subscription_id: r for r in results}
    return [_notice("hook_disabled", latest[row.id], streak=row.failure_streak) for row in failing]


def _notice(kind: str, r: Result, **extra: Any) -> Notice:
    return Notice(
        kind=kind,
        account_id=r.job.account_id,
        subscription_id=r.job.subscription_id,
        description=r.job.hook_description,
        target_url=r.job.spec.url,
        event_type=r.job.event_type,
        delivery_id=r.job.id,
        response_code=r.response_code,
        error=r.error,
        extra=extra,
    )
