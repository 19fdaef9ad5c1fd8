"""Signed, durable delivery end to end: real HTTP to a real receiver on 127.0.0.1."""

from __future__ import annotations

import json

import standardwebhooks

from connector.service import Hookkit
from connector.testing import Receiver, Reply

from .conftest import (
    SESSION,
    _key,
    all_delivered,
    caught_up,
    publish,
    subscribe,
    verify_both,
    wait_until,
)


def test_published_event_arrives_signed(client, auth, receiver):
    """A subscribed receiver gets the envelope with Standard Webhooks headers that verify."""
    hook = subscribe(client, auth, receiver.url + "/hook")
    accepted = client.post("/v1/events", json={"type": "session", "data": SESSION}, headers=auth)
    assert accepted.status_code == 202
    assert accepted.json["deliveries"] == 1

    (request,) = receiver.wait_for(1)
    assert request.method == "POST" and request.path == "/hook"
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent").startswith("hookkit/")
    body = request.json()
    assert body["id"] == accepted.json["id"]
    assert body["type"] == "session"
    assert body["data"] == SESSION
    assert body["timestamp"].endswith("Z")
    assert request.header("webhook-id").startswith("msg_")
    verify_both(hook["secret"], request.body.decode(), request)


def test_tampered_body_does_not_verify(client, auth, receiver):
    """The signature covers the exact bytes: a changed body fails verification."""
    hook = subscribe(client, auth, receiver.url)
    publish(client, auth)
    (request,) = receiver.wait_for(1)
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        standardwebhooks.Webhook(hook["secret"]).verify(request.body.decode() + " ", headers)
    except standardwebhooks.webhooks.WebhookVerificationError:
        return
    raise AssertionError("a tampered body verified")


def test_retry_then_success_keeps_the_webhook_id(client, auth):
    """A 500 is retried on the schedule; the retry carries the same webhook-id and succeeds."""
    with Receiver([Reply(500, b"boom"), Reply(200)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        first, second = receiver.wait_for(2)
    assert first.header("webhook-id") == second.header("webhook-id")
    assert int(second.header("webhook-timestamp")) >= int(first.header("webhook-timestamp"))

    def delivered():
        log = client.get(f"/v1/hooks/{hook['id']}/deliveries", headers=auth).json
        return log["deliveries"] and log["deliveries"][0]["status"] == "delivered" and log

    log = wait_until(delivered)
    tries = log["deliveries"][0]["attempts"]
    assert [(a["attempt"], a["response_code"], a["outcome"]) for a in tries] == [
        (1, 500, "retrying"),
        (2, 200, "delivered"),
    ]
    shown = client.get(f"/v1/hooks/{hook['id']}", headers=auth).json
    assert shown["delivery_count"] == 2 and shown["failure_count"] == 1
    assert shown["last_delivery"]["status"] == "delivered"
    assert shown["last_delivery"]["response_code"] == 200


def test_exhausted_retries_mark_the_delivery_failed(client, auth):
    """After the last scheduled retry the delivery is `failed` with the error recorded."""
    with Receiver([Reply(503)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        receiver.wait_for(3)

        def failed():
            log = client.get(f"/v1/hooks/{hook['id']}/deliveries?status=failed", headers=auth)
            return log.json["deliveries"]

        (delivery,) = wait_until(failed)
    assert delivery["attempt_count"] == 3
    assert delivery["last_response_code"] == 503
    assert "503" in delivery["attempts"][-1]["error"]


def test_gone_deletes_the_subscription(client, auth):
    """A 410 answer unsubscribes the hook at once; later events create no deliveries."""
    with Receiver([Reply(410)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        receiver.wait_for(1)
        wait_until(lambda: client.get(f"/v1/hooks/{hook['id']}", headers=auth).status_code == 404)
        assert publish(client, auth)["deliveries"] == 0
    assert client.get("/v1/hooks", headers=auth).json["pagination"]["total"] == 0


def test_redirects_are_not_followed(client, auth, receiver):
    """A 3xx is a failed attempt naming the redirect; the Location is never requested."""
    with Receiver([Reply(302, headers={"Location": receiver.url + "/elsewhere"})]) as redirecting:
        hook = subscribe(client, auth, redirecting.url)
        publish(client, auth)
        redirecting.wait_for(1)
        log = wait_until(
            lambda: client.get(f"/v1/hooks/{hook['id']}/deliveries", headers=auth).json[
                "deliveries"
            ][0]["attempts"]
        )
    assert "redirects are not followed" in log[0]["error"]
    assert receiver.requests == []


def test_paused_hooks_receive_nothing(client, auth, receiver):
    """Events published while a hook is paused create no delivery for it."""
    hook = subscribe(client, auth, receiver.url)
    client.patch(f"/v1/hooks/{hook['id']}", json={"status": "paused"}, headers=auth)
    assert publish(client, auth)["deliveries"] == 0


def test_a_paused_hooks_due_retry_waits_until_it_is_resumed(make_app, clock):
    """A retry that falls due while its hook is paused is not sent; resuming sends it, with
    the same webhook-id."""
    app = make_app(clock=clock)
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver([Reply(500), Reply(200)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        (first,) = receiver.wait_for(1)
        path = f"/v1/hooks/{hook['id']}"
        wait_until(lambda: client.get(path, headers=auth).json["last_delivery"])
        client.patch(path, json={"status": "paused"}, headers=auth)
        clock.advance(3600)  # the 200 ms retry is long due
        caught_up(client, auth)
        assert len(receiver.requests) == 1

        client.patch(path, json={"status": "active"}, headers=auth)
        second = receiver.wait_for(2)[1]
        wait_until(lambda: all_delivered(client, auth, hook["id"], 1))
    assert second.header("webhook-id") == first.header("webhook-id")


def test_several_hooks_each_get_the_event(client, auth):
    """Independent hooks on one event each receive it, each signed with its own secret."""
    with Receiver() as a, Receiver() as b:
        hook_a = subscribe(client, auth, a.url)
        hook_b = subscribe(client, auth, b.url)
        assert publish(client, auth)["deliveries"] == 2
        (got_a,) = a.wait_for(1)
        (got_b,) = b.wait_for(1)
    verify_both(hook_a["secret"], got_a.body.decode(), got_a)
    verify_both(hook_b["secret"], got_b.body.decode(), got_b)
    assert got_a.header("webhook-id") != got_b.header("webhook-id")


def test_pending_deliveries_survive_a_restart(make_app, receiver):
    """Deliveries accepted while no worker runs are sent by the next process to start."""
    stopped = make_app(embedded_worker=False)
    client = stopped.test_client()
    auth = _key(stopped, "acme")
    subscribe(client, auth, receiver.url)
    event = publish(client, auth)
    Hookkit.of(stopped).close()

    make_app()  # a fresh process would do the same: start, find the queue, deliver
    (request,) = receiver.wait_for(1)
    assert json.loads(request.body)["id"] == event["id"]


def test_emit_in_process(app, client, auth, receiver):
    """`connector.emit` publishes exactly like POST /v1/events."""
    from connector import emit

    subscribe(client, auth, receiver.url)
    with app.app_context():
        result = emit("session", SESSION, account="acme", id="order-1")
    assert result["deliveries"] == 1
    (request,) = receiver.wait_for(1)
    assert request.json()["id"] == result["id"]
