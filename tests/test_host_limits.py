"""Adaptive per-host concurrency (`delivery.host_limits`): a host's limit grows while it
answers quickly and well, halves on timeouts, connection errors, 5xx and 429, and never
passes HOOKKIT_MAX_PER_HOST — first as arithmetic, then through the API against real
receivers, seen as how many requests the receiver had in hand at once."""

from __future__ import annotations

from typing import Any

from connector.delivery.host_limits import COOL_DOWN, START, HostLimits
from connector.testing import Receiver, Reply

from .conftest import SESSION, _key, subscribe, wait_until

H = "hooks.example.com:443"


def test_a_new_host_starts_small_and_doubles_each_round_trip_until_trouble() -> None:
    """Slow start: one more per good answer, so a round trip's worth doubles the limit."""
    limits = HostLimits(cap=64)
    assert limits.limit(H) == START
    for _ in range(START):  # one round trip's worth of quick successes
        limits.answered(H, ok=True, seconds=0.05, now=0.0)
    assert limits.limit(H) == 2 * START
    for _ in range(100):
        limits.answered(H, ok=True, seconds=0.05, now=0.0)
    assert limits.limit(H) == 64  # the hard cap


def test_after_trouble_it_grows_about_one_per_limits_worth_of_answers() -> None:
    """Additive increase once the host has shown trouble (here: one failure)."""
    limits = HostLimits(cap=64, start=16)
    limits.answered(H, ok=True, seconds=0.05, now=0.0)
    limits.answered(H, ok=False, seconds=2.0, now=0.0)
    assert limits.limit(H) == 8
    for _ in range(9):  # about one limit's worth
        limits.answered(H, ok=True, seconds=0.05, now=0.0)
    assert limits.limit(H) == 9
    for _ in range(3000):
        limits.answered(H, ok=True, seconds=0.05, now=0.0)
    assert limits.limit(H) == 64


def test_slow_successes_hold_the_limit_and_failures_halve_it_once_per_cool_down() -> None:
    limits = HostLimits(cap=64, start=16)
    limits.answered(H, ok=True, seconds=0.05, now=0.0)
    grown = limits.limit(H)
    for _ in range(100):  # the receiver queues our requests: 3x its fastest answer
        limits.answered(H, ok=True, seconds=0.15, now=0.0)
    assert limits.limit(H) == grown
    for _ in range(10):  # one burst of failures of requests already in flight
        limits.answered(H, ok=False, seconds=2.0, now=1.0)
    assert limits.limit(H) == grown // 2
    limits.answered(H, ok=False, seconds=2.0, now=1.0 + COOL_DOWN)
    assert limits.limit(H) == grown // 4
    for step in range(10):
        limits.answered(H, ok=False, seconds=2.0, now=10.0 + step * COOL_DOWN)
    assert limits.limit(H) == 1


def test_retry_after_halves_and_holds_growth_until_then() -> None:
    limits = HostLimits(cap=64, start=8)
    limits.slow_down(H, until=100.0, now=0.0)
    assert limits.limit(H) == 4
    for _ in range(50):
        limits.answered(H, ok=True, seconds=0.01, now=50.0)
    assert limits.limit(H) == 4
    for _ in range(50):
        limits.answered(H, ok=True, seconds=0.01, now=100.0)
    assert limits.limit(H) > 4


def _most_at_once(arrivals: list[float], took: float) -> int:
    """The most requests a receiver answering after `took` seconds held at one moment."""
    arrivals = sorted(arrivals)
    most, first = 0, 0
    for last, at in enumerate(arrivals):
        while arrivals[first] <= at - took:
            first += 1
        most = max(most, last - first + 1)
    return most


def _batch(client: Any, auth: dict[str, str], count: int) -> None:
    events = [{"type": "session", "data": SESSION} for _ in range(count)]
    answer = client.post("/v1/events/batch", json={"events": events}, headers=auth)
    assert answer.status_code == 200 and answer.json["accepted"] == count


def test_a_quick_host_gets_more_requests_at_once_than_it_started_with(make_app) -> None:
    app = make_app(max_per_host=24, max_in_flight=64)
    client = app.test_client()
    auth = _key(app, "acme")
    with Receiver(lambda _request: Reply(delay=0.05)) as receiver:
        subscribe(client, auth, receiver.url)
        _batch(client, auth, 600)
        receiver.wait_for(600, timeout=60)
        arrivals = [request.at for request in receiver.requests]
    start = min(arrivals)
    assert _most_at_once([at for at in arrivals if at < start + 0.04], 0.05) <= START
    assert 2 * START < _most_at_once(arrivals, 0.05) <= 24


def test_a_failing_host_gets_fewer_requests_at_once(make_app) -> None:
    app = make_app(max_per_host=24, retry_schedule="100ms,100ms,100ms,100ms")
    client = app.test_client()
    auth = _key(app, "acme")
    with Receiver(lambda _request: Reply(status=503, delay=0.05)) as receiver:
        subscribe(client, auth, receiver.url)
        _batch(client, auth, 100)
        wait_until(lambda: len(receiver.requests) >= 150, timeout=60)
        arrivals = [request.at for request in receiver.requests]
    start = min(arrivals)
    assert _most_at_once(arrivals, 0.05) <= START
    late = [at for at in arrivals if at > start + 2 * COOL_DOWN + 0.2]
    assert late and _most_at_once(late, 0.05) <= 1
