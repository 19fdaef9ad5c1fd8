"""Replays of a time range: send a hook's deliveries again, and recover the events it missed.

`Replays.start` (`POST /v1/hooks/{id}/replay`) checks and counts what a replay covers and
stores it as `running`; it queues nothing itself. Workers queue it in batches (`advance`):
each batch is one short transaction that requeues up to `BATCH` deliveries, or creates up to
`BATCH` deliveries for missed events, and moves the replay's cursor. That transaction holds
the replay's row (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite has one writer), so two
workers never queue the same batch, a crash mid-batch queues nothing of it, and a cancel
waits for at most one batch. A replay walks two phases in time order: the hook's
`deliveries` whose event falls in the window, then (with `include_missed`) the `missed`
events.

Sending again works like a manual retry (`history.DeliveryLog.redeliver`): the same
delivery row, so the same `webhook-id` (receivers deduplicate), due now, one more attempt.
Pending deliveries are left alone: they are on their way already.

Missed events are the account's events of the hook's types, published in the window while
the hook existed, that it has no delivery for and that pass its filters: what it missed
while paused or failed. Never an event from before the hook was created: it was never
subscribed to those, and a new hook must not receive history nobody asked it to.

This module never sends, and never holds a transaction for more than one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from ..catalog import Catalog
from ..catalog.validation import check, validator_for
from ..clock import Clock
from ..errors import HookNotActive, NotFound, ReplayRunning, ReplayTooLarge, ValidationError
from ..events.publish import delivery_rows
from ..hooks.stored import owned
from ..store.database import Store
from ..store.ids import new_id
from ..store.signal import QueueSignal
from ..store.tables import NOTIFY_CHANNEL, deliveries, events, replays, subscriptions
from ..wire.envelope import envelope, iso
from ..wire.mapping import passes
from .history import requeue

MAX_WINDOW = 31 * 86400.0  # seconds between `since` and `until`
MAX_COUNT = 10_000  # deliveries and missed events one replay may cover (the default)
BATCH = 500  # queued per transaction
# Which deliveries a replay sends again, by the request's `status`.
SCOPES = {"failed": ("failed",), "all": ("delivered", "failed")}

REPLAY_SCHEMA = validator_for(
    {
        "type": "object",
        "properties": {
            "since": {
                "type": "string",
                "maxLength": 100,
                "description": "ISO-8601; events published at or after it",
            },
            "until": {
                "type": ["string", "null"],
                "maxLength": 100,
                "description": "ISO-8601; events published before it (default: now)",
            },
            "status": {
                "enum": list(SCOPES),
                "description": "failed: deliveries that failed for good; all: delivered too",
            },
            "event_types": {
                "type": ["array", "null"],
                "items": {"type": "string", "minLength": 1, "maxLength": 200},
                "minItems": 1,
                "maxItems": 100,
            },
            "include_missed": {
                "type": "boolean",
                "description": "also deliver events the hook never got (paused or failed)",
            },
        },
        "required": ["since", "status"],
    }
)


@dataclass(frozen=True)
class _Plan:
    """What one replay covers, as stored in its row."""

    account_id: str
    hook_id: str
    hook_created_at: float
    hook_events: tuple[str, ...]
    scope: str
    event_types: tuple[str, ...] | None
    include_missed: bool
    since: float
    until: float

    @classmethod
    def of(cls, replay: Any, hook: Any) -> _Plan:
        """The plan of a stored replay (a row, or the values about to be one)."""
        get = replay.get if isinstance(replay, dict) else lambda name: getattr(replay, name)
        types = get("event_types")
        return cls(
            get("account_id"),
            hook.id,
            hook.created_at,
            tuple(hook.events),
            get("scope"),
            tuple(types) if types is not None else None,
            get("include_missed"),
            get("since"),
            get("until"),
        )

    @property
    def missed_types(self) -> list[str]:
        """The hook's types (those asked for, if any): a missed event must be one of them."""
        return [t for t in self.hook_events if self.event_types is None or t in self.event_types]

    def delivery_rows(self) -> Any:
        """The hook's deliveries to send again, in event time order (`e.created_at`, `d.id`)."""
        query = (
            select(deliveries.c.id, events.c.created_at)
            .join(events, events.c.id == deliveries.c.event_id)
            .where(
                deliveries.c.subscription_id == self.hook_id,
                deliveries.c.is_test.is_(False),
                deliveries.c.status.in_(SCOPES[self.scope]),
                # A delivery is made with or after its event: this bounds the index scan.
                deliveries.c.created_at >= self.since,
                events.c.created_at >= self.since,
                events.c.created_at < self.until,
            )
        )
        if self.event_types is not None:
            query = query.where(events.c.type.in_(self.event_types))
        return query

    def missed_rows(self) -> Any:
        """Events of the hook's types, in the window and its lifetime, it has no delivery for."""
        has_delivery = (
            select(deliveries.c.id)
            .where(
                deliveries.c.event_id == events.c.id,
                deliveries.c.subscription_id == self.hook_id,
            )
            .exists()
        )
        return select(events.c.id, events.c.type, events.c.created_at, events.c.data).where(
            events.c.account_id == self.account_id,
            events.c.type.in_(self.missed_types),
            events.c.is_test.is_(False),
            events.c.created_at >= max(self.since, self.hook_created_at),
            events.c.created_at < self.until,
            ~has_delivery,
        )

    def count(self, conn: Connection) -> int:
        found = conn.execute(select(func.count()).select_from(self.delivery_rows().subquery()))
        total = int(found.scalar_one())
        if self.include_missed and self.missed_types:
            missed = conn.execute(select(func.count()).select_from(self.missed_rows().subquery()))
            total += int(missed.scalar_one())
        return total


def serialize(row: Any) -> dict[str, Any]:
    """The public view of a replay."""
    return {
        "id": row.id,
        "hook_id": row.subscription_id,
        "status": row.status,
        "scope": row.scope,
        "event_types": row.event_types,
        "include_missed": row.include_missed,
        "since": iso(row.since),
        "until": iso(row.until),
        "total": row.total,
        "queued": row.queued,
        "missed": row.missed,
        "skipped": row.skipped,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "finished_at": iso(row.finished_at),
    }


class Replays:
    """Starting, reading and cancelling an account's replays."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        clock: Clock,
        signal: QueueSignal,
        *,
        max_count: int = MAX_COUNT,
    ) -> None:
        """`max_count`: the most deliveries and missed events one replay may cover
        (HOOKKIT_REPLAY_MAX_COUNT)."""
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.signal = signal
        self.max_count = max_count

    def start(self, account_id: str, hook_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store a replay of `hook_id` (404 if not this account's live hook).

        409 `hook_not_active` unless the hook is active (a paused hook would only hold what
        is queued), 409 `replay_running` while another replay of it runs; 422 for a window
        that is empty, longer than `MAX_WINDOW`, or covers more than `max_count`.
        """
        check(REPLAY_SCHEMA, body)
        now = self.clock()
        since = _moment(body["since"], "$.since")
        # The replay covers what had happened when it was asked: later events got their
        # deliveries anyway, and the window stays one set however long the replay takes.
        until = min(_moment(body["until"], "$.until"), now) if body.get("until") else now
        if since >= until:
            raise ValidationError.at("$.since", "since must be before until, and in the past")
        if until - since > MAX_WINDOW:
            days = int(MAX_WINDOW // 86400)
            raise ValidationError.at("$.until", f"a replay covers at most {days} days")
        types = body.get("event_types")
        for index, name in enumerate(types or ()):
            if name not in self.catalog:
                raise ValidationError.at(f"$.event_types[{index}]", f"unknown event type {name!r}")
        try:
            row = self._insert(account_id, hook_id, body, since, until, types, now)
        except IntegrityError:
            # Another replay of this hook started between our look and our insert; the
            # unique index on running replays stopped ours.
            with self.store.read() as conn:
                running = _running(conn, hook_id)
            if running is None:
                raise
            raise ReplayRunning(running) from None
        if row.status == "running":
            self.signal.send()
        return serialize(row)

    def _insert(
        self,
        account_id: str,
        hook_id: str,
        body: dict[str, Any],
        since: float,
        until: float,
        types: list[str] | None,
        now: float,
    ) -> Any:
        values = {
            "id": new_id("rpl"),
            "account_id": account_id,
            "subscription_id": hook_id,
            "scope": body["status"],
            "event_types": list(dict.fromkeys(types)) if types else None,
            "include_missed": bool(body.get("include_missed", False)),
            "since": since,
            "until": until,
            "queued": 0,
            "missed": 0,
            "skipped": 0,
            "phase": "deliveries",
            "created_at": now,
            "updated_at": now,
        }
        # Counted in a read transaction: on SQLite a count over a long window must not hold
        # the one write lock. The write below checks the hook again.
        with self.store.read() as conn:
            total = _Plan.of(values, _replayable(conn, account_id, hook_id, now)).count(conn)
        if total > self.max_count:
            raise ReplayTooLarge.at(
                "$.since",
                f"this replay would cover {total} deliveries and events, more than "
                f"{self.max_count}; choose a shorter window, fewer event types, or "
                "status failed",
                extra={"total": total, "max": self.max_count},
            )
        done = total == 0
        values.update(
            total=total, status="done" if done else "running", finished_at=now if done else None
        )
        with self.store.write() as conn:
            _replayable(conn, account_id, hook_id, now)
            conn.execute(replays.insert().values(values))
            if not done and not self.store.is_sqlite:
                # Workers of other processes hear of it now rather than at their next poll.
                conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, "")))
            return conn.execute(select(replays).where(replays.c.id == values["id"])).one()

    def get(self, account_id: str, replay_id: str) -> dict[str, Any]:
        """One replay with its progress; another account's id is NotFound."""
        with self.store.read() as conn:
            return serialize(_owned(conn, account_id, replay_id))

    def list_for_hook(self, account_id: str, hook_id: str, *, limit: int) -> list[dict[str, Any]]:
        """A hook's replays, newest first (404 if not this account's hook)."""
        with self.store.read() as conn:
            owned(conn, account_id, hook_id, include_deleted=True)
            rows = conn.execute(
                select(replays)
                .where(replays.c.subscription_id == hook_id)
                .order_by(replays.c.created_at.desc(), replays.c.id.desc())
                .limit(limit)
            ).all()
        return [serialize(row) for row in rows]

    def cancel(self, account_id: str, replay_id: str) -> dict[str, Any]:
        """Stop queueing: what is queued already goes out; a finished replay stays as it is.

        On PostgreSQL this waits for a batch being queued right now (it holds the row).
        """
        now = self.clock()
        with self.store.write() as conn:
            row = _owned(conn, account_id, replay_id)
            if row.status == "running":
                conn.execute(
                    replays.update()
                    .where(replays.c.id == replay_id, replays.c.status == "running")
                    .values(status="cancelled", updated_at=now, finished_at=now)
                )
                row = _owned(conn, account_id, replay_id)
        return serialize(row)


def _replayable(conn: Connection, account_id: str, hook_id: str, now: float) -> Any:
    """The hook, if it may start a replay now: this account's, live, active, not expired,
    without a running replay."""
    hook = owned(conn, account_id, hook_id)
    if hook.status != "active" or (hook.expires_at is not None and hook.expires_at <= now):
        state = hook.status if hook.status != "active" else "expired"
        raise HookNotActive(f"the subscription is {state}; only an active subscription can replay")
    running = _running(conn, hook_id)
    if running is not None:
        raise ReplayRunning(running)
    return hook


def _running(conn: Connection, hook_id: str) -> str | None:
    return conn.execute(  # type: ignore[no-any-return]
        select(replays.c.id).where(
            replays.c.subscription_id == hook_id, replays.c.status == "running"
        )
    ).scalar()


def _owned(conn: Connection, account_id: str, replay_id: str) -> Any:
    row = conn.execute(
        select(replays).where(replays.c.id == replay_id, replays.c.account_id == account_id)
    ).first()
    if row is None:
        raise NotFound(f"no replay {replay_id!r}")
    return row


def _moment(text: str, path: str) -> float:
    """UNIX seconds of an ISO-8601 date-time; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().upper())
    except ValueError:
        raise ValidationError.at(
            path, "not an ISO-8601 date-time, like 2026-01-29T10:30:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        raise ValidationError.at(path, "out of range") from None


# -- the workers' side --------------------------------------------------------------------

_RUNNING = select(replays.c.id).where(replays.c.status == "running").limit(1)


def advance(store: Store, now: float, batch: int = BATCH) -> bool:
    """Queue one batch of one running replay; False when no replay was there to advance.

    Called by every worker when its queue is idle, and once per poll interval while it is
    busy: a cheap read when nothing runs.
    """
    with store.read() as conn:
        if conn.execute(_RUNNING).first() is None:
            return False
    with store.write() as conn:
        query = (
            select(replays)
            .where(replays.c.status == "running")
            .order_by(replays.c.updated_at, replays.c.id)
            .limit(1)
        )
        if not store.is_sqlite:
            # A replay another worker is queueing right now is skipped, not waited for.
            query = query.with_for_update(skip_locked=True, of=replays)
        replay = conn.execute(query).first()
        if replay is None:
            return False
        hook = conn.execute(
            select(subscriptions).where(subscriptions.c.id == replay.subscription_id)
        ).one()
        if hook.deleted_at is not None:
            _update(conn, replay.id, now, status="cancelled", finished_at=now)
            return True
        plan = _Plan.of(replay, hook)
        if replay.phase == "deliveries":
            _deliveries_batch(conn, replay, plan, now, batch)
        else:
            _missed_batch(conn, replay, plan, hook, now, batch)
    return True


def _after(at_column: Any, id_column: Any, replay: Any) -> ColumnElement[bool]:
    """Rows after the replay's cursor in (time, id) order."""
    if replay.cursor_at is None:
        return true()
    return or_(
        at_column > replay.cursor_at,
        and_(at_column == replay.cursor_at, id_column > replay.cursor_id),
    )


def _deliveries_batch(conn: Connection, replay: Any, plan: _Plan, now: float, batch: int) -> None:
    rows = conn.execute(
        plan.delivery_rows()
        .where(_after(events.c.created_at, deliveries.c.id, replay))
        .order_by(events.c.created_at, deliveries.c.id)
        .limit(batch)
    ).all()
    queued = 0
    if rows:
        # The status is checked again: a delivery retried by hand since the read is pending.
        queued = requeue(
            conn,
            now,
            deliveries.c.id.in_([row.id for row in rows]),
            deliveries.c.status.in_(SCOPES[plan.scope]),
        )
    values: dict[str, Any] = {
        "queued": replay.queued + queued,
        "skipped": replay.skipped + len(rows) - queued,
    }
    if len(rows) == batch:
        values.update(cursor_at=rows[-1].created_at, cursor_id=rows[-1].id)
    elif plan.include_missed and plan.missed_types:
        values.update(phase="missed", cursor_at=None, cursor_id=None)
    else:
        values.update(status="done", finished_at=now)
    _update(conn, replay.id, now, **values)


def _missed_batch(
    conn: Connection, replay: Any, plan: _Plan, hook: Any, now: float, batch: int
) -> None:
    rows = conn.execute(
        plan.missed_rows()
        .where(_after(events.c.created_at, events.c.id, replay))
        .order_by(events.c.created_at, events.c.id)
        .limit(batch)
    ).all()
    wanted = [
        row
        for row in rows
        if passes(
            envelope(row.id, row.type, row.created_at, row.data),
            expression=hook.filter,
            filters=hook.filters,
        )
    ]
    if wanted:
        conn.execute(
            deliveries.insert(),
            [
                delivery
                for row in wanted
                for delivery in delivery_rows(plan.account_id, row.id, [plan.hook_id], now)
            ],
        )
    values: dict[str, Any] = {
        "queued": replay.queued + len(wanted),
        "missed": replay.missed + len(wanted),
        "skipped": replay.skipped + len(rows) - len(wanted),
    }
    if len(rows) == batch:
        values.update(cursor_at=rows[-1].created_at, cursor_id=rows[-1].id)
    else:
        values.update(status="done", finished_at=now)
    _update(conn, replay.id, now, **values)


def _update(conn: Connection, replay_id: str, now: float, **values: Any) -> None:
    conn.execute(replays.update().where(replays.c.id == replay_id).values(updated_at=now, **values))
