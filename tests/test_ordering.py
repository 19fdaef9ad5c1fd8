"""Ordered delivery per hook (`ordering: "fifo"`): one delivery at a time, in publish order.

The next delivery of a FIFO hook starts only once the one before it is delivered or has
exhausted its retries; it holds with several worker processes on PostgreSQL and across a
worker killed with SIGKILL. Real receivers count what they get and answer 500 now and then.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from connector.delivery import outbox
from connector.service import Hookkit
from connector.store.tables import deliveries
from connector.testing import Receiver, Reply

from .conftest import SESSION, _key, deliveries_of, publish, subscribe, wait_until


class _Counting:
    """A receiver's replies: every `fail_every`-th request (and every request for the event
    numbers in `refuse`) answers 500; records the order of arrivals and of first successes
    by the body's `data.event_id`, and the most requests it ever had open at once."""

    def __init__(self, fail_every: int, refuse: frozenset[int] = frozenset(), hold=0.002):
        self.fail_every, self.refuse, self.hold = fail_every, refuse, hold
        self.lock = threading.Lock()
        self.count = self.open = self.most_open = 0
        self.arrivals: list[int] = []
        self.first_successes: list[int] = []

    def __call__(self, request) -> Reply:
        number = request.json()["data"]["event_id"]
        with self.lock:
            self.count += 1
            self.open += 1
            self.most_open = max(self.most_open, self.open)
            self.arrivals.append(number)
            ok = self.count % self.fail_every != 0 and number not in self.refuse
            if ok and number not in self.first_successes:
                self.first_successes.append(number)
        time.sleep(self.hold)  # open long enough for a second request to overlap it
        with self.lock:
            self.open -= 1
        return Reply(200 if ok else 500)


def _publish(client, auth, number: int) -> None:
    publish(client, auth, {**SESSION, "event_id": number})


def _count(client, auth, hook_id: str, status: str) -> int:
    page = deliveries_of(client, auth, hook_id, f"?status={status}&limit=1")
    return page["pagination"]["total"]  # type: ignore[no-any-return]


def test_ordering_is_set_by_subscribe_patch_and_put(client, auth, receiver):
    hook = subscribe(client, auth, receiver.url)
    assert hook["ordering"] == "concurrent"
    url = f"/v1/hooks/{hook['id']}"
    patched = client.patch(url, json={"ordering": "fifo"}, headers=auth)
    assert patched.status_code == 200 and patched.json["ordering"] == "fifo"
    assert client.get(url, headers=auth).json["ordering"] == "fifo"
    put = client.put(url, json={"event": "session", "target_url": receiver.url}, headers=auth)
    assert put.status_code == 200 and put.json["ordering"] == "concurrent"  # the default
    wrong = client.patch(url, json={"ordering": "lifo"}, headers=auth)
    assert wrong.status_code == 422 and "$.ordering" in str(wrong.json)
    fifo = subscribe(client, auth, receiver.url + "/other", ordering="fifo")
    assert fifo["ordering"] == "fifo"


def test_a_fifo_hook_gets_one_delivery_at_a_time_in_publish_order(make_app):
    """Failures are retried before anything later is sent, a message that exhausts its
    retries lets the next one go, and a concurrent hook of the same events is not held back."""
    app = make_app(max_per_host=8)
    client, auth = app.test_client(), _key(app, "acme")
    replies = _Counting(fail_every=4, refuse=frozenset({5}))
    with Receiver(replies) as receiver, Receiver() as concurrent:
        hook = subscribe(client, auth, receiver.url, ordering="fifo")
        subscribe(client, auth, concurrent.url)
        for number in range(12):
            _publish(client, auth, number)
        concurrent.wait_for(12)
        wait_until(lambda: _count(client, auth, hook["id"], "pending") == 0, timeout=60)
    assert replies.most_open == 1
    assert replies.arrivals == sorted(replies.arrivals), replies.arrivals
    assert replies.arrivals.count(5) == 3  # the first try and both retries, then given up
    assert replies.first_successes == [n for n in range(12) if n != 5]
    assert _count(client, auth, hook["id"], "failed") == 1
    assert _count(client, auth, hook["id"], "delivered") == 11


def test_a_fifo_queue_waits_parked_and_goes_when_the_hook_turns_concurrent(make_app):
    """Behind a message waiting for its retry, the rest of a FIFO hook's queue is parked
    (the log shows them waiting for an earlier one) and nothing more is sent; PATCHed to
    concurrent, the hook gets them at once, long before that retry is due."""
    app = make_app(retry_schedule="60s")
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver([Reply(500), Reply(200)]) as receiver:
        hook = subscribe(client, auth, receiver.url, ordering="fifo")
        for number in range(5):
            _publish(client, auth, number)
        (first,) = receiver.wait_for(1)
        assert first.json()["data"]["event_id"] == 0

        def parked():
            queued = deliveries_of(client, auth, hook["id"], "?status=pending")["deliveries"]
            later = [d for d in queued if d["attempt_count"] == 0]
            return len(later) == 4 and all(
                d["waiting_for_earlier"] and d["next_attempt_at"] is None for d in later
            )

        wait_until(parked)
        assert len(receiver.requests) == 1
        patched = client.patch(
            f"/v1/hooks/{hook['id']}", json={"ordering": "concurrent"}, headers=auth
        )
        assert patched.status_code == 200
        arrived = receiver.wait_for(5, timeout=30)  # the retry of event 0 is 60 s away
    assert sorted(r.json()["data"]["event_id"] for r in arrived[1:]) == [1, 2, 3, 4]


def test_heal_unparks_a_queue_whose_head_ended_another_way(make_app):
    """The safety net: should the delivery a FIFO queue waits for end without unparking the
    next one (here: cancelled straight in the database), `outbox.heal` makes that next one
    due, and it is delivered; the rest stay parked behind it until their turn."""
    app = make_app(retry_schedule="60s")
    client, auth = app.test_client(), _key(app, "acme")
    store = Hookkit.of(app).store
    with Receiver([Reply(500), Reply(200)]) as receiver:
        hook = subscribe(client, auth, receiver.url, ordering="fifo")
        for number in range(3):
            _publish(client, auth, number)
        receiver.wait_for(1)
        wait_until(
            lambda: (
                _count(client, auth, hook["id"], "pending") == 3
                and any(
                    d["attempt_count"] == 1
                    for d in deliveries_of(client, auth, hook["id"])["deliveries"]
                )
            )
        )
        outbox.park_blocked(store, time.time(), 0.0)
        with store.write() as conn:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.subscription_id == hook["id"], deliveries.c.attempts == 1)
                .values(status="cancelled")
            )
        assert outbox.heal(store, time.time()) == 1
        arrived = receiver.wait_for(3, timeout=30)
    assert [r.json()["data"]["event_id"] for r in arrived] == [0, 1, 2]


@pytest.mark.postgres
def test_fifo_holds_with_two_workers_and_one_killed(pg_url, make_app, workers):
    """Two `python -m connector worker` processes on PostgreSQL share a FIFO hook's 500
    events while its receiver answers 500 to every 7th request; one worker is SIGKILLed
    mid-run. The receiver's first successful arrivals are exactly the publish order, every
    request arrives in that order (the killed worker's message is sent again before any later
    one), never two at once, and nothing is lost."""
    app = make_app(database_url=pg_url, embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    total = 500
    replies = _Counting(fail_every=7)
    with Receiver(replies) as receiver:
        hook = subscribe(client, auth, receiver.url, ordering="fifo")
        settings = {"lease_seconds": "2s", "max_per_host": 4}
        procs = [workers.start(pg_url, **settings), workers.start(pg_url, **settings)]
        for proc in procs:
            wait_until(lambda proc=proc: "started" in workers.output(proc), timeout=30)
        for number in range(total):
            _publish(client, auth, number)
        wait_until(lambda: len(replies.first_successes) >= 150, timeout=120)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        wait_until(lambda: len(replies.first_successes) >= total, timeout=300, every=0.2)
        wait_until(lambda: _count(client, auth, hook["id"], "delivered") == total, timeout=30)
    assert replies.first_successes == list(range(total))
    assert replies.arrivals == sorted(replies.arrivals)
    assert replies.most_open == 1
    assert _count(client, auth, hook["id"], "pending") == 0
    assert "Traceback" not in workers.output(procs[1]), workers.output(procs[1])
