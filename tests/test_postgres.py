"""What only PostgreSQL does: several worker processes sharing one queue (`FOR UPDATE SKIP
LOCKED`) and waking each other through LISTEN/NOTIFY.

Everything else runs on PostgreSQL when the whole suite does (HOOKKIT_TEST_BACKEND=postgres,
as in CI), so it is not repeated here. Each test gets its own schema (`pg_url`), so runs
never see each other's rows. Skipped when the server is unreachable, except under
HOOKKIT_REQUIRE_POSTGRES=1 (CI), where that fails.
"""

from __future__ import annotations

import re
import signal
from collections import Counter

import pytest

from connector.testing import Receiver, Reply

from .conftest import _key, all_delivered, deliveries_of, publish, subscribe, wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(pg_url, make_app):
    """Build apps on this test's PostgreSQL schema."""

    def make(**overrides):
        return make_app(database_url=pg_url, **overrides)

    return make


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
