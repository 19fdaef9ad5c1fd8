"""Test sends ("Send Test" in every seed's webhooks screen): the hook's first event type's
catalog sample, sent now, signed and mapped exactly like a real delivery, and logged.

A test never retries or counts toward the failure streak. Its delivery is inserted already
leased by the request that sends it, so no worker can claim it in between; should that
request die mid-send, a worker picks it up when the lease ends and makes its one attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from ..catalog import Catalog
from ..clock import Clock
from ..config import Settings
from ..events.publish import insert_event
from ..hooks.subscriptions import Subscriptions
from ..store.database import Store
from ..store.ids import new_id
from . import outbox, recording
from .attempts import RetryPolicy, attempt
from .history import get as get_delivery
from .jobs import Job, Notice, Result
from .sender import Sender


class SampleSender:
    """Sends one hook its sample now and answers with the logged delivery."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        catalog: Catalog,
        subscriptions: Subscriptions,
        *,
        clock: Clock,
        notify: Callable[[Sequence[Notice]], None],
    ) -> None:
        self.settings = settings
        self.store = store
        self.catalog = catalog
        self.subscriptions = subscriptions
        self.clock = clock
        self.notify = notify

    def send(self, account_id: str, hook_id: str) -> dict[str, Any]:
        """The delivery as the log shows it, plus `attempt`: the one attempt made (response
        code, duration, response body when the hook logs bodies, error)."""
        hook = self.subscriptions.row(account_id, hook_id)
        event_type = hook.events[0]
        now = self.clock()
        with self.store.write() as conn:
            (delivery_id,) = insert_event(
                conn,
                account_id,
                new_id("evt"),
                event_type,
                self.catalog.get(event_type).sample,
                [hook_id],
                now,
                lease_owner=new_id("tst"),
                lease=self.settings.lease_seconds,
            )
        job = outbox.load_job(self.store, delivery_id, now, self.settings.envelope or None)
        result = asyncio.run(self._send_once(job))
        notices = recording.record(
            self.store,
            [result],
            failure_threshold=self.settings.failure_threshold,
            now=self.clock(),
        )
        self.notify(notices)
        delivery = get_delivery(self.store, account_id, delivery_id)
        return {**delivery, "attempt": delivery["attempts"][-1]}

    async def _send_once(self, job: Job) -> Result:
        async with Sender(self.settings) as sender:
            return await attempt(job, sender, RetryPolicy(()), self.clock)
