"""The delivery queue's database side: claim due deliveries with a lease, record results.

A claim stamps `lease_owner` and pushes `next_attempt_at` to the end of the lease, so one
column says both "when due" and "claimed until": a worker killed mid-send simply lets its
lease run out and any worker claims the delivery again (at-least-once, same `webhook-id`).
Results are written back by `recording`, in batches.

PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so workers on many machines never block
or double-claim; SQLite's single writer (`BEGIN IMMEDIATE`) gives the same guarantee.

Claims are fair: capped per host, per rate-limited hook and per account (`Quota`), so one
account's backlog or throttled hooks cannot keep another account's events waiting. A FIFO
hook (`ordering: "fifo"`) has at most one claimable delivery: its oldest unfinished one
(`_IN_ORDER`, which alone keeps the order). The ones queued behind it are parked meanwhile
(due at `PARKED`, so claims never read past them) and the next one is unparked when the one
before it is final (`unpark_next`; `heal` catches any other way a delivery ends).
A claimed delivery whose rate-limit token is not due goes back to the queue with that due
time (`defer`) instead of waiting in a worker.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, bindparam, func, literal_column, or_, select

from ..hooks.stored import opened, request_spec, signing_secrets
from ..store.database import Store
from ..store.secrets import Sealer
from ..store.tables import NOTIFY_CHANNEL, PARKED, deliveries, events, subscriptions
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
    subscriptions.c.payload,
    subscriptions.c.ordering,
)
_EVENT_COLUMNS = (
    events.c.id,
    events.c.type,
    events.c.created_at,
    events.c.data,
    events.c.trace_context,
)


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
    fifo: bool


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
        fifo=row.ordering == "fifo",
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
    envelopes, traces = {}, {}
    for e in event_rows:
        envelopes[e.id] = envelope(e.id, e.type, e.created_at, e.data)
        traces[e.id] = e.trace_context
    hook_rows = conn.execute(_HOOKS_BY_ID, {"ids": list({row.subscription_id for row in rows})})
    hooks = {h.id: _hook(h, now, default_body, sealer) for h in hook_rows}
    return [
        _job(row, hooks[row.subscription_id], envelopes[row.event_id], traces[row.event_id])
        for row in rows
    ]


def _job(row: Any, hook: _Hook, env: dict[str, Any], trace_context: str | None = None) -> Job:
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
        fifo=hook.fifo,
        trace_context=trace_context,
    )


# Test sends are inserted already leased by the request that sends them, so a worker only
# ever picks one up if that request died mid-send (it then gets its one attempt).
_QUEUED = (deliveries.c.status == "pending", subscriptions.c.status == "active")


# Spelled out in the SQL, not a parameter: PostgreSQL uses a partial index (here
# `ix_deliveries_queued_order`, WHERE status = 'pending') only if it can see the condition
# holds, which a cached generic plan with a parameter does not show it.
_PENDING = literal_column("'pending'")

# A FIFO hook's delivery is claimable only while no earlier one of the hook is unfinished
# (pending, however far off its retry or lease). Test sends stand outside the order. Probed
# through `ix_deliveries_queued_order`; one lookup per candidate of a FIFO hook.
_earlier = deliveries.alias("earlier")
_BLOCKED = (
    select(_earlier.c.id)
    .where(
        _earlier.c.subscription_id == deliveries.c.subscription_id,
        _earlier.c.status == _PENDING,
        _earlier.c.created_at <= deliveries.c.created_at,
        or_(
            _earlier.c.created_at < deliveries.c.created_at,
            _earlier.c.id < deliveries.c.id,
        ),
        _earlier.c.is_test.is_(False),
    )
    .exists()
)
_IN_ORDER = or_(
    subscriptions.c.ordering.is_(None),
    subscriptions.c.ordering != "fifo",
    deliveries.c.is_test.is_(True),
    ~_BLOCKED,
)

# `PARKED`: where a FIFO hook's deliveries wait while an earlier one is unfinished, out of
# the due range, so a long backlog behind a failing receiver costs each claim nothing. The
# delivery log shows it as their next attempt (9999-12-31T23:59:59Z: after the one before).
# Claiming a FIFO hook's oldest delivery parks the ones queued behind it that are due.
_PARK = (
    deliveries.update()
    .where(
        deliveries.c.subscription_id.in_(listed("hooks")),
        deliveries.c.status == _PENDING,
        deliveries.c.is_test.is_(False),
        deliveries.c.next_attempt_at <= bindparam("now"),
        deliveries.c.id.not_in(listed("ids")),
    )
    .values(next_attempt_at=PARKED)
)
_FIFO_HOOKS = select(subscriptions.c.id).where(
    subscriptions.c.id.in_(listed("ids")), subscriptions.c.ordering == "fifo"
)
_OLDEST_QUEUED = (
    select(deliveries.c.id, deliveries.c.next_attempt_at)
    .where(
        deliveries.c.subscription_id == bindparam("hook"),
        deliveries.c.status == _PENDING,
        deliveries.c.is_test.is_(False),
    )
    .order_by(deliveries.c.created_at, deliveries.c.id)
    .limit(1)
)
_UNPARK = (
    deliveries.update()
    .where(
        deliveries.c.id == bindparam("b_id"),
        deliveries.c.status == _PENDING,
        deliveries.c.next_attempt_at >= PARKED,
    )
    .values(next_attempt_at=bindparam("b_now"))
)
# Parked deliveries that are claimable after all: their hook is no longer FIFO, or nothing
# before them is unfinished (it ended some way that did not unpark them).
_HEAL = (
    deliveries.update()
    .where(
        deliveries.c.status == _PENDING,
        deliveries.c.next_attempt_at >= PARKED,
        or_(
            ~select(subscriptions.c.id)
            .where(
                subscriptions.c.id == deliveries.c.subscription_id,
                subscriptions.c.ordering == "fifo",
            )
            .exists(),
            ~_BLOCKED,
        ),
    )
    .values(next_attempt_at=bindparam("now"))
)


# Due deliveries of FIFO hooks that wait for an earlier one, come due since `since`: parked
# by `park_blocked`.
_BLOCKED_WHERE = (
    deliveries.c.status == _PENDING,
    deliveries.c.is_test.is_(False),
    deliveries.c.next_attempt_at <= bindparam("now"),
    deliveries.c.next_attempt_at >= bindparam("since"),
    _BLOCKED,
)
_HOOKS_WITH_BLOCKED = (
    select(deliveries.c.subscription_id)
    .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
    .where(subscriptions.c.ordering == "fifo", *_BLOCKED_WHERE)
    .distinct()
)
_PARK_BLOCKED = (
    deliveries.update()
    .where(deliveries.c.subscription_id == bindparam("hook"), *_BLOCKED_WHERE)
    .values(next_attempt_at=PARKED)
)
# Parking and unparking one hook's queue take this lock (PostgreSQL; SQLite has one writer),
# so a delivery is never parked on the strength of an earlier one that just became final
# without seeing it unparked: whichever comes second reads what the first committed.
_FIFO_LOCK_CLASS = 0x686B  # the first key of pg_advisory_xact_lock(int, int): "hk"
_LOCK_HOOK = select(func.pg_advisory_xact_lock(_FIFO_LOCK_CLASS, func.hashtext(bindparam("hook"))))


def _lock_hook(conn: Any, hook: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_HOOK, {"hook": hook})


def unpark_next(conn: Any, hook_ids: Iterable[str], now: float) -> None:
    """After deliveries of these hooks became final: each FIFO hook's oldest queued delivery,
    if parked, is due now (in the caller's transaction)."""
    ids = sorted(set(hook_ids))
    if not ids:
        return
    for hook in sorted(conn.execute(_FIFO_HOOKS, {"ids": ids}).scalars()):
        _lock_hook(conn, hook)
        oldest = conn.execute(_OLDEST_QUEUED, {"hook": hook}).first()
        if oldest is not None and oldest.next_attempt_at >= PARKED:
            conn.execute(_UNPARK, {"b_id": oldest.id, "b_now": now})


def park_blocked(store: Store, now: float, since: float) -> int:
    """Park the deliveries of FIFO hooks that came due since `since` and wait for an earlier
    one (published while it was in flight or waiting for a retry), so claims stop reading
    past them: how many. Run often, it reads only what came due since it last ran; what it
    misses is parked when the hook's next delivery is claimed."""
    params = {"now": now, "since": since}
    with store.read() as conn:
        hooks = sorted(conn.execute(_HOOKS_WITH_BLOCKED, params).scalars())
    parked = 0
    for hook in hooks:
        with store.write() as conn:
            _lock_hook(conn, hook)
            parked += conn.execute(_PARK_BLOCKED, {"hook": hook, **params}).rowcount or 0
    return parked


def heal(store: Store, now: float) -> int:
    """Unpark what nothing else will, run now and then: how many. The case it is for: a
    hook switched to FIFO while one of its deliveries was in flight; that one was claimed
    as concurrent, so recording it does not release the next (`recording`)."""
    with store.write() as conn:
        return int(conn.execute(_HEAL, {"now": now}).rowcount or 0)


@dataclass(frozen=True)
class Quota:
    """How much one claim may take: in all, per target host, per account, per rate-limited
    hook.

    The counts include what the worker already holds. Capping each host keeps a dead host's
    backlog from filling the worker while other hosts wait. Capping each account (while
    another account has work due) keeps one account's backlog from starving the others.
    A rate-limited hook gets no more than the tokens its bucket holds (`hook_caps`, from the
    worker; a hook the worker has no bucket for yet: a full bucket, `hook_cap`), and at least
    one, which is sent or, if its token is not due, put back (`defer`) with the token's time.
    """

    total: int
    per_host: int  # for hosts without a cap of their own in `host_caps`
    per_account: int | None = None  # None: no account cap
    held_hosts: Mapping[str, int] = field(default_factory=dict)
    held_accounts: Mapping[str, int] = field(default_factory=dict)
    held_hooks: Mapping[str, int] = field(default_factory=dict)
    hook_caps: Mapping[str, int] = field(default_factory=dict)
    host_caps: Mapping[str, int] = field(default_factory=dict)  # from each host's limit
    # False: one round only, no reading past what is full (`ClaimNotes.nothing_past`).
    reach_past: bool = True

    @staticmethod
    def hook_cap(rate_limit: float | None) -> int | None:
        """What a full bucket of `rate_limit` allows at once: a second's worth, at least 1."""
        if not rate_limit:
            return None
        return max(1, math.floor(rate_limit))


@dataclass
class ClaimNotes:
    """What a claim learnt beyond its jobs, so the worker can skip rounds that read past a
    backlog for a moment: `alone`, that nothing of any account other than those at their
    fair share was due; `nothing_past`, that the rounds past full hosts, accounts and hooks
    found nothing (each such round reads the whole due backlog of what it skips)."""

    alone: bool = False
    nothing_past: bool = False


# Each claim round reads a few candidates per delivery it may still take, so a round whose
# oldest rows belong to full hosts or accounts still finds work; later rounds skip the hosts,
# accounts and hooks the earlier ones filled, and so reach past a dead host's backlog or a
# busy account's. Once nothing else is due, a last round lets full accounts fill the rest.
_SCAN_FACTOR = 4
_ROUNDS = 4
# A round gives up after this many candidates in a row that it could not take (their host,
# account or hook is full): the next round skips those in SQL instead.
_MAX_MISSES = 16


def claim(
    store: Store,
    owner: str,
    now: float,
    lease: float,
    quota: Quota,
    default_body: str | None = None,
    notes: ClaimNotes | None = None,
) -> list[Job]:
    """Claim due deliveries of active hooks, oldest first, within `quota`; `default_body` is the
    deployment's default body (HOOKKIT_ENVELOPE) for hooks without a mapping; `notes`, if
    given, learns whether other accounts were waiting."""
    if quota.total <= 0:
        return []
    hosts = Counter(quota.held_hosts)
    accounts = Counter(quota.held_accounts)
    hooks = Counter(quota.held_hooks)
    caps: dict[str, int | None] = dict(quota.hook_caps)
    per_account = quota.per_account
    chosen: list[str] = []
    fifo: list[str] = []  # FIFO hooks whose oldest delivery is chosen
    with store.write() as conn:
        rounds = 0
        while rounds < _ROUNDS + 1:
            rounds += 1
            scan = (quota.total - len(chosen)) * _SCAN_FACTOR
            full_hosts = [
                h for h, n in hosts.items() if n >= quota.host_caps.get(h, quota.per_host)
            ]
            full_accounts = (
                [a for a, n in accounts.items() if n >= per_account]
                if per_account is not None
                else []
            )
            full_hooks = [h for h, cap in caps.items() if cap is not None and hooks[h] >= cap]
            query = _candidates(
                for_update=not store.is_sqlite,
                skip_hosts=bool(full_hosts),
                skip_accounts=bool(full_accounts),
                skip_hooks=bool(full_hooks),
                skip_taken=bool(chosen),
            )
            candidates = conn.execute(
                query,
                {
                    "now": now,
                    "limit": scan,
                    "skip_hosts": full_hosts,
                    "skip_accounts": full_accounts,
                    "skip_hooks": full_hooks,
                    "taken": chosen,
                },
            )
            read = misses = 0
            for row in candidates:  # fetched as read (SQLite): a round given up reads no more
                read += 1
                if row.subscription_id not in caps:
                    caps[row.subscription_id] = quota.hook_cap(row.rate_limit)
                cap = caps[row.subscription_id]
                if (
                    hosts[row.target_host] >= quota.host_caps.get(row.target_host, quota.per_host)
                    or (per_account is not None and accounts[row.account_id] >= per_account)
                    or (cap is not None and hooks[row.subscription_id] >= cap)
                ):
                    misses += 1
                    if misses >= _MAX_MISSES:
                        break  # the next round skips what is full instead of reading past it
                    continue
                misses = 0
                chosen.append(row.id)
                if row.ordering == "fifo" and not row.is_test:
                    fifo.append(row.subscription_id)
                hosts[row.target_host] += 1
                accounts[row.account_id] += 1
                hooks[row.subscription_id] += 1
                if len(chosen) >= quota.total:
                    break
            candidates.close()
            if len(chosen) >= quota.total:
                break
            if rounds == 1 and not quota.reach_past:
                break
            if rounds > 1 and not read and notes is not None:
                notes.nothing_past = True
            if read < scan and misses < _MAX_MISSES:
                # Nothing more is due outside what is full. Fair shares only matter while
                # another account waits: with none left, the busy accounts fill the rest.
                if per_account is None or max(accounts.values(), default=0) < per_account:
                    break
                per_account = None
                if notes is not None:
                    notes.alone = True
        if not chosen:
            return []
        leased = conn.execute(_LEASE, {"ids": chosen, "owner": owner, "until": now + lease})
        jobs = _jobs(conn, leased.all(), now, default_body, store.sealer)
        if fifo:  # what queues behind a FIFO hook's delivery just claimed waits parked
            for hook in sorted(set(fifo)):
                _lock_hook(conn, hook)
            conn.execute(_PARK, {"hooks": sorted(set(fifo)), "now": now, "ids": chosen})
    order = {delivery_id: i for i, delivery_id in enumerate(chosen)}
    return sorted(jobs, key=lambda job: order[job.id])


@functools.cache
def _candidates(
    *,
    for_update: bool,
    skip_hosts: bool,
    skip_accounts: bool,
    skip_hooks: bool,
    skip_taken: bool,
) -> Any:
    """The candidate scan of a claim round, built once for each combination of filters.

    Parameters: `now`, `limit`, and the lists `skip_hosts`, `skip_accounts`, `skip_hooks`
    and `taken`.
    """
    query = (
        select(
            deliveries.c.id,
            deliveries.c.account_id,
            deliveries.c.subscription_id,
            deliveries.c.is_test,
            subscriptions.c.target_host,
            subscriptions.c.rate_limit,
            subscriptions.c.ordering,
        )
        .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
        .where(*_QUEUED, deliveries.c.next_attempt_at <= bindparam("now"), _IN_ORDER)
        .order_by(deliveries.c.next_attempt_at)
        .limit(bindparam("limit"))
    )
    if skip_hosts:
        query = query.where(subscriptions.c.target_host.not_in(listed("skip_hosts")))
    if skip_accounts:
        query = query.where(deliveries.c.account_id.not_in(listed("skip_accounts")))
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


_DEFER = (
    deliveries.update()
    .where(
        deliveries.c.id == bindparam("b_id"),
        deliveries.c.lease_owner == bindparam("b_owner"),
        deliveries.c.status == "pending",
    )
    .values(next_attempt_at=bindparam("b_due"), lease_owner=None)
)


def defer(store: Store, owner: str, due: Mapping[str, float]) -> None:
    """Put claimed deliveries back, each due when its rate-limit token is (`due`: id ->
    time); no attempt is counted, and no worker holds them meanwhile."""
    if not due:
        return
    with store.write() as conn:
        conn.execute(
            _DEFER,
            [
                {"b_id": delivery_id, "b_owner": owner, "b_due": at}
                for delivery_id, at in sorted(due.items())
            ],
        )


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
