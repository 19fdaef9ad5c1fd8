"""`Hookkit`: the running service's parts wired together, shared by the API, CLI and `emit`.

It owns the store, the catalog, the subscription use cases and (when embedded) the
delivery worker, and offers the operations that cross them: publish-and-wake, test sends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from . import events as events_mod
from . import outbox
from .catalog import Catalog
from .config import Settings
from .delivery import RetryPolicy, Sender, attempt
from .events import Published, insert_event
from .history import get as get_delivery
from .notify import Notifier
from .outbox import Notice
from .store import Store, new_id
from .subscriptions import Subscriptions
from .worker import Worker

log = logging.getLogger("hookkit")


class Hookkit:
    def __init__(self, settings: Settings, *, start_worker: bool | None = None) -> None:
        self.settings = settings
        self.catalog = Catalog.load(settings.schemas_dir, settings.samples_dir)
        self.store = Store(settings.database_url)
        self.store.create_schema()
        self.subscriptions = Subscriptions(
            self.store, self.catalog, allow_private=settings.allow_private_targets
        )
        self.notifier = Notifier(settings, self.store)
        self.worker: Worker | None = None
        if settings.embedded_worker if start_worker is None else start_worker:
            self.worker = Worker(self)
            self.worker.start()

    def publish(
        self, account_id: str, event_type: object, data: object, idempotency_key: object = None
    ) -> Published:
        """Store an event with its deliveries, then wake the in-process worker."""
        published = events_mod.publish(
            self.store, self.catalog, account_id, event_type, data, idempotency_key=idempotency_key
        )
        if published.deliveries and self.worker is not None:
            self.worker.wake()
        return published

    def wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    def test_send(self, account_id: str, hook_id: str) -> dict[str, Any]:
        """Send the hook's first event type's catalog sample now; the delivery is logged.

        Answers with the delivery as the log shows it, plus `attempt`: the one attempt made
        (response code, duration, response body when the hook logs bodies, error).

        A test never retries or counts toward the failure streak; it is signed and mapped
        exactly like a real delivery.
        """
        hook = self.subscriptions.row(account_id, hook_id)
        event_type = hook.events[0]
        now = time.time()
        lease_owner = new_id("tst")
        with self.store.write() as conn:
            (delivery_id,) = insert_event(
                conn,
                account_id,
                new_id("evt"),
                event_type,
                self.catalog.get(event_type).sample,
                [hook_id],
                now,
                lease_owner=lease_owner,
                lease=self.settings.lease_seconds,
            )
        job = outbox.load_job(self.store, delivery_id, now)
        result = asyncio.run(self._send_once(job))
        notices = outbox.record(
            self.store, [result], failure_threshold=self.settings.failure_threshold, now=time.time()
        )
        self.notify(notices)
        delivery = get_delivery(self.store, account_id, delivery_id)
        return {**delivery, "attempt": delivery["attempts"][-1]}

    async def _send_once(self, job: outbox.Job) -> outbox.Result:
        async with Sender(self.settings) as sender:
            return await attempt(job, sender, RetryPolicy(()))

    def notify(self, notices: list[Notice]) -> None:
        try:
            self.notifier.send(notices)
        except Exception:
            log.exception("sending %d notifications failed", len(notices))

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.store.dispose()
