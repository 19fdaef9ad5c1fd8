"""`Hookkit`: the running service's parts wired together, shared by the API, CLI and `emit`.

It builds the store, the catalog, the use cases of every layer and (when embedded) the
delivery worker, all on one `Settings` and one clock, and hands them out. It holds no
logic of its own: each operation lives in the layer it belongs to, and this module must
never grow one (a view calls `hookkit.subscriptions.update(...)`, not `hookkit.update`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .catalog import Catalog
from .clock import Clock, system_clock
from .config import Settings
from .delivery.history import DeliveryLog
from .delivery.jobs import Notice
from .delivery.notify import Notifier
from .delivery.replays import Replays
from .delivery.sample_send import SampleSender
from .delivery.worker import Worker
from .events.publish import Publisher
from .events.samples import check_envelope
from .hooks.accounts import KeyCache
from .hooks.api_limits import ApiLimiter
from .hooks.subscriptions import Subscriptions
from .store import migrate
from .store.database import Store
from .store.secrets import check_stored_keys
from .store.signal import QueueSignal
from .wire.schemes import Signature

log = logging.getLogger("hookkit")

EXTENSION = "hookkit"  # the key of the running service in `app.extensions`


class Hookkit:
    """One service: every part built on the same settings, store, catalog and clock."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        catalog: Catalog | None = None,
        start_worker: bool | None = None,
    ) -> None:
        """`catalog` may be passed in when it was loaded already (tests share one);
        `start_worker` overrides `settings.embedded_worker`."""
        self.settings = settings
        self.clock = clock
        self.catalog = catalog or Catalog.load(settings.schemas_dir, settings.samples_dir)
        check_envelope(self.catalog, settings.envelope, clock())
        self.store = Store(settings.database_url, encryption_keys=settings.encryption_keys)
        try:
            migrate.ensure_current(self.store, auto_migrate=settings.auto_migrate)
            with self.store.read() as conn:  # a missing key stops start-up, not a send
                check_stored_keys(conn, self.store.sealer)
            self._build(settings, clock, start_worker)
        except BaseException:
            self.store.dispose()
            raise

    def _build(self, settings: Settings, clock: Clock, start_worker: bool | None) -> None:
        """The use cases on the open store; a setting they refuse stops start-up."""
        self.signal = QueueSignal()
        self.publisher = Publisher(self.store, self.catalog, clock, self.signal)
        self.subscriptions = Subscriptions(
            self.store,
            self.catalog,
            clock,
            self.signal,
            allow_private=settings.allow_private_targets,
            grace=settings.secret_grace,
            signature=Signature(settings.signature_scheme, settings.signature_header or None),
            default_body=settings.envelope,
        )
        self.deliveries = DeliveryLog(self.store, clock, self.signal)
        self.replays = Replays(
            self.store, self.catalog, clock, self.signal, max_count=settings.replay_max_count
        )
        self.api_limits = ApiLimiter(self.store, clock, settings.api_rate_limit)
        self.keys = KeyCache(self.store, clock, settings.api_key_cache)
        self.notifier = Notifier(settings, self.store, clock=clock)
        self.test_sends = SampleSender(
            settings, self.store, self.catalog, self.subscriptions, clock=clock, notify=self.notify
        )
        self.worker: Worker | None = None
        if settings.embedded_worker if start_worker is None else start_worker:
            self.worker = self.new_worker()
            self.worker.start()

    @staticmethod
    def of(app: Any) -> Hookkit:
        """The service a Flask app (`create_app`) runs."""
        return app.extensions[EXTENSION]  # type: ignore[no-any-return]

    def new_worker(self) -> Worker:
        """A delivery worker on this service's store and clock, woken by its queue signal."""
        worker = Worker(self.settings, self.store, clock=self.clock, notify=self.notify)
        self.signal.listen(worker.wake)
        return worker

    def notify(self, notices: Sequence[Notice]) -> None:
        """E-mail accounts about their failures; never raises (a failure is logged)."""
        if not notices:
            return
        try:
            self.notifier.send(notices)
        except Exception:
            log.exception("sending %d notifications failed", len(notices))

    def ping(self) -> None:
        """One round trip to the database (health checks); raises when it is unreachable."""
        self.store.ping()

    def close(self) -> None:
        if self.worker is not None:
            self.signal.forget(self.worker.wake)
            # Sends in flight get HOOKKIT_SHUTDOWN_GRACE, then recording and releasing theirs.
            self.worker.stop(timeout=self.settings.shutdown_grace + 10)
        self.store.dispose()
