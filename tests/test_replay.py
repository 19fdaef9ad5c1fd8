"""Replays of a time range through the HTTP API, with real receivers: failed deliveries or
all of them sent again with their own webhook-id, missed events recovered, bounds, one
running replay per hook, cancelling, and progress."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.delivery.replays import BATCH
from connector.service import Hookkit
from connector.testing import Reply

from .conftest import (
    SESSION,
    _key,
    all_delivered,
    caught_up,
    deliveries_of,
    publish,
    subscribe,
    wait_until,
)
from .live import served


def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat().replace("+00:00", "Z")


def _session(number: int) -> dict[str, Any]:
    return {**SESSION, "event_id": number}


def _replay(client, auth, hook_id: str, **body: Any) -> Any:
    response = client.post(
        f"/v1/hooks/{hook_id}/replay", json={"since": _ago(hours=1), **body}, headers=auth
    )
    return response


def _finished(client, auth, replay_id: str, timeout: float = 10.0) -> Any:
    """The replay once it is no longer running."""

    def done() -> Any:
        replay = client.get(f"/v1/replays/{replay_id}", headers=auth).json
        return replay if replay["status"] != "running" else None

    return wait_until(done, timeout=timeout)


def _failing(number: int):
    """Replies: 500 to deliveries of the event whose `event_id` is `number`, 200 to the rest."""
    return lambda request: Reply(500 if request.json()["data"]["event_id"] == number else 200)


def test_replay_of_failed_sends_only_failed_deliveries_with_their_webhook_id(
    client, auth, receiver
):
    """status failed: the failed delivery goes out again with the webhook-id of its first
    attempts (so a receiver deduplicates); the delivered ones are left alone."""
    hook = subscribe(client, auth, receiver.url, retry_schedule="none")
    receiver.reply_with(_failing(1))
    events = [publish(client, auth, _session(n))["id"] for n in range(3)]
    wait_until(lambda: len(deliveries_of(client, auth, hook["id"], "?status=failed")["deliveries"]))
    wait_until(
        lambda: len(deliveries_of(client, auth, hook["id"], "?status=delivered")["deliveries"]) == 2
    )
    first = {r.json()["id"]: r.header("webhook-id") for r in receiver.requests}
    receiver.reply_with(None)

    started = _replay(client, auth, hook["id"], status="failed")
    assert started.status_code == 202, started.json
    assert started.headers["Location"].endswith(f"/v1/replays/{started.json['id']}")
    assert started.json["hook_id"] == hook["id"] and started.json["total"] == 1
    replay = _finished(client, auth, started.json["id"])
    assert replay["status"] == "done" and replay["queued"] == 1 and replay["missed"] == 0

    again = receiver.wait_for(4)[3]
    assert again.json()["id"] == events[1]
    assert again.header("webhook-id") == first[events[1]]
    wait_until(lambda: all_delivered(client, auth, hook["id"], 3))
    caught_up(client, auth)
    assert len(receiver.requests) == 4


def test_replay_of_all_sends_every_finished_delivery_again(client, auth, receiver):
    """status all: delivered and failed deliveries of the window go out again, each with its
    own webhook-id, and the log shows one more attempt on the same delivery."""
    hook = subscribe(client, auth, receiver.url, retry_schedule="none")
    receiver.reply_with(_failing(0))
    events = [publish(client, auth, _session(n))["id"] for n in range(3)]
    wait_until(lambda: len(receiver.requests) == 3)
    wait_until(
        lambda: all(
            d["status"] != "pending" for d in deliveries_of(client, auth, hook["id"])["deliveries"]
        )
    )
    first = {r.json()["id"]: r.header("webhook-id") for r in receiver.requests}
    receiver.reply_with(None)

    started = _replay(client, auth, hook["id"], status="all", until=_ago(seconds=-60))
    assert started.status_code == 202 and started.json["total"] == 3
    assert _finished(client, auth, started.json["id"])["queued"] == 3
    replayed = receiver.wait_for(6)[3:]
    assert {r.json()["id"]: r.header("webhook-id") for r in replayed} == first
    delivered = wait_until(lambda: all_delivered(client, auth, hook["id"], 3))
    attempts = {d["event_id"]: d["attempt_count"] for d in delivered}
    assert attempts == {event: 2 for event in events}


def test_event_types_narrow_a_replay(client, auth, receiver):
    """event_types: only deliveries of those types are sent again."""
    hook = subscribe(client, auth, receiver.url, events=["session", "share"])
    publish(client, auth)
    publish(
        client, auth, client.get("/v1/event-types/share", headers=auth).json["sample"], type="share"
    )
    wait_until(lambda: all_delivered(client, auth, hook["id"], 2))
    started = _replay(client, auth, hook["id"], status="all", event_types=["share"])
    assert started.status_code == 202 and started.json["total"] == 1
    _finished(client, auth, started.json["id"])
    assert receiver.wait_for(3)[2].json()["type"] == "share"
    unknown = _replay(client, auth, hook["id"], status="all", event_types=["nope"])
    assert unknown.status_code == 422
    assert unknown.json["errors"][0]["path"] == "$.event_types[0]"


def test_include_missed_recovers_events_published_while_paused(client, auth, receiver):
    """include_missed: events the hook never got while paused are delivered (new
    webhook-ids), unless its filters leave them out; events from before the hook existed
    never are, nor is what it did get."""
    publish(client, auth, _session(100))  # before the hook: never replayed to it
    hook = subscribe(client, auth, receiver.url, filters={"event_id": 2}, retry_schedule="none")
    hook_all = subscribe(client, auth, receiver.url + "/all")
    for hook_id in (hook["id"], hook_all["id"]):
        patched = client.patch(f"/v1/hooks/{hook_id}", json={"status": "paused"}, headers=auth)
        assert patched.status_code == 200
    paused = [publish(client, auth, _session(n))["id"] for n in (1, 2)]
    for hook_id in (hook["id"], hook_all["id"]):
        client.patch(f"/v1/hooks/{hook_id}", json={"status": "active"}, headers=auth)
    got = publish(client, auth, _session(2))["id"]  # delivered to both
    receiver.wait_for(2)

    started = _replay(client, auth, hook_all["id"], status="failed", include_missed=True)
    assert started.status_code == 202 and started.json["total"] == 2
    replay = _finished(client, auth, started.json["id"])
    assert (replay["queued"], replay["missed"], replay["skipped"]) == (2, 2, 0)
    arrived = receiver.wait_for(4)[2:]
    assert sorted(r.json()["id"] for r in arrived) == sorted(paused)
    assert all(r.path == "/all" and r.json()["data"]["event_id"] in (1, 2) for r in arrived)

    filtered = _replay(client, auth, hook["id"], status="failed", include_missed=True)
    replay = _finished(client, auth, filtered.json["id"])
    assert (replay["total"], replay["queued"], replay["skipped"]) == (2, 1, 1)
    assert receiver.wait_for(5)[4].json()["id"] == paused[1]
    caught_up(client, auth)
    ids = [r.json()["id"] for r in receiver.requests]
    assert ids.count(got) == 2 and len(ids) == 5


def test_bounds_are_422(make_app, receiver):
    """A window longer than 31 days, an empty or inverted one, a bad date and more than
    HOOKKIT_REPLAY_MAX_COUNT deliveries are refused with the path (and code) to fix."""
    app = make_app(replay_max_count=2)
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url)
    for number in range(3):
        publish(client, auth, _session(number))
    wait_until(lambda: all_delivered(client, auth, hook["id"], 3))
    cases = [
        ({"since": _ago(days=40), "until": _ago(days=1)}, "$.until", "validation_failed"),
        ({"since": _ago(minutes=1), "until": _ago(hours=1)}, "$.since", "validation_failed"),
        ({"since": "yesterday"}, "$.since", "validation_failed"),
        ({"since": _ago(hours=1), "status": "some"}, "$.status", "validation_failed"),
        ({"since": _ago(hours=1)}, "$.since", "replay_too_large"),
    ]
    for body, path, code in cases:
        response = client.post(
            f"/v1/hooks/{hook['id']}/replay", json={"status": "all", **body}, headers=auth
        )
        assert response.status_code == 422, (body, response.json)
        assert response.json["code"] == code and response.json["errors"][0]["path"] == path
    assert response.json["total"] == 3 and response.json["max"] == 2
    nothing = _replay(client, auth, hook["id"], status="failed")
    assert nothing.status_code == 202 and nothing.json["status"] == "done"
    assert nothing.json["total"] == 0


def test_one_running_replay_per_hook_cancel_and_progress(make_app, receiver):
    """While a replay runs (no worker yet), another one of the hook is 409 replay_running;
    its progress reads total and queued; cancelled, it queues nothing, and a new replay
    may start; a worker then finishes that one."""
    app = make_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url)
    for number in range(3):
        publish(client, auth, _session(number))
    hk = Hookkit.of(app)
    worker = hk.new_worker()
    worker.start()
    try:
        wait_until(lambda: all_delivered(client, auth, hook["id"], 3))
    finally:
        hk.signal.forget(worker.wake)
        worker.stop()

    first = _replay(client, auth, hook["id"], status="all")
    assert first.status_code == 202 and first.json["status"] == "running"
    progress = client.get(f"/v1/replays/{first.json['id']}", headers=auth).json
    assert (progress["total"], progress["queued"], progress["status"]) == (3, 0, "running")
    second = _replay(client, auth, hook["id"], status="failed")
    assert second.status_code == 409
    assert second.json["code"] == "replay_running"
    assert second.json["replay_id"] == first.json["id"]

    cancelled = client.delete(f"/v1/replays/{first.json['id']}", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert cancelled.json["queued"] == 0 and cancelled.json["finished_at"]
    again = client.delete(f"/v1/replays/{first.json['id']}", headers=auth)
    assert again.json["status"] == "cancelled"

    third = _replay(client, auth, hook["id"], status="all", event_types=["session"])
    assert third.status_code == 202
    listed = client.get(f"/v1/hooks/{hook['id']}/replays", headers=auth).json["replays"]
    assert [r["id"] for r in listed] == [third.json["id"], first.json["id"]]
    worker = hk.new_worker()
    worker.start()
    try:
        done = _finished(client, auth, third.json["id"])
        assert (done["status"], done["queued"], done["total"]) == ("done", 3, 3)
        receiver.wait_for(6)
        caught_up(client, auth)
    finally:
        hk.signal.forget(worker.wake)
        worker.stop()
    assert len(receiver.requests) == 6


def test_paused_hooks_do_not_replay(client, auth, receiver):
    """Only an active hook replays (409 hook_not_active), as with a manual retry."""
    hook = subscribe(client, auth, receiver.url, active=False)
    response = _replay(client, auth, hook["id"], status="all")
    assert response.status_code == 409 and response.json["code"] == "hook_not_active"


def test_other_accounts_hooks_and_replays_are_404(client, auth, other_auth, receiver):
    """Another account's hook cannot be replayed, nor its replay read or cancelled."""
    hook = subscribe(client, auth, receiver.url)
    started = _replay(client, auth, hook["id"], status="failed")
    assert started.status_code == 202
    replay_id = started.json["id"]
    assert _replay(client, other_auth, hook["id"], status="failed").status_code == 404
    for method in (client.get, client.delete):
        response = method(f"/v1/replays/{replay_id}", headers=other_auth)
        assert response.status_code == 404 and response.json["code"] == "not_found"
    listed = client.get(f"/v1/hooks/{hook['id']}/replays", headers=other_auth)
    assert listed.status_code == 404
    assert client.get(f"/v1/replays/{replay_id}", headers=auth).status_code == 200


def test_concurrent_replays_of_one_hook_start_one(make_app, receiver):
    """Replays of one hook asked at the same moment over real HTTP: exactly one starts, the
    others are 409 replay_running (the database holds it, on PostgreSQL too)."""
    app = make_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url, active=False)
    publish(client, auth)  # missed: the hook is paused
    client.patch(f"/v1/hooks/{hook['id']}", json={"status": "active"}, headers=auth)
    statuses: list[int] = []
    with served(app) as base:
        asked = {"since": _ago(hours=1), "status": "all", "include_missed": True}
        body = json.dumps(asked).encode()

        def ask() -> None:
            request = urllib.request.Request(
                f"{base}/v1/hooks/{hook['id']}/replay",
                data=body,
                headers={**auth, "Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=20) as answer:
                    statuses.append(answer.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)

        threads = [threading.Thread(target=ask) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [202] + [409] * 5


def test_deleting_the_hook_cancels_its_running_replay(make_app, receiver):
    """A replay of a hook deleted before it was queued ends cancelled, queueing nothing."""
    app = make_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url, active=False)
    publish(client, auth)  # missed: the hook is paused
    client.patch(f"/v1/hooks/{hook['id']}", json={"status": "active"}, headers=auth)
    started = _replay(client, auth, hook["id"], status="all", include_missed=True)
    assert started.status_code == 202 and started.json["total"] == 1
    assert client.delete(f"/v1/hooks/{hook['id']}", headers=auth).status_code == 204
    replay = client.get(f"/v1/replays/{started.json['id']}", headers=auth).json
    assert (replay["status"], replay["queued"]) == ("cancelled", 0)
    hk = Hookkit.of(app)
    worker = hk.new_worker()
    worker.start()
    try:
        caught_up(client, auth)
    finally:
        hk.signal.forget(worker.wake)
        worker.stop()
    assert receiver.requests == []


def test_two_workers_queue_a_replay_of_several_batches_once(make_app, receiver):
    """A replay larger than one batch, queued by two workers at once: every delivery of the
    window goes out again exactly once more, with its webhook-id, and the counts add up."""
    app = make_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url)
    count = 2 * BATCH + 100
    for number in range(count):
        publish(client, auth, _session(number))
    hk = Hookkit.of(app)
    workers = [hk.new_worker(), hk.new_worker()]
    for worker in workers:
        worker.start()
    try:
        receiver.wait_for(count, timeout=60)
        wait_until(
            lambda: (
                deliveries_of(client, auth, hook["id"], "?status=delivered&limit=1")["pagination"][
                    "total"
                ]
                == count
            ),
            timeout=30,
        )
        started = _replay(client, auth, hook["id"], status="all")
        assert started.status_code == 202 and started.json["total"] == count
        replay = _finished(client, auth, started.json["id"], timeout=30)
        assert replay["status"] == "done"
        assert (replay["queued"], replay["skipped"], replay["missed"]) == (count, 0, 0)
        receiver.wait_for(2 * count, timeout=60)
        caught_up(client, auth)
    finally:
        for worker in workers:
            hk.signal.forget(worker.wake)
            worker.stop()
    ids = [r.header("webhook-id") for r in receiver.requests]
    assert len(ids) == 2 * count
    assert all(n == 2 for n in Counter(ids).values())


def test_camel_case_requests_and_answers(make_app, receiver):
    """With HOOKKIT_JSON_CASE=camel, a replay takes eventTypes/includeMissed and answers its
    members in camelCase, like every other resource."""
    app = make_app(json_case="camel", embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url)
    body = {"since": _ago(hours=1), "status": "failed", "eventTypes": ["session"]}
    started = client.post(
        f"/v1/hooks/{hook['id']}/replay", json={**body, "includeMissed": True}, headers=auth
    )
    assert started.status_code == 202, started.json
    assert started.json["hookId"] == hook["id"] and started.json["includeMissed"] is True
    assert started.json["eventTypes"] == ["session"] and "finishedAt" in started.json


def test_answers_match_the_documented_schemas(make_app, receiver):
    """Replay answers, the 409, a thin hook and an event conform to /openapi.json."""
    from .test_openapi import answer_schema, conforms

    app = make_app(embedded_worker=False)  # the replay stays running: the 409 is certain
    client, auth = app.test_client(), _key(app, "acme")
    document = client.get("/openapi.json").json
    hook = subscribe(client, auth, receiver.url, payload="thin", active=False)
    published = publish(client, auth)
    client.patch(f"/v1/hooks/{hook['id']}", json={"status": "active"}, headers=auth)
    conforms(document, answer_schema(document, "/v1/hooks/{hook_id}", "get", 200), hook)
    started = _replay(client, auth, hook["id"], status="failed", include_missed=True)
    path = "/v1/hooks/{hook_id}/replay"
    conforms(document, answer_schema(document, path, "post", 202), started.json)
    busy = _replay(client, auth, hook["id"], status="failed", include_missed=True)
    assert busy.status_code == 409
    conforms(document, answer_schema(document, path, "post", 409), busy.json)
    replay = client.get(f"/v1/replays/{started.json['id']}", headers=auth).json
    conforms(document, answer_schema(document, "/v1/replays/{replay_id}", "get", 200), replay)
    listed = client.get(f"/v1/hooks/{hook['id']}/replays", headers=auth).json
    conforms(document, answer_schema(document, "/v1/hooks/{hook_id}/replays", "get", 200), listed)
    cancelled = client.delete(f"/v1/replays/{started.json['id']}", headers=auth).json
    path = "/v1/replays/{replay_id}"
    conforms(document, answer_schema(document, path, "delete", 200), cancelled)
    event = client.get(f"/v1/events/{published['id']}", headers=auth).json
    conforms(document, answer_schema(document, "/v1/events/{event_id}", "get", 200), event)


def test_worker_processes_create_each_missed_delivery_once(
    make_app, workers, database_url, receiver
):
    """Two `python -m connector worker` processes queue a replay of missed events larger
    than one batch: each missed event is delivered exactly once (a batch queued twice would
    create its deliveries twice), and the replay ends done with every one counted."""
    app = make_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url, active=False)
    count = 2 * BATCH + 100
    published = [publish(client, auth, _session(n))["id"] for n in range(count)]
    client.patch(f"/v1/hooks/{hook['id']}", json={"status": "active"}, headers=auth)
    started = _replay(client, auth, hook["id"], status="failed", include_missed=True)
    assert started.status_code == 202 and started.json["total"] == count
    for _ in range(2):
        workers.start(database_url)
    replay = _finished(client, auth, started.json["id"], timeout=60)
    assert (replay["status"], replay["queued"], replay["missed"]) == ("done", count, count)
    receiver.wait_for(count, timeout=60)
    caught_up(client, auth)
    assert sorted(r.json()["id"] for r in receiver.requests) == sorted(published)
