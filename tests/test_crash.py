"""Crash safety with real `python -m connector worker` processes on one SQLite database.

Deliveries are claimed with a lease: a worker killed mid-send loses nothing (its claims are
sent again, same `webhook-id`, once the lease runs out), a clean stop hands its unsent
claims back at once, and a live worker renews the leases of sends that outlast them.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter

from connector.testing import Receiver, Reply

from .conftest import _key, all_delivered, publish, subscribe, wait_until


def _ids(requests):
    return Counter(r.header("webhook-id") for r in requests)


def test_a_killed_workers_claims_are_sent_again(make_app, workers, tmp_path):
    """SIGKILL mid-send loses nothing: a second worker sends every delivery once the lease
    runs out, the interrupted ones again with the same webhook-id."""
    app = make_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    hanging = threading.Event()

    def replies(_request):
        return Reply(delay=30) if hanging.is_set() else Reply(200)

    hanging.set()
    with Receiver(replies) as receiver:
        hook = subscribe(client, auth, receiver.url)
        for _ in range(6):
            publish(client, auth)
        db = app.extensions["hookkit"].settings.database_url
        settings = {"lease_seconds": "2s", "read_timeout": "30s", "max_per_host": 2}
        first = workers.start(db, **settings)
        interrupted = receiver.wait_for(2)  # both slots are mid-send, the rest are queued
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        hanging.clear()

        workers.start(db, **settings)
        delivered = wait_until(lambda: all_delivered(client, auth, hook["id"], 6), timeout=30)
        seen = _ids(receiver.requests)
    assert set(seen) == {d["id"] for d in delivered}
    for request in interrupted:
        assert seen[request.header("webhook-id")] == 2


def test_a_stopped_worker_hands_back_unsent_claims(make_app, workers):
    """SIGTERM finishes the send in flight and releases the queued claims, so the next
    worker sends them at once (long before the lease would run out), each exactly once."""
    app = make_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver(lambda _request: Reply(delay=1.0)) as receiver:
        hook = subscribe(client, auth, receiver.url)
        for _ in range(4):
            publish(client, auth)
        db = app.extensions["hookkit"].settings.database_url
        first = workers.start(db, lease_seconds="5m", max_per_host=1)  # 1 sending, 1 queued
        receiver.wait_for(1)
        first.send_signal(signal.SIGTERM)
        assert first.wait(20) == 0
        assert "claims released" in workers.output(first)

        workers.start(db, lease_seconds="5m")
        delivered = wait_until(lambda: all_delivered(client, auth, hook["id"], 4), timeout=20)
        seen = _ids(receiver.requests)
    assert set(seen) == {d["id"] for d in delivered}
    assert set(seen.values()) == {1}


def test_a_send_longer_than_the_lease_is_not_sent_twice(make_app, workers):
    """A live worker renews its leases, so a slow receiver is not sent the same message by
    another worker while the first is still waiting for the answer."""
    app = make_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver(lambda _request: Reply(delay=2.5)) as receiver:
        hook = subscribe(client, auth, receiver.url)
        db = app.extensions["hookkit"].settings.database_url
        settings = {"lease_seconds": "1s", "read_timeout": "10s"}
        workers.start(db, **settings)
        workers.start(db, **settings)
        for _ in range(3):
            publish(client, auth)
        delivered = wait_until(lambda: all_delivered(client, auth, hook["id"], 3), timeout=30)
        seen = _ids(receiver.requests)
    assert set(seen) == {d["id"] for d in delivered}
    assert set(seen.values()) == {1}
