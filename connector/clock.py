"""The one clock: every part of hookkit that reads the time is handed a `Clock`.

`Hookkit(settings, clock=...)` passes one clock to publishing, subscriptions, the worker,
the delivery log, test sends, notifications and links, so tests move time forward instead
of sleeping through it. `system_clock` is the only place in the package that reads the
machine's wall clock; durations of HTTP exchanges use `time.perf_counter` where they are
measured, because they must not jump when a test moves the clock.

This module imports nothing but the standard library.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
"""A function answering UNIX seconds (a float), like `time.time`."""


def system_clock() -> float:
    """The machine's wall clock, in UNIX seconds."""
    return time.time()


class ManualClock:
    """A clock that only moves when told to: `clock.advance(30)` is thirty seconds later.

    Thread-safe, since the delivery worker reads it from its own thread.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = system_clock() if start is None else float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` (never backward); the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += seconds
            return self._now
