"""The delivery log, counters, manual retry, test sends, the retry policy and auto-disable,
end to end through the API with real receivers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from connector.testing import Receiver, Reply

from .conftest import caught_up, publish, subscribe, verify_both, wait_until
from .test_options import api

NO_RETRIES = {"retry_schedule": ""}


def log_of(client, auth, hook: dict[str, Any], query: str = "") -> dict[str, Any]:
    response = client.get(f"/v1/hooks/{hook['id']}/deliveries{query}", headers=auth)
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def hook_of(client, auth, hook: dict[str, Any]) -> dict[str, Any]:
    return client.get(f"/v1/hooks/{hook['id']}", headers=auth).json  # type: ignore[no-any-return]


def settled(client, auth, hook: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Wait until the hook's log holds `count` deliveries, none of them pending any more."""

    def done():
        items = log_of(client, auth, hook, f"?limit={max(count, 1)}")["deliveries"]
        return len(items) == count and all(d["status"] != "pending" for d in items) and items

    return wait_until(done)  # type: ignore[no-any-return]


def publish_and_settle(client, auth, hook: dict[str, Any], count: int) -> dict[str, Any]:
    """Publish one event, wait until its delivery (the `count`th) settles; return it."""
    event = publish(client, auth)
    newest = settled(client, auth, hook, count)[0]
    assert newest["event_id"] == event["id"]
    return newest


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


# --- the delivery log -----------------------------------------------------------------------


def test_log_pages_newest_first(client, auth, receiver):
    """The log pages with totals and has_next/has_prev, newest delivery first."""
    hook = subscribe(client, auth, receiver.url)
    events = [publish(client, auth)["id"] for _ in range(3)]
    settled(client, auth, hook, 3)
    first = log_of(client, auth, hook, "?limit=2")
    second = log_of(client, auth, hook, "?limit=2&page=2")
    assert [d["event_id"] for d in first["deliveries"] + second["deliveries"]] == events[::-1]
    assert first["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 3,
        "total_pages": 2,
        "has_next": True,
        "has_prev": False,
    }
    assert second["pagination"]["has_next"] is False
    assert second["pagination"]["has_prev"] is True


def test_log_filters_by_status_and_records_each_attempt(make_app):
    """`status=` filters the log; each attempt has its time, code, duration and error."""
    client, auth = api(make_app, **NO_RETRIES)
    with Receiver([Reply(200, b"fine"), Reply(500, b"boom")]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish_and_settle(client, auth, hook, 1)
        publish_and_settle(client, auth, hook, 2)
    (failed,) = log_of(client, auth, hook, "?status=failed")["deliveries"]
    (delivered,) = log_of(client, auth, hook, "?status=delivered")["deliveries"]
    assert log_of(client, auth, hook, "?status=pending")["deliveries"] == []
    assert (failed["status"], failed["last_response_code"]) == ("failed", 500)
    (attempt,) = failed["attempts"]
    assert attempt["attempt"] == 1 and attempt["response_code"] == 500
    assert attempt["error"] == "HTTP 500 Internal Server Error"
    assert attempt["at"].endswith("Z") and attempt["duration_ms"] >= 0
    assert delivered["attempts"][0]["error"] is None
    assert delivered["test"] is False
    bad = client.get(f"/v1/hooks/{hook['id']}/deliveries?status=bogus", headers=auth)
    assert bad.status_code == 422
    assert [e["path"] for e in bad.json["errors"]] == ["$.query.status"]


def test_hook_counters_and_last_delivery(make_app):
    """A hook shows its attempt and failure counts and what its last delivery did."""
    client, auth = api(make_app, **NO_RETRIES)
    with Receiver([Reply(500), Reply(201)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        assert hook_of(client, auth, hook)["last_delivery"] is None
        publish_and_settle(client, auth, hook, 1)
        delivery = publish_and_settle(client, auth, hook, 2)
    shown = hook_of(client, auth, hook)
    assert (shown["delivery_count"], shown["failure_count"]) == (2, 1)
    assert shown["last_delivery_at"] == delivery["attempts"][0]["at"]
    last = shown["last_delivery"]
    assert {k: last[k] for k in ("status", "response_code", "at", "attempt", "next_retry_at")} == {
        "status": "delivered",
        "response_code": 201,
        "at": delivery["attempts"][0]["at"],
        "attempt": 1,
        "next_retry_at": None,
    }


def test_waiting_retry_shows_as_retrying(make_app):
    """While a delivery waits for its retry, the hook's last delivery says when it comes."""
    client, auth = api(make_app, retry_schedule="30s")
    with Receiver([Reply(503)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        receiver.wait_for(1)
        last = wait_until(lambda: hook_of(client, auth, hook)["last_delivery"])
    assert last["status"] == "retrying"
    assert last["response_code"] == 503 and last["attempt"] == 1
    assert last["next_retry_at"] > last["at"]
    (delivery,) = log_of(client, auth, hook)["deliveries"]
    assert delivery["status"] == "pending"
    assert delivery["next_attempt_at"] == last["next_retry_at"]
    assert [a["outcome"] for a in delivery["attempts"]] == ["retrying"]


# --- manual retry -----------------------------------------------------------------------------


def test_manual_retry_redelivers_with_the_same_webhook_id(make_app):
    """Retrying a failed delivery sends it again now, same webhook-id, and logs the success."""
    client, auth = api(make_app, **NO_RETRIES)
    with Receiver([Reply(500), Reply(200)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        failed = publish_and_settle(client, auth, hook, 1)
        assert failed["status"] == "failed"
        retried = client.post(f"/v1/deliveries/{failed['id']}/retry", headers=auth)
        assert retried.status_code == 202
        assert retried.json["id"] == failed["id"]
        first, second = receiver.wait_for(2)
        (delivery,) = settled(client, auth, hook, 1)
    assert first.header("webhook-id") == second.header("webhook-id") == failed["id"]
    verify_both(hook["secret"], second.body.decode(), second)
    assert delivery["status"] == "delivered"
    assert [(a["attempt"], a["outcome"]) for a in delivery["attempts"]] == [
        (1, "failed"),
        (2, "delivered"),
    ]


@pytest.mark.parametrize(
    ("who", "change", "status", "code"),
    [
        ("other", None, 404, "not_found"),
        ("owner", "delete", 409, "hook_deleted"),
        ("owner", "pause", 409, "hook_not_active"),
    ],
)
def test_manual_retry_refusals(client, auth, other_auth, receiver, who, change, status, code):
    """Another account's delivery is 404; a deleted or paused hook's delivery is 409."""
    receiver.reply_with([Reply(500)])
    hook = subscribe(client, auth, receiver.url)
    publish(client, auth)
    (delivery,) = settled(client, auth, hook, 1)
    path = f"/v1/hooks/{hook['id']}"
    if change == "delete":
        assert client.delete(path, headers=auth).status_code == 204
    elif change == "pause":
        client.patch(path, json={"status": "paused"}, headers=auth)
    headers = other_auth if who == "other" else auth
    response = client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=headers)
    assert (response.status_code, response.json["code"]) == (status, code)
    assert len(receiver.requests) == 3  # the original attempt and its two retries, no more


# --- test sends -------------------------------------------------------------------------------


def test_test_send_delivers_the_sample_signed_and_mapped(app, client, auth, receiver):
    """A test send posts the event type's sample now, mapped, with custom values and signed,
    answers with the attempt and shows in the log flagged as a test."""
    receiver.reply_with([Reply(200, b"thanks")])
    hook = subscribe(
        client,
        auth,
        receiver.url,
        mapping="{device: data.session.device.name}",
        custom_values={"source": "test"},
        log_response_body=True,
    )
    sent = client.post(f"/v1/hooks/{hook['id']}/test", headers=auth)
    assert sent.status_code == 200
    (request,) = receiver.requests
    assert request.json() == {"device": "iPad Pro - Main Booth", "source": "test"}
    verify_both(hook["secret"], request.body.decode(), request)
    attempt = sent.json["attempt"]
    assert (attempt["response_code"], attempt["response_body"], attempt["error"]) == (
        200,
        "thanks",
        None,
    )
    assert attempt["duration_ms"] >= 0
    assert sent.json["status"] == "delivered" and sent.json["test"] is True
    (logged,) = log_of(client, auth, hook)["deliveries"]
    assert logged["id"] == sent.json["id"] == request.header("webhook-id")
    assert logged["test"] is True


def test_failing_test_send_is_not_retried(make_app, clock):
    """A failing test send reports its error, is never retried and never disables the hook."""
    client, auth = api(make_app, clock=clock, failure_threshold=1)
    with Receiver([Reply(500, b"nope")]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        sent = client.post(f"/v1/hooks/{hook['id']}/test", headers=auth).json
        assert sent["status"] == "failed"
        assert sent["attempt"]["error"] == "HTTP 500 Internal Server Error"
        assert sent["attempt"]["response_body"] is None  # the hook does not log bodies
        retried = client.post(f"/v1/deliveries/{sent['id']}/retry", headers=auth)
        assert (retried.status_code, retried.json["code"]) == (409, "test_delivery")
        clock.advance(3600)  # far past the retry schedule (200 ms) and the lease (10 s)
        caught_up(client, auth)
        assert len(receiver.requests) == 1
    assert hook_of(client, auth, hook)["status"] == "active"


# --- the retry policy ---------------------------------------------------------------------------


@contextlib.contextmanager
def untrusted_tls_server() -> Iterator[str]:
    """An HTTPS listener whose certificate no one trusts; it only ever shakes hands."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        stop.set()
        thread.join()
        listener.close()


@contextlib.contextmanager
def failing_target(answer: Reply | str) -> Iterator[tuple[str, Receiver | None]]:
    """A URL that fails the way `answer` says, and the receiver behind it (if one answers)."""
    if answer == "refused":
        yield closed_port_url(), None
    elif answer == "tls":
        with untrusted_tls_server() as url:
            yield url, None
    else:
        with Receiver([answer]) as receiver:
            yield receiver.url, receiver


FAILURES = {
    "HTTP 500": (Reply(500, b"boom"), "HTTP 500 Internal Server Error"),
    "HTTP 404": (Reply(404), "HTTP 404 Not Found"),
    "timeout": (Reply(delay=1.0), "timed out"),
    "dropped connection": (Reply(drop=True), "Server disconnected"),
    "refused connection": ("refused", "connection failed"),
    "untrusted certificate": ("tls", "TLS error"),
}


@pytest.mark.parametrize(("answer", "error"), list(FAILURES.values()), ids=list(FAILURES))
def test_failures_are_retried_then_failed(make_app, answer, error):
    """Error answers, timeouts, broken connections and bad certificates are retried, each
    attempt logged with a readable error, and the delivery is failed after the last one."""
    client, auth = api(make_app, retry_schedule="100ms", read_timeout="500ms")
    with failing_target(answer) as (url, receiver):
        hook = subscribe(client, auth, url)
        publish(client, auth)
        (delivery,) = settled(client, auth, hook, 1)
    assert delivery["status"] == "failed"
    tries = delivery["attempts"]
    assert [a["outcome"] for a in tries] == ["retrying", "failed"]
    assert all(error in a["error"] for a in tries), tries
    assert delivery["last_error"] == tries[-1]["error"]
    if receiver is not None:
        assert len(receiver.requests) == 2


def test_a_hook_deleted_mid_attempt_gets_no_retry(make_app, clock):
    """Deleting a hook while an attempt is in flight cancels the delivery; no retry follows."""
    client, auth = api(make_app, clock=clock)
    with Receiver([Reply(500, delay=0.5)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish(client, auth)
        receiver.wait_for(1)
        assert client.delete(f"/v1/hooks/{hook['id']}", headers=auth).status_code == 204

        def cancelled():
            (delivery,) = log_of(client, auth, hook)["deliveries"]
            return delivery["attempts"] and delivery

        delivery = wait_until(cancelled)
        clock.advance(3600)  # far past the 200 ms retry delay
        caught_up(client, auth)
        assert len(receiver.requests) == 1
    assert delivery["status"] == "cancelled"


# --- auto-disable -------------------------------------------------------------------------------


def test_consecutive_failures_disable_the_hook_until_reactivated(make_app):
    """N exhausted deliveries in a row fail the hook; re-activating clears the streak."""
    client, auth = api(make_app, failure_threshold=2, **NO_RETRIES)
    with Receiver([Reply(500)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        publish_and_settle(client, auth, hook, 1)
        assert hook_of(client, auth, hook)["status"] == "active"
        publish_and_settle(client, auth, hook, 2)
        wait_until(lambda: hook_of(client, auth, hook)["status"] == "failed")
        assert publish(client, auth)["deliveries"] == 0
        listed = client.get("/v1/hooks?status=failed", headers=auth).json["subscriptions"]
        assert [h["id"] for h in listed] == [hook["id"]]

        path = f"/v1/hooks/{hook['id']}"
        patched = client.patch(path, json={"status": "active"}, headers=auth)
        assert patched.json["status"] == "active"
        publish_and_settle(client, auth, hook, 3)
    assert hook_of(client, auth, hook)["status"] == "active"
    assert len(receiver.requests) == 3


def test_a_success_resets_the_failure_streak(make_app):
    """Failures separated by a success never add up to the threshold."""
    client, auth = api(make_app, failure_threshold=2, **NO_RETRIES)
    with Receiver([Reply(500), Reply(200), Reply(500)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        statuses = [publish_and_settle(client, auth, hook, n)["status"] for n in (1, 2, 3)]
    assert statuses == ["failed", "delivered", "failed"]
    shown = hook_of(client, auth, hook)
    assert shown["status"] == "active"
    assert shown["failure_count"] == 2
