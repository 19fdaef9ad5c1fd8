"""Reading recent events back: what polling triggers (Make, IFTTT, Zapier's fallback) list."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.engine import Connection

from ..store.database import Store
from ..store.tables import events
from ..wire.envelope import envelope


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
