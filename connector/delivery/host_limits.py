"""How many requests a worker sends to one `host:port` at once: adaptive, per host.

A fixed limit is wrong both ways: 8 at once caps a 50 ms receiver at 160 deliveries/s
(every Zapier hook of every user shares `hooks.zapier.com`), while a struggling receiver
gets 8 at once however often it times out. So each host's limit follows its answers, the
way TCP's congestion window follows the network (additive increase, multiplicative
decrease), with a latency guard borrowed from delay-based congestion control:

- it starts at `START` (or the cap, if lower);
- an answer that is a success (not a timeout, connection error, 5xx or 429) and no slower
  than `GROW_LATENCY` times the fastest answer seen grows it: by one per answer until the
  host's first sign of trouble (TCP's slow start: the limit doubles every round trip, so a
  quick receiver gets its share within a few hundred milliseconds, not seconds), then by
  1/limit (one per limit's worth of such answers: additive increase);
- a timeout, a connection error, a 5xx or a 429 halves it (at most once per `COOL_DOWN`
  seconds, so one burst of failures of requests already in flight counts once), down to 1;
- a `Retry-After` answer also holds growth until that time;
- `HOOKKIT_MAX_PER_HOST` is the hard cap.

A slow answer that is a success neither grows nor shrinks the limit: the receiver is
queueing our requests, and more of them would only queue longer.

This module only counts; it never sends, sleeps or touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

START = 4  # requests at once to a host not heard from yet
GROW_LATENCY = 2.0  # an answer slower than this times the host's fastest does not grow the limit
COOL_DOWN = 1.0  # seconds between two decreases of one host
FORGET_AFTER = 600.0  # a host unheard of this long starts afresh (and is dropped)
_MIN_FAST = 0.005  # latencies below 5 ms count as 5 ms: loopback jitter is not congestion


@dataclass
class _Host:
    limit: float
    fastest: float = float("inf")  # the fastest answer seen (seconds)
    decreased_at: float = float("-inf")
    hold_until: float = float("-inf")  # no growth before then (Retry-After)
    slow_start: bool = True  # until the first decrease: grow by one per good answer
    heard_at: float = 0.0


@dataclass
class HostLimits:
    """Per-host concurrency limits between 1 and `cap`, adapted to each host's answers."""

    cap: int
    start: int = START
    _hosts: dict[str, _Host] = field(default_factory=dict)

    def limit(self, host: str) -> int:
        """Requests that may be in flight to `host` now."""
        known = self._hosts.get(host)
        return max(1, min(self.cap, int(known.limit if known else self.start)))

    def answered(self, host: str, *, ok: bool, seconds: float, now: float) -> None:
        """Count one attempt's outcome: `ok` False for a timeout, a connection error, a 5xx
        or a 429; `seconds` is how long the answer took."""
        state = self._state(host, now)
        if not ok:
            self._decrease(state, now)
            return
        state.fastest = min(state.fastest, max(seconds, _MIN_FAST))
        if seconds > GROW_LATENCY * state.fastest:
            state.slow_start = False  # queueing at the receiver: from now on, carefully
        elif now >= state.hold_until:
            step = 1.0 if state.slow_start else 1.0 / state.limit
            state.limit = min(float(self.cap), state.limit + step)

    def slow_down(self, host: str, *, until: float, now: float) -> None:
        """The host asked us to wait (`Retry-After`): halve its limit, no growth until then."""
        state = self._state(host, now)
        self._decrease(state, now)
        state.hold_until = max(state.hold_until, until)

    def in_force(self) -> dict[str, int]:
        """Every known host's current limit (metrics)."""
        return {host: self.limit(host) for host in self._hosts}

    def _state(self, host: str, now: float) -> _Host:
        state = self._hosts.get(host)
        if state is None or now - state.heard_at > FORGET_AFTER:
            if len(self._hosts) > 10_000:  # forget hosts unheard of for long
                self._hosts = {
                    name: known
                    for name, known in self._hosts.items()
                    if now - known.heard_at <= FORGET_AFTER
                }
            state = self._hosts[host] = _Host(limit=float(min(self.start, self.cap)))
        state.heard_at = now
        return state

    @staticmethod
    def _decrease(state: _Host, now: float) -> None:
        state.slow_start = False
        if now - state.decreased_at >= COOL_DOWN:
            state.limit = max(1.0, state.limit / 2)
            state.decreased_at = now
