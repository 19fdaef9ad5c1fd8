"""Failure notifications to the account's notification address.

Placeholder transport: notices are logged. The SMTP transport (HOOKKIT_SMTP_URL) replaces
`Notifier.send` when configured.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .config import Settings
from .outbox import Notice
from .store import Store

log = logging.getLogger("hookkit.notify")


class Notifier:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def send(self, notices: Sequence[Notice]) -> None:
        for notice in notices:
            log.warning(
                "%s: hook %s (%s) event %s: %s",
                notice.kind,
                notice.subscription_id,
                notice.target_url,
                notice.event_type,
                notice.error,
            )
