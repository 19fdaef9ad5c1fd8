"""Stored hooks: reading one an account owns, writing checked fields, deleting, and the
views derived from a row (its public form, its request spec, its signing secrets).

Every query here takes the caller's connection, so the use cases in `subscriptions` decide
the transactions. The public form never carries a secret, password or sensitive header.

Secrets are stored sealed (`store.secrets`): `sealed` is the one way a hook's values are
written and `opened` the one way they are read back; `serialize`, `request_spec` and
`signing_secrets` take opened rows.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Row

from ..errors import DuplicateSubscription, NotFound
from ..store.secrets import Sealer, open_hook, seal_hook
from ..store.tables import PARKED, deliveries, replays, subscription_events, subscriptions
from ..wire.body import BodySpec
from ..wire.envelope import iso
from ..wire.outgoing import RequestSpec
from ..wire.schemes import Signature, public_key
from .fields import MASK, ORDERINGS, PAYLOADS, SENSITIVE_HEADER, SUCCESS_RULES, schedule_text


def _sensitive(name: str) -> bool:
    return SENSITIVE_HEADER.search(name) is not None


def sealed(values: dict[str, Any], sealer: Sealer) -> dict[str, Any]:
    """Column values to write, with secrets, the basic-auth password and sensitive header
    values sealed (any of them may be absent; values sealed already stay)."""
    return seal_hook(values, sealer, _sensitive)


def opened(row: Any, sealer: Sealer) -> Any:
    """A stored hook (a full or partial row) with its sealed values opened: the one place
    they are read back. Raises `SecretsError` when no configured key opens them."""
    values = row._asdict()
    return SimpleNamespace(**open_hook(values, sealer, _sensitive))


def live_twin(
    conn: Connection,
    account_id: str,
    event_key: str,
    target_url: str,
    *,
    other_than: str | None = None,
) -> Row[Any] | None:
    """The account's live hook for these events and URL (other than `other_than`), if any."""
    query = select(subscriptions).where(
        subscriptions.c.account_id == account_id,
        subscriptions.c.event_key == event_key,
        subscriptions.c.target_url == target_url,
        subscriptions.c.deleted_at.is_(None),
    )
    if other_than is not None:
        query = query.where(subscriptions.c.id != other_than)
    return conn.execute(query).first()


def apply(conn: Connection, current: Row[Any], fields: dict[str, Any], now: float) -> Row[Any]:
    """Write checked `fields` to the hook `current` (read in this transaction); the new row."""
    if "event_key" in fields or "target_url" in fields:
        twin = live_twin(
            conn,
            current.account_id,
            fields.get("event_key", current.event_key),
            fields.get("target_url", current.target_url),
            other_than=current.id,
        )
        if twin is not None:
            raise DuplicateSubscription(twin.id)
    values = {**fields, "updated_at": now}
    if values.get("status") == "active" and current.status != "active":
        values["failure_streak"] = 0  # a user resuming a paused or failed hook starts afresh
    if "ordering" in values and values["ordering"] != "fifo" and current.ordering == "fifo":
        # No longer FIFO: what waited for its turn is due now. Deliveries before the hook's
        # row, the order recording results locks them in (see `remove`).
        conn.execute(
            deliveries.update()
            .where(
                deliveries.c.subscription_id == current.id,
                deliveries.c.status == "pending",
                deliveries.c.next_attempt_at >= PARKED,
            )
            .values(next_attempt_at=now)
        )
    conn.execute(subscriptions.update().where(subscriptions.c.id == current.id).values(values))
    if "events" in values:
        conn.execute(
            subscription_events.delete().where(subscription_events.c.subscription_id == current.id)
        )
        index_events(conn, current.id, current.account_id, values["events"])
    return conn.execute(select(subscriptions).where(subscriptions.c.id == current.id)).one()


def index_events(conn: Connection, hook_id: str, account_id: str, names: list[str]) -> None:
    conn.execute(
        subscription_events.insert(),
        [{"subscription_id": hook_id, "event_type": n, "account_id": account_id} for n in names],
    )


def owned(
    conn: Connection, account_id: str, hook_id: str, *, include_deleted: bool = False
) -> Row[Any]:
    """The hook if this account owns it; another account's id is exactly like an unknown one."""
    row = conn.execute(
        select(subscriptions).where(
            subscriptions.c.id == hook_id, subscriptions.c.account_id == account_id
        )
    ).first()
    if row is None or (row.deleted_at is not None and not include_deleted):
        raise NotFound(f"no subscription {hook_id!r}")
    return row


def remove(conn: Connection, hook_id: str, now: float) -> None:
    """Soft-delete a hook (its log stays readable) and cancel what it still had queued.

    Deliveries are locked before the hook's row, the order recording results takes too
    (`delivery.recording`): the other order deadlocks on PostgreSQL against a worker
    recording an attempt of this hook at the same moment. A running replay is cancelled
    first, in the order a worker queueing a replay batch locks (the replay, then its
    deliveries): the batch in progress commits before this cancels what it queued.
    """
    conn.execute(
        replays.update()
        .where(replays.c.subscription_id == hook_id, replays.c.status == "running")
        .values(status="cancelled", updated_at=now, finished_at=now)
    )
    conn.execute(
        deliveries.update()
        .where(deliveries.c.subscription_id == hook_id, deliveries.c.status == "pending")
        .values(status="cancelled", lease_owner=None, updated_at=now)
    )
    conn.execute(
        subscription_events.delete().where(subscription_events.c.subscription_id == hook_id)
    )
    conn.execute(
        subscriptions.update()
        .where(subscriptions.c.id == hook_id)
        .values(deleted_at=now, updated_at=now, status="deleted")
    )


def body_spec(row: Any, default_body: str | None = None) -> BodySpec:
    """How a stored hook shapes its bodies: its mapping and custom values, over the
    deployment's `default_body` (HOOKKIT_ENVELOPE) when it has no mapping; a thin hook's
    bodies link into the events URL stored with its `payload`."""
    payload = getattr(row, "payload", None) or {}
    return BodySpec(row.mapping, row.custom_values, default_body or None, payload.get("events_url"))


def request_spec(row: Any, default_body: str | None = None) -> RequestSpec:
    """How a stored hook (`opened`) sends: `delivery.outbox` builds every send from it
    (deliveries, retries, redeliveries, test sends)."""
    return RequestSpec(
        url=row.target_url,
        method=row.method,
        content_type=row.content_type,
        headers=row.headers,
        auth=row.auth,
        body=body_spec(row, default_body),
        signature=Signature.stored(row.signature),
    )


def signing_secrets(row: Any, now: float) -> list[str]:
    """The current secret, plus the previous one while its grace period lasts (`opened`)."""
    keys = [row.secret]
    expires = row.previous_secret_expires_at
    if row.previous_secret and expires is not None and expires > now:
        keys.append(row.previous_secret)
    return keys


def serialize(row: Any) -> dict[str, Any]:
    """The public view of a hook (`opened`): never its secret, basic-auth password or
    sensitive headers; an ed25519 hook shows the public key receivers verify with."""
    auth = row.auth
    if auth:
        auth = {"type": auth.get("type"), "username": auth.get("username")}
    headers = {
        name: (MASK if SENSITIVE_HEADER.search(name) else value)
        for name, value in (row.headers or {}).items()
    }
    signature = Signature.stored(row.signature)
    return {
        "id": row.id,
        "event": row.events[0],
        "events": list(row.events),
        "target_url": row.target_url,
        "status": row.status,
        "platform": row.platform,
        "description": row.description,
        "method": row.method,
        "content_type": row.content_type,
        "headers": headers,
        "auth": auth,
        "custom_values": row.custom_values,
        "mapping": row.mapping,
        "filter": row.filter,
        "filters": row.filters,
        "log_response_body": row.log_response_body,
        "rate_limit": row.rate_limit,
        "expiration_date": iso(row.expires_at),
        "signature": signature.as_dict(),
        "public_key": public_key(row.secret) if signature.uses_key_pair else None,
        "retry_schedule": schedule_text(row.retry_schedule),
        "success": row.success or SUCCESS_RULES[0],
        "ordering": row.ordering or ORDERINGS[0],
        "payload": (row.payload or {}).get("shape", PAYLOADS[0]),
        "delivery_count": row.delivery_count,
        "failure_count": row.failure_count,
        "last_delivery_at": iso(row.last_delivery_at),
        "last_delivery": row.last_delivery,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
