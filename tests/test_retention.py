"""Retention: delivered deliveries and events past HOOKKIT_RETENTION, and failed ones past
HOOKKIT_RETENTION_FAILED, are pruned by the worker (every HOOKKIT_PRUNE_INTERVAL) and by
`python -m connector prune`; pending deliveries never are. Time moves on a ManualClock."""

from __future__ import annotations

from connector.clock import ManualClock, system_clock
from connector.delivery.retention import prune
from connector.service import Hookkit
from connector.testing import Receiver, Reply

from .conftest import _key, all_delivered, deliveries_of, publish, subscribe, wait_until

DAY = 86400.0


def _event_ids(client, auth) -> set[str]:
    response = client.get("/v1/events?limit=100", headers=auth)
    assert response.status_code == 200
    return {event["id"] for event in response.json["events"]}


def _total(client, auth, hook) -> int:
    return deliveries_of(client, auth, hook["id"])["pagination"]["total"]  # type: ignore[no-any-return]


def _settled(client, auth, hook, status: str) -> bool:
    found = deliveries_of(client, auth, hook["id"])["deliveries"]
    return len(found) == 1 and found[0]["status"] == status


def test_the_worker_prunes_by_age_and_keeps_failed_ones_longer(make_app, clock):
    """After 31 days the delivered delivery and its event are gone, the failed one stays;
    after 91 days the failed one and its event are gone too; a pending one never goes."""
    app = make_app(clock=clock, prune_interval="50ms", retry_schedule="")
    client, auth = app.test_client(), _key(app, "acme")
    share = Hookkit.of(app).catalog.get("share").sample
    with (
        Receiver([Reply(200)]) as fine,
        Receiver([Reply(500)]) as failing,
        Receiver([Reply(500)]) as waiting,
    ):
        delivered = subscribe(client, auth, fine.url)
        failed = subscribe(client, auth, failing.url, event="share")
        pending = subscribe(
            client, auth, waiting.url, event="render.completed", retry_schedule="30d"
        )
        first = publish(client, auth)["id"]
        second = publish(client, auth, share, type="share")["id"]
        render = Hookkit.of(app).catalog.get("render.completed").sample
        third = publish(client, auth, render, type="render.completed")["id"]
        wait_until(lambda: _settled(client, auth, delivered, "delivered"))
        wait_until(lambda: _settled(client, auth, failed, "failed"))
        wait_until(lambda: waiting.requests and _settled(client, auth, pending, "pending"))
        # Paused, its retry waits for good: a pending delivery, whatever its age.
        client.patch(f"/v1/hooks/{pending['id']}", json={"status": "paused"}, headers=auth)

        clock.advance(31 * DAY)
        wait_until(lambda: _total(client, auth, delivered) == 0)
        wait_until(lambda: _event_ids(client, auth) == {second, third})  # its own transaction
        assert _total(client, auth, failed) == 1

        clock.advance(60 * DAY)
        wait_until(lambda: _total(client, auth, failed) == 0)
        wait_until(lambda: _event_ids(client, auth) == {third})
        assert _settled(client, auth, pending, "pending")
    assert first not in _event_ids(client, auth)


def test_prune_command_removes_what_is_old_and_says_so(make_app, cli, receiver):
    """`python -m connector prune` deletes deliveries (with their attempts) and events older
    than HOOKKIT_RETENTION, once; with a retention of 0 it keeps everything."""
    past = ManualClock(system_clock() - 40 * DAY)
    app = make_app(clock=past)
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url)
    for _ in range(2):
        publish(client, auth)
    wait_until(lambda: all_delivered(client, auth, hook["id"], 2))
    kept = cli("prune", env={"HOOKKIT_RETENTION": "0"})
    assert kept.exit_code == 0, kept.stderr
    assert kept.stdout.strip() == "pruned 0 deliveries, 0 attempts, 0 events"
    assert cli("prune", env={"HOOKKIT_RETENTION": "50d"}).stdout.strip().startswith("pruned 0 ")
    result = cli("prune")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "pruned 2 deliveries, 2 attempts, 2 events"
    assert _total(client, auth, hook) == 0 and _event_ids(client, auth) == set()


def test_pruning_goes_in_batches_until_done(make_app, clock, receiver):
    """However small the batch, one prune removes everything past its age."""
    app = make_app(clock=clock)
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url)
    for _ in range(5):
        publish(client, auth)
    wait_until(lambda: all_delivered(client, auth, hook["id"], 5))
    store = Hookkit.of(app).store
    assert prune(store, clock() + 29 * DAY, keep=30 * DAY, keep_failed=90 * DAY).deliveries == 0
    done = prune(store, clock() + 31 * DAY, keep=30 * DAY, keep_failed=90 * DAY, batch=2)
    assert (done.deliveries, done.attempts, done.events) == (5, 5, 5)
    assert _total(client, auth, hook) == 0
