"""`emit` and `emit_many`: publish from inside the product's own Flask process, without HTTP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import Flask, current_app

from .api.batches import batch_answer
from .hooks.accounts import account_by_name
from .service import Hookkit


def emit(
    event_type: str,
    data: Any,
    *,
    account: str,
    id: str | None = None,
    app: Flask | None = None,
) -> dict[str, Any]:
    """Publish an event without HTTP, exactly as `POST /v1/events` would.

    `account` is the account's name (as given to `keys create`); `app` defaults to the
    current Flask app. Raises `ValidationError` (with every failing path) on bad data.
    """
    service = Hookkit.of(app or current_app)
    owner = account_by_name(service.store, account)
    return service.publisher.publish(owner.id, event_type, data, idempotency_key=id).as_dict()


def emit_many(
    events: Sequence[Mapping[str, Any]],
    *,
    account: str,
    app: Flask | None = None,
) -> dict[str, Any]:
    """Publish a batch without HTTP, exactly as `POST /v1/events/batch` would: each item
    `{"type", "data", "id"?}` checked alone, the valid ones stored in one transaction; the
    answer has one result (or problem) per item."""
    service = Hookkit.of(app or current_app)
    owner = account_by_name(service.store, account)
    return batch_answer(service.publisher.publish_many(owner.id, list(events)))
