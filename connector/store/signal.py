"""`QueueSignal`: "the delivery queue just changed" inside one process.

Whatever makes deliveries due (publishing, resuming a hook, a manual retry) calls `send()`
after its transaction commits, and the embedded worker, which `listen`s, looks for work at
once instead of at its next poll. Other processes hear of it through PostgreSQL
`LISTEN/NOTIFY` (triggers in the schema), or by polling on SQLite.

A listener must be quick and must not raise; this module never touches the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class QueueSignal:
    """Listeners called, in the sender's thread, each time the queue changes."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def listen(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def forget(self, listener: Callable[[], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def send(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
