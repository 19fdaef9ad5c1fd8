"""Per-API-key request rate limits, shared by every process and machine on the database.

The algorithm is GCRA (the generic cell rate algorithm of ATM networks, a token bucket
kept as one number): a key's state is its theoretical arrival time `tat`, stored in
`api_keys.rate_tat`. With a limit of N requests per window W, each request moves `tat`
by T = W / N, and is allowed while `tat - now` stays within W, so a key may burst N
requests and then goes on at N per W.

A database write per request would double the cost of a publish, so each process leases
tokens in chunks (at most a twentieth of N; one at a time for small limits) and spends
them from memory. Every leased token was paid for in the shared `tat`, so however many
processes lease, the key never gets more than its limit; a process holding unspent tokens
can only make the others refuse a little early. A SQLite database is shared by the
processes on one machine, PostgreSQL by all of them: no extra service is needed (a Redis
bucket or the `limits` package would add a server to run for one number per key).

This module never sees a key itself (only its id) and holds no lock across requests.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from ..clock import Clock
from ..store.database import Store
from ..store.tables import api_keys

# Leases are at most this fraction of the limit: the most one process can hold unspent.
_CHUNK_FRACTION = 20
_EPSILON = 1e-9

_STATE = select(api_keys.c.rate_tat).where(api_keys.c.id == bindparam("key_id"))
_MOVE = (
    api_keys.update().where(api_keys.c.id == bindparam("key_id")).values(rate_tat=bindparam("tat"))
)


@dataclass(frozen=True)
class Quota:
    """One request's verdict and what the RateLimit headers say."""

    allowed: bool
    limit: int
    window: float  # seconds
    remaining: int  # requests left in the window (what this process knows)
    reset: float  # seconds until the whole window is available again
    retry_after: float  # seconds until a request is allowed again (0 when allowed)


@dataclass
class _Lease:
    tokens: int  # paid for in the database, not spent yet
    tat: float  # the key's `tat` after this lease
    until: float  # spent by then, or dropped


class ApiLimiter:
    """Takes one request's token per call (`take`), from this process's lease or the
    database; `limit` 0 turns limiting off."""

    def __init__(self, store: Store, clock: Clock, rate: tuple[int, float]) -> None:
        self.store = store
        self.clock = clock
        self.limit, self.window = rate
        self.interval = self.window / self.limit if self.limit else 0.0
        self.chunk = max(1, self.limit // _CHUNK_FRACTION)
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def take(self, key_id: str) -> Quota:
        """Spend one token of `key_id`'s budget, or say when the next one is due."""
        now = self.clock()
        with self._lock:
            lease = self._leases.get(key_id)
            if lease is not None and lease.tokens > 0 and now < lease.until:
                lease.tokens -= 1
                return self._quota(True, lease.tat, now, lease.tokens)
        granted, tat = self._lease(key_id, now)
        if not granted:
            retry_after = max(tat, now) + self.interval - self.window - now
            return self._quota(False, tat, now, 0, retry_after=max(retry_after, _EPSILON))
        with self._lock:
            self._leases[key_id] = _Lease(granted - 1, tat, now + self.window)
        return self._quota(True, tat, now, granted - 1)

    def _lease(self, key_id: str, now: float) -> tuple[int, float]:
        """Take up to `chunk` tokens from the shared state: (tokens granted, `tat` after)."""
        with self.store.write() as conn:
            stored = conn.execute(_STATE.with_for_update(), {"key_id": key_id}).scalar()
            start = max(stored or now, now)
            free = math.floor((now + self.window - start) / self.interval + _EPSILON)
            granted = max(0, min(self.chunk, free))
            if granted:
                conn.execute(_MOVE, {"key_id": key_id, "tat": start + granted * self.interval})
        return granted, start + granted * self.interval

    def _quota(
        self, allowed: bool, tat: float, now: float, unspent: int, *, retry_after: float = 0.0
    ) -> Quota:
        free = math.floor((now + self.window - max(tat, now)) / self.interval + _EPSILON)
        return Quota(
            allowed=allowed,
            limit=self.limit,
            window=self.window,
            remaining=max(0, min(self.limit, free + unspent)),
            reset=max(0.0, tat - now),
            retry_after=retry_after,
        )
