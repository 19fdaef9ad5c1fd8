"""Isolation: a slow, dead or throttled endpoint never delays deliveries to the others.

Every receiver here lives on 127.0.0.1; per-host limits count `host:port`, so each receiver
is its own host. Assertions compare the order of events (what arrived before what), never
how fast something was, so a slow machine cannot fail them.
"""

from __future__ import annotations

import time
from datetime import datetime

from connector.testing import Receiver, Reply

from .conftest import _key, publish, subscribe, wait_until

HANG = Reply(delay=30)  # far beyond any read timeout used here


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _attempts(client, auth, hook_id):
    log = client.get(f"/v1/hooks/{hook_id}/deliveries?limit=100", headers=auth).json
    return [a for d in log["deliveries"] for a in d["attempts"]]


def _most_within(times: list[float], window: float) -> int:
    """The largest number of `times` inside any interval `window` long."""
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times)))


def test_a_dead_host_does_not_delay_healthy_hosts(make_app):
    """Healthy hosts get every delivery before a dead host's first timeout, and the dead
    host never has more than `max_per_host` requests open, even when its backlog is queued
    ahead of theirs and is larger than the worker holds at once."""
    read_timeout, per_host = 1.0, 2
    settings = {"read_timeout": f"{read_timeout}s", "max_per_host": per_host, "max_in_flight": 4}
    api = make_app(embedded_worker=False, **settings)  # queue everything first
    client, auth = api.test_client(), _key(api, "acme")
    with Receiver(lambda _request: HANG) as dead, Receiver() as healthy:
        dead_hooks = [subscribe(client, auth, f"{dead.url}/{n}")["id"] for n in range(3)]
        for _ in range(3):  # 9 deliveries queued ahead: more than the worker holds (8)
            publish(client, auth)
        for n in range(2):
            subscribe(client, auth, f"{healthy.url}/{n}")
        for _ in range(4):
            publish(client, auth)
        make_app(**settings)  # a worker starts and finds the backlog

        received = healthy.wait_for(8)

        def first_timeout_end() -> float | None:
            ends = [
                _seconds(a["at"]) + a["duration_ms"] / 1000
                for hook in dead_hooks
                for a in _attempts(client, auth, hook)
            ]
            return min(ends) if ends else None

        timed_out_at = wait_until(first_timeout_end)
        assert max(r.at for r in received) < timed_out_at
        # Each request to the dead host stays open for the whole read timeout, so more than
        # `per_host` arrivals within half of it would mean more than `per_host` at once.
        wait_until(lambda: len(dead.requests) >= 2 * per_host)
        assert _most_within([r.at for r in dead.requests], read_timeout / 2) <= per_host


def test_a_hanging_attempt_is_logged_as_a_timeout_and_retried(make_app):
    """A receiver that never answers costs one read timeout; the attempt is logged as timed
    out and retried with the same webhook-id."""
    app = make_app(read_timeout="1s")
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver([HANG, Reply(200)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        first, second = receiver.wait_for(2)
        attempts = wait_until(
            lambda: (
                [a for a in _attempts(client, auth, hook["id"]) if a["outcome"] == "delivered"]
                and _attempts(client, auth, hook["id"])
            )
        )
    assert first.header("webhook-id") == second.header("webhook-id")
    timed_out, delivered = sorted(attempts, key=lambda a: a["attempt"])
    assert timed_out["outcome"] == "retrying" and "timed out" in timed_out["error"]
    assert timed_out["response_code"] is None
    assert delivered["response_code"] == 200


def test_a_throttled_hook_does_not_hold_back_its_host(make_app):
    """A hook waiting on its rate limit holds no connection slot: another hook on the same
    host gets all its deliveries while the throttled one is still paced."""
    app = make_app(max_per_host=2)
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver() as receiver:
        subscribe(client, auth, f"{receiver.url}/slow", rate_limit=2)
        subscribe(client, auth, f"{receiver.url}/fast")
        for _ in range(8):
            publish(client, auth)
        arrived = receiver.wait_for(16)
    paths = [r.path for r in sorted(arrived, key=lambda r: r.at)]
    # 2/s with a burst of 2: the 5th throttled request waits 1.5 s for its token.
    fifth_slow = [i for i, path in enumerate(paths) if path == "/slow"][4]
    last_fast = max(i for i, path in enumerate(paths) if path == "/fast")
    assert last_fast < fifth_slow, paths


def test_rate_limit_spaces_requests(make_app, receiver):
    """With `rate_limit: 5`, a worker sends 10 queued deliveries over at least
    (10 - 5) / 5 = 1 second: a burst of 5, then 5 per second."""
    api = make_app(embedded_worker=False)
    client, auth = api.test_client(), _key(api, "acme")
    hook = subscribe(client, auth, receiver.url, rate_limit=5)
    assert hook["rate_limit"] == 5
    for _ in range(10):
        publish(client, auth)
    started = time.time()
    make_app()  # the worker, and with it the hook's token bucket, starts now
    arrived = receiver.wait_for(10)
    # No request goes out before its token is due, and the 10th is due 1 s after the bucket
    # was made: a lower bound a slow machine can only exceed.
    assert max(r.at for r in arrived) - started >= 0.99


def test_without_a_rate_limit_everything_arrives(client, auth, receiver):
    """A hook without a rate limit gets every delivery (no throttling applies)."""
    hook = subscribe(client, auth, receiver.url)
    assert hook["rate_limit"] is None
    for _ in range(10):
        publish(client, auth)
    arrived = receiver.wait_for(10)
    assert len({r.header("webhook-id") for r in arrived}) == 10


def test_zapier_hooks_default_to_30_per_second(client, auth, receiver):
    """A Zapier subscription gets Zapier's documented limit of 30 requests per second."""
    hook = subscribe(client, auth, receiver.url, platform="zapier")
    assert hook["rate_limit"] == 30
