"""The delivery queue's database side: claim due deliveries with a lease, record results.

A claim stamps `lease_owner` and pushes `next_attempt_at` to the end of the lease, so one
column says both "when due" and "claimed until": a worker killed mid-send simply lets its
lease run out and any worker claims the delivery again (at-least-once, same `webhook-id`).
Results are written back by `recording`, in batches.

PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so workers on many machines never block
or double-claim; SQLite's single writer (`BEGIN IMMEDIATE`) gives the same guarantee.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, bindparam, func, select

from ..hooks.stored import opened, request_spec, signing_secrets
from ..store.database import Store
from ..store.secrets import Sealer
from ..store.tables import NOTIFY_CHANNEL, deliveries, events, subscriptions
from ..wire.envelope import envelope
from ..wire.outgoing import RequestSpec
from .jobs import Job

# Every statement of the claim and record paths is built once: SQLAlchemy then finds its
# compiled form by a cache key computed once per statement object, instead of building the
# expression and its cache key again for every batch (most of a small batch's cost).
_DELIVERY_COLUMNS = (
    deliveries.c.id,
    deliveries.c.account_id,
    deliveries.c.subscription_id,
    deliveries.c.attempts,
    deliveries.c.is_test,
    deliveries.c.event_id,
)
_HOOK_COLUMNS = (
    subscriptions.c.id,
    subscriptions.c.target_url,
    subscriptions.c.target_host,
    subscriptions.c.method,
    subscriptions.c.content_type,
    subscriptions.c.headers,
    subscriptions.c.auth,
    subscriptions.c.mapping,
    subscriptions.c.custom_values,
    subscriptions.c.secret,
    subscriptions.c.previous_secret,
    subscriptions.c.previous_secret_expires_at,
    subscriptions.c.rate_limit,
    subscriptions.c.log_response_body,
    subscriptions.c.description,
    subscriptions.c.signature,
    subscriptions.c.retry_schedule,
    subscriptions.c.success,
)
_EVENT_COLUMNS = (events.c.id, events.c.type, events.c.created_at, events.c.data)


def listed(name: str) -> BindParameter[Any]:
    """A list-valued parameter (`IN`), expanded at execution into one value per item."""
    return bindparam(name, expanding=True)


# Claiming stamps the lease and reads the claimed rows back in one statement.
_LEASE = (
    deliveries.update()
    .where(deliveries.c.id.in_(listed("ids")))
    .values(lease_owner=bindparam("owner"), next_attempt_at=bindparam("until"))
    .returning(*_DELIVERY_COLUMNS)
)
_ONE_DELIVERY = select(*_DELIVERY_COLUMNS).where(deliveries.c.id == bindparam("id"))
_EVENTS_BY_ID = select(*_EVENT_COLUMNS).where(events.c.id.in_(listed("ids")))
_HOOKS_BY_ID = select(*_HOOK_COLUMNS).where(subscriptions.c.id.in_(listed("ids")))


@dataclass(frozen=True)
class _Hook:
    """What every job of one hook shares, prepared once per claimed batch."""

    host: str
    spec: RequestSpec
    secrets: list[str]
    rate_limit: float | None
    log_response_body: bool
    description: str
    retry_schedule: tuple[float, ...] | None
    success: str


def _hook(stored: Any, now: float, default_body: str | None, sealer: Sealer) -> _Hook:
    row = opened(stored, sealer)
    return _Hook(
        host=row.target_host,
        spec=request_spec(row, default_body),
        secrets=signing_secrets(row, now),
        rate_limit=row.rate_limit,
        log_response_body=row.log_response_body,
        description=row.description,
        retry_schedule=None if row.retry_schedule is None else tuple(row.retry_schedule),
        success=row.success or "2xx",
    )


def _jobs(
    conn: Any, rows: Sequence[Any], now: float, default_body: str | None, sealer: Sealer
) -> list[Job]:
    """Jobs for leased delivery rows, reading and preparing each event and hook once.

    A batch usually holds many deliveries of few hooks, and a fanned-out event many
    deliveries of one event: their JSON is decoded, and their envelope and request spec
    built, once for all of them.
    """
    event_rows = conn.execute(_EVENTS_BY_ID, {"ids": list({row.event_id for row in rows})})
    envelopes = {e.id: envelope(e.id, e.type, e.created_at, e.data) for e in event_rows}
    hook_rows = conn.execute(_HOOKS_BY_ID, {"ids": list({row.subscription_id for row in rows})})
    hooks = {h.id: _hook(h, now, default_body, sealer) for h in hook_rows}
    return [_job(row, hooks[row.subscription_id], envelopes[row.event_id]) for row in rows]


def _job(row: Any, hook: _Hook, env: dict[str, Any]) -> Job:
    return Job(
        id=row.id,
        account_id=row.account_id,
        subscription_id=row.subscription_id,
        attempt=row.attempts + 1,
        is_test=row.is_test,
        host=hook.host,
        spec=hook.spec,
        secrets=hook.secrets,
        envelope=env,
        event_type=env["type"],
        rate_limit=hook.rate_limit,
        log_response_body=hook.log_response_body,
        hook_description=hook.description,
        retry_schedule=hook.retry_schedule,
        success=hook.success,
    )


# Test sends are inserted already leased by the request that sends them, so a worker only
# ever picks one up if that request died mid-send (it then gets its one attempt).
_QUEUED = (deliveries.c.status == "pending", subscriptions.c.status == "active")


@dataclass(frozen=True)
class Quota:
    """How much one claim may take: in all, per target host, per rate-limited hook.

    The counts include what the worker already holds. Capping each host keeps a dead host's
    backlog from filling the worker while other hosts wait; capping a rate-limited hook at a
    few seconds of its rate keeps it from using up its host's share while it is throttled.
    """

    total: int
    per_host: int
    held_hosts: Mapping[str, int] = field(default_factory=dict)
    held_hooks: Mapping[str, int] = field(default_factory=dict)
    rate_limits: Mapping[str, float] = field(default_factory=dict)  # of held hooks
    rate_ahead: float = 2.0  # seconds of a hook's rate limit worth claiming at once

    def hook_cap(self, rate_limit: float | None) -> int | None:
        if not rate_limit:
            return None
        return max(1, math.ceil(rate_limit * self.rate_ahead))


# Each claim round reads a few candidates per delivery it may still take, so a round whose
# oldest rows belong to full hosts still finds work; later rounds skip the hosts and hooks
# the earlier ones filled, and so reach past a dead host's backlog.
_SCAN_FACTOR = 4
_ROUNDS = 4


def claim(
    store: Store,
    owner: str,
    now: float,
    lease: float,
    quota: Quota,
    default_body: str | None = None,
) -> list[Job]:
    """Claim due deliveries of active hooks, oldest first, within `quota`; `default_body` is the
    deployment's default body (HOOKKIT_ENVELOPE) for hooks without a mapping."""
    if quota.total <= 0:
        return []
    hosts = Counter(quota.held_hosts)
    hooks = Counter(quota.held_hooks)
    caps = {hook: quota.hook_cap(rate) for hook, rate in quota.rate_limits.items()}
    chosen: list[str] = []
    with store.write() as conn:
        for _ in range(_ROUNDS):
            scan = (quota.total - len(chosen)) * _SCAN_FACTOR
            full_hosts = [h for h, n in hosts.items() if n >= quota.per_host]
            full_hooks = [h for h, cap in caps.items() if cap is not None and hooks[h] >= cap]
            query = _candidates(
                for_update=not store.is_sqlite,
                skip_hosts=bool(full_hosts),
                skip_hooks=bool(full_hooks),
                skip_taken=bool(chosen),
            )
            candidates = conn.execute(
                query,
                {
                    "now": now,
                    "limit": scan,
                    "skip_hosts": full_hosts,
                    "skip_hooks": full_hooks,
                    "taken": chosen,
                },
            ).all()
            for row in candidates:
                cap = caps.setdefault(row.subscription_id, quota.hook_cap(row.rate_limit))
                if hosts[row.target_host] >= quota.per_host or (
                    cap is not None and hooks[row.subscription_id] >= cap
                ):
                    continue
                chosen.append(row.id)
                hosts[row.target_host] += 1
                hooks[row.subscription_id] += 1
                if len(chosen) >= quota.total:
                    break
            if len(candidates) < scan or len(chosen) >= quota.total:
                break
        if not chosen:
            return []
        leased = conn.execute(_LEASE, {"ids": chosen, "owner": owner, "until": now + lease})
        jobs = _jobs(conn, leased.all(), now, default_body, store.sealer)
    order = {delivery_id: i for i, delivery_id in enumerate(chosen)}
    return sorted(jobs, key=lambda job: order[job.id])


@functools.cache
def _candidates(*, for_update: bool, skip_hosts: bool, skip_hooks: bool, skip_taken: bool) -> Any:
    """The candidate scan of a claim round, built once for each combination of filters.

    Parameters: `now`, `limit`, and the lists `skip_hosts`, `skip_hooks` and `taken`.
    """
    query = (
        select(
            deliveries.c.id,
            deliveries.c.subscription_id,
            subscriptions.c.target_host,
            subscriptions.c.rate_limit,
        )
        .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
        .where(*_QUEUED, deliveries.c.next_attempt_at <= bindparam("now"))
        .order_by(deliveries.c.next_attempt_at)
        .limit(bindparam("limit"))
    )
    if skip_hosts:
        query = query.where(subscriptions.c.target_host.not_in(listed("skip_hosts")))
    if skip_hooks:
        query = query.where(deliveries.c.subscription_id.not_in(listed("skip_hooks")))
    if skip_taken:
        query = query.where(deliveries.c.id.not_in(listed("taken")))
    if for_update:
        # Rows another worker is claiming right now are skipped, not waited for; a row it
        # claimed since our snapshot fails the re-checked WHERE (its lease is in the future).
        query = query.with_for_update(skip_locked=True, of=deliveries)
    return query


def load_job(store: Store, delivery_id: str, now: float, default_body: str | None = None) -> Job:
    """The job for a delivery the caller leased itself (test sends)."""
    with store.read() as conn:
        row = conn.execute(_ONE_DELIVERY, {"id": delivery_id}).one()
        (job,) = _jobs(conn, [row], now, default_body, store.sealer)
    return job


def renew(store: Store, owner: str, ids: Iterable[str], until: float) -> None:
    """Extend the leases of deliveries this worker still holds (queued behind a busy host)."""
    _update_held(store, owner, ids, next_attempt_at=until)


def release(store: Store, owner: str, ids: Iterable[str], now: float) -> None:
    """Give back unsent claims on a clean shutdown, so they go out at once elsewhere."""
    _update_held(store, owner, ids, wake_others=True, next_attempt_at=now, lease_owner=None)


def _update_held(
    store: Store, owner: str, ids: Iterable[str], *, wake_others: bool = False, **values: Any
) -> None:
    """Change this worker's still-pending claims among `ids`."""
    held = list(ids)
    if not held:
        return
    with store.write() as conn:
        conn.execute(
            deliveries.update()
            .where(
                deliveries.c.id.in_(held),
                deliveries.c.lease_owner == owner,
                deliveries.c.status == "pending",
            )
            .values(**values)
        )
        if wake_others and not store.is_sqlite:
            conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, "")))


def next_due(store: Store) -> float | None:
    """When the earliest pending delivery of an active hook is due (None: nothing queued)."""
    with store.read() as conn:
        return conn.execute(
            select(func.min(deliveries.c.next_attempt_at))
            .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
            .where(*_QUEUED)
        ).scalar()
