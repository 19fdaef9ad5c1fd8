"""One stored event by id, as the account that published it sees it: what the `url` of a
thin body fetches (`GET /v1/events/{id}`).

Another account's event id is exactly like an unknown one. Test sends' events are found
too, so a receiver can follow the `url` of a thin test send. This module never writes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..errors import NotFound
from ..store.database import Store
from ..store.tables import events
from ..wire.envelope import envelope


def find(store: Store, account_id: str, event_id: str) -> dict[str, Any]:
    """The event's envelope `{"id", "type", "timestamp", "data"}`; NotFound otherwise."""
    with store.read() as conn:
        row = conn.execute(
            select(events.c.id, events.c.type, events.c.created_at, events.c.data).where(
                events.c.id == event_id, events.c.account_id == account_id
            )
        ).first()
    if row is None:
        raise NotFound(f"no event {event_id!r}")
    return envelope(row.id, row.type, row.created_at, row.data)
