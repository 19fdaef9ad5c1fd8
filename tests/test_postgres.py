"""The end-to-end flow and scale-out on a real PostgreSQL server.

Each test gets its own schema (`pg_url`), so runs never see each other's rows. Skipped when
the server is unreachable, except under HOOKKIT_REQUIRE_POSTGRES=1 (CI), where that fails.
"""

from __future__ import annotations

import re
import signal
import threading
from collections import Counter

import pytest
import standardwebhooks

from connector.testing import Receiver, Reply

from .conftest import (
    SESSION,
    _key,
    all_delivered,
    deliveries_of,
    publish,
    subscribe,
    wait_until,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(pg_url, make_app):
    """Build apps on this test's PostgreSQL schema."""

    def make(**overrides):
        return make_app(database_url=pg_url, **overrides)

    return make


@pytest.fixture
def pg(pg_app):
    """A service with its embedded worker on PostgreSQL: (client, auth headers)."""
    app = pg_app()
    return app.test_client(), _key(app, "acme")


def test_published_event_arrives_signed(pg, receiver):
    """Subscribe and publish on PostgreSQL: the receiver gets the envelope, and it verifies."""
    client, auth = pg
    hook = subscribe(client, auth, receiver.url + "/hook")
    accepted = publish(client, auth)
    assert accepted["deliveries"] == 1
    (request,) = receiver.wait_for(1)
    assert request.json()["id"] == accepted["id"] and request.json()["data"] == SESSION
    headers = {k.lower(): v for k, v in request.headers.items()}
    standardwebhooks.Webhook(hook["secret"]).verify(request.body.decode(), headers)


def test_retry_then_success_is_logged(pg):
    """A 500 is retried with the same webhook-id; the log and the hook's counters show both."""
    client, auth = pg
    with Receiver([Reply(500, b"boom"), Reply(200)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        first, second = receiver.wait_for(2)
        (delivery,) = wait_until(lambda: all_delivered(client, auth, hook["id"], 1))
    assert first.header("webhook-id") == second.header("webhook-id") == delivery["id"]
    assert [(a["attempt"], a["response_code"], a["outcome"]) for a in delivery["attempts"]] == [
        (1, 500, "retrying"),
        (2, 200, "delivered"),
    ]
    shown = client.get(f"/v1/hooks/{hook['id']}", headers=auth).json
    assert (shown["delivery_count"], shown["failure_count"]) == (2, 1)
    assert shown["last_delivery"]["status"] == "delivered"


def test_exhausted_retries_disable_the_hook(pg_app):
    """After the last retry the delivery is failed, and the failure streak disables the hook."""
    app = pg_app(failure_threshold=1)
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver([Reply(503)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        receiver.wait_for(3)

        def disabled():
            shown = client.get(f"/v1/hooks/{hook['id']}", headers=auth).json
            return shown["status"] == "failed" and shown

        shown = wait_until(disabled)
    (delivery,) = deliveries_of(client, auth, hook["id"], "?limit=100")["deliveries"]
    assert delivery["status"] == "failed" and delivery["attempt_count"] == 3
    assert shown["failure_count"] == 3


def test_gone_deletes_the_subscription(pg):
    """A 410 answer unsubscribes the hook; later events create no deliveries."""
    client, auth = pg
    with Receiver([Reply(410)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        receiver.wait_for(1)
        wait_until(lambda: client.get(f"/v1/hooks/{hook['id']}", headers=auth).status_code == 404)
    assert publish(client, auth)["deliveries"] == 0


def test_publish_is_idempotent(pg, receiver):
    """The same event id twice is one event with one set of deliveries."""
    client, auth = pg
    hook = subscribe(client, auth, receiver.url)
    once = publish(client, auth, id="order-1")
    again = publish(client, auth, id="order-1")
    assert again == once
    wait_until(lambda: all_delivered(client, auth, hook["id"], 1))
    events = client.get("/v1/events", headers=auth).json
    listed = events["events"] if isinstance(events, dict) else events
    assert [e["id"] for e in listed] == [once["id"]]


def test_two_workers_deliver_every_message_exactly_once(pg_url, pg_app, workers):
    """Two worker processes on one database share the queue (FOR UPDATE SKIP LOCKED): each
    delivery arrives exactly once and both workers take part."""
    app = pg_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    events, per_event = 100, 4
    with Receiver(lambda _request: Reply(delay=0.005)) as a, Receiver() as b:
        hooks = [subscribe(client, auth, f"{r.url}/{n}")["id"] for r in (a, b) for n in range(2)]
        procs = [workers.start(pg_url, max_per_host=4), workers.start(pg_url, max_per_host=4)]
        # Both must be up before the work arrives, or the first may take all of it.
        for proc in procs:
            wait_until(lambda proc=proc: "started" in workers.output(proc), timeout=30)
        for _ in range(events):
            publish(client, auth)
        total = events * per_event
        wait_until(lambda: len(a.requests) + len(b.requests) >= total, timeout=60)
        for hook in hooks:
            wait_until(lambda hook=hook: all_delivered(client, auth, hook, events), timeout=30)
        seen = Counter(r.header("webhook-id") for r in a.requests + b.requests)
        expected = {
            d["id"]
            for hook in hooks
            for d in deliveries_of(client, auth, hook, "?limit=100")["deliveries"]
        }
    assert set(seen) == expected and len(expected) == total
    assert set(seen.values()) == {1}
    recorded = []
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        found = re.search(r"(\d+) attempts recorded", workers.output(proc))
        assert found, workers.output(proc)
        recorded.append(int(found.group(1)))
    assert sum(recorded) == total and min(recorded) > 0, recorded


def test_a_killed_workers_claims_are_sent_again(pg_url, pg_app, workers):
    """SIGKILL mid-send on PostgreSQL: the next worker claims the expired leases and sends
    every delivery, the interrupted ones again with the same webhook-id."""
    app = pg_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    hanging = threading.Event()
    hanging.set()
    with Receiver(lambda _request: Reply(delay=30) if hanging.is_set() else Reply()) as receiver:
        hook = subscribe(client, auth, receiver.url)
        for _ in range(4):
            publish(client, auth)
        settings = {"lease_seconds": "2s", "read_timeout": "30s", "max_per_host": 2}
        first = workers.start(pg_url, **settings)
        interrupted = receiver.wait_for(2)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        hanging.clear()
        workers.start(pg_url, **settings)
        delivered = wait_until(lambda: all_delivered(client, auth, hook["id"], 4), timeout=30)
        seen = Counter(r.header("webhook-id") for r in receiver.requests)
    assert set(seen) == {d["id"] for d in delivered}
    assert all(seen[r.header("webhook-id")] == 2 for r in interrupted)


def test_a_standalone_worker_is_woken_by_notify(pg_url, pg_app, workers, receiver):
    """A worker in another process hears of new events and manual retries through
    LISTEN/NOTIFY at once, though it polls only every minute."""
    app = pg_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url)
    workers.start(pg_url, poll_interval="60s")
    publish(client, auth)
    (delivery,) = wait_until(lambda: all_delivered(client, auth, hook["id"], 1), timeout=15)
    # The worker is idle now, asleep for up to a minute unless something wakes it.
    publish(client, auth)
    receiver.wait_for(2, timeout=15)
    assert client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=auth).status_code == 202
    third = receiver.wait_for(3, timeout=15)[-1]
    assert third.header("webhook-id") == delivery["id"]
