"""Four existing webhook styles kept end to end over the API, each checked by a receiver
written from that style's own documentation: an image renderer (an Express server under
Node), a photo booth, an event-workflow builder and a campaign tool."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email.message import EmailMessage
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import requests
import standardwebhooks

from connector import verify
from connector.clock import ManualClock
from connector.testing import Receiver, Recorded, Reply

from .conftest import (
    SESSION,
    _key,
    all_delivered,
    caught_up,
    deliveries_of,
    free_port,
    publish,
    shipped_catalog,
    subscribe,
    wait_until,
)
from .live import stop_process
from .test_notify import Mailbox, _serve

EXPRESS_DIR = Path(__file__).parent / "node" / "express"
CATALOG = shipped_catalog()


def only_delivery(client: Any, auth: dict[str, str], hook_id: str) -> dict[str, Any]:
    (delivery,) = deliveries_of(client, auth, hook_id)["deliveries"]
    return delivery  # type: ignore[no-any-return]


# -- image renderer: `X-Pictify-Signature: t=…,v1=…`, {event, timestamp, data} ---------------

IMAGE_RENDERER = {
    "signature_scheme": "timestamped-hex",
    "signature_header": "X-Pictify-Signature",
    "envelope": "{event: type, timestamp: timestamp, data: data}",
}


class ExpressReceiver:
    """tests/node/express/receiver.js as a real process on 127.0.0.1: one JSON line per
    request it answered (`status`, `event`, `reason`, the raw `body` and `signature`)."""

    def __init__(self, secret: str, port: int, log: Path) -> None:
        if shutil.which("node") is None or not (EXPRESS_DIR / "node_modules/express").is_dir():
            pytest.fail("needs Node 20 and `npm ci` in tests/node/express (scripts/test does both)")
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            ["node", str(EXPRESS_DIR / "receiver.js"), "X-Pictify-Signature"],
            env={**os.environ, "SECRET": secret, "PORT": str(port)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.log = log
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next()["listening"] == port
        self.url = f"http://127.0.0.1:{port}/webhooks/pictify"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(json.loads(line))

    def next(self, timeout: float = 15) -> dict[str, Any]:
        """What the receiver reported about the next request it answered."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the receiver reported nothing: {self.log.read_text()}") from None

    def close(self) -> None:
        stop_process(self.proc)
        self._log.close()


@contextmanager
def express(secret: str, port: int, log: Path) -> Iterator[ExpressReceiver]:
    node = ExpressReceiver(secret, port, log)
    try:
        yield node
    finally:
        node.close()


def test_image_renderer_style_verified_by_an_express_receiver(make_app, tmp_path):
    """The Express receiver accepts hookkit's deliveries (200, `event.event` switched on) and
    refuses a tampered body and a timestamp over 300 s old (401)."""
    clock = ManualClock(time.time() - 301)  # first sign 301 s in the past
    app = make_app(clock=clock, **IMAGE_RENDERER)
    client, auth = app.test_client(), _key(app, "acme")
    port = free_port()
    created = client.post(
        "/v1/hooks",
        json={
            "events": ["render.completed", "render.failed"],
            "targetUrl": f"http://127.0.0.1:{port}/webhooks/pictify",
            "platform": "custom",
            "retry_schedule": "none",
        },
        headers=auth,
    )
    assert created.status_code == 201, created.json
    hook = created.json
    assert hook["signature"] == {"scheme": "timestamped-hex", "header": "X-Pictify-Signature"}

    with express(hook["secret"], port, tmp_path / "express.log") as node:
        publish(client, auth, CATALOG.get("render.completed").sample, type="render.completed")
        stale = node.next()
        assert stale["status"] == 401 and stale["reason"].startswith("timestamp 30"), stale
        wait_until(lambda: only_delivery(client, auth, hook["id"])["status"] == "failed")
        attempts = only_delivery(client, auth, hook["id"])["attempts"]
        assert [a["response_code"] for a in attempts] == [401]

        clock.advance(time.time() - clock())  # hookkit's clock is the wall clock again
        event = publish(
            client, auth, CATALOG.get("render.completed").sample, type="render.completed"
        )
        seen = node.next()
        assert seen["status"] == 200, seen
        assert seen["event"] == "render.completed"
        assert seen["handled"] == "image img_abc123 at https://cdn.pictify.io/renders/abc123.png"
        body = json.loads(base64.b64decode(seen["body"]))
        assert sorted(body) == ["data", "event", "timestamp"]
        assert body["data"] == CATALOG.get("render.completed").sample
        assert body["timestamp"].endswith("Z")
        assert seen["signature"].startswith(f"t={int(clock())},v1=")

        publish(client, auth, CATALOG.get("render.failed").sample, type="render.failed")
        assert node.next()["handled"] == "failed: Template not found"
        test = client.post(f"/v1/hooks/{hook['id']}/test", headers=auth).json
        assert test["attempt"]["response_code"] == 200
        assert node.next()["event"] == "render.completed"

        log = deliveries_of(client, auth, hook["id"], "?limit=10")["deliveries"]
        real = next(d for d in log if d["event_id"] == event["id"])
        assert real["status"] == "delivered"

        raw = base64.b64decode(seen["body"])
        headers = {"Content-Type": "application/json", "X-Pictify-Signature": seen["signature"]}
        tampered = raw.replace(b"img_abc123", b"img_abc124")
        assert requests.post(node.url, data=tampered, headers=headers, timeout=5).status_code == 401
        assert node.next()["reason"] == "signature mismatch"
        assert requests.post(node.url, data=raw, headers=headers, timeout=5).status_code == 200
        assert node.next()["status"] == 200  # the same bytes replayed in the window pass


# -- photo booth: X-Signature hex HMAC of the body, flat body, 3 retries 10 s apart ----------

PHOTO_BOOTH = {"signature_scheme": "hex", "envelope": "merge({type: type}, data)"}
BOOTH_TYPES = ("session", "share", "survey", "competition_win")


class PhotoBoothServer:
    """A receiver as the photo booth's docs describe one: it checks `X-Signature` (the hex
    HMAC-SHA256 of the raw body keyed by the secret from the webhook settings) and reads the
    flat body `{"type", "event_id", "session", …}`; 200 when both hold, else 401."""

    def __init__(self) -> None:
        self.secret = ""
        self.accepted: list[dict[str, Any]] = []
        self.failing = False

    def __call__(self, request: Recorded) -> Reply:
        expected = hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.header("X-Signature") or "", expected):
            return Reply(401, b"bad signature")
        body = request.json()
        if body.get("type") not in BOOTH_TYPES or not isinstance(body.get("event_id"), int):
            return Reply(400, b"not a photo booth webhook")
        if not body["session"]["id"]:
            return Reply(400, b"no session")
        if self.failing:
            return Reply(500, b"down for maintenance")
        self.accepted.append(body)
        return Reply(200, b"ok")


def test_photo_booth_style_flat_body_signed_in_x_signature(make_app):
    """Every booth event arrives flat with its `type`, signed in X-Signature; a request
    signed with another secret is refused by the same receiver."""
    app = make_app(**PHOTO_BOOTH)
    client, auth = app.test_client(), _key(app, "acme")
    booth = PhotoBoothServer()
    with Receiver(booth) as receiver:
        hook = subscribe(client, auth, receiver.url, events=list(BOOTH_TYPES))
        booth.secret = hook["secret"]
        assert hook["signature"] == {"scheme": "hex", "header": "X-Signature"}
        for name in BOOTH_TYPES:
            publish(client, auth, CATALOG.get(name).sample, type=name)
        wait_until(lambda: all_delivered(client, auth, hook["id"], 4))
        assert sorted(body["type"] for body in booth.accepted) == sorted(BOOTH_TYPES)
        session = next(body for body in booth.accepted if body["type"] == "session")
        assert session == {"type": "session", **CATALOG.get("session").sample}

        forged = hmac.new(b"not the secret", b"{}", hashlib.sha256).hexdigest()
        answer = requests.post(receiver.url, data=b"{}", headers={"X-Signature": forged}, timeout=5)
        assert answer.status_code == 401


def test_photo_booth_retries_three_times_ten_seconds_apart_then_fails(make_app):
    """retry_schedule "10s,10s,10s": the first try and 3 retries, each due 10 s after the
    previous one, then the delivery is failed and nothing more is sent until it is retried
    by hand."""
    clock = ManualClock()
    app = make_app(clock=clock, **PHOTO_BOOTH)
    client, auth = app.test_client(), _key(app, "acme")
    booth = PhotoBoothServer()
    booth.failing = True
    with Receiver(booth) as receiver:
        hook = subscribe(client, auth, receiver.url, retry_schedule="10s,10s,10s")
        booth.secret = hook["secret"]
        assert hook["retry_schedule"] == "10s,10s,10s"
        publish(client, auth, SESSION)
        start = clock()
        for tries in (1, 2, 3, 4):
            receiver.wait_for(tries)
            # the retry is due 10 s after the attempt finished: move the clock once it has
            wait_until(
                lambda n=tries: only_delivery(client, auth, hook["id"])["attempt_count"] == n
            )
            if tries < 4:
                clock.advance(9.5)
                caught_up(client, auth)
                assert len(receiver.requests) == tries  # not due yet
                clock.advance(0.5)
        delivery = wait_until(
            lambda: (d := only_delivery(client, auth, hook["id"]))["status"] == "failed" and d
        )
        clock.advance(3600)
        caught_up(client, auth)
        assert len(receiver.requests) == 4

        booth.failing = False  # fixed: the failed delivery is retried by hand, once
        retried = client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=auth)
        assert retried.status_code in (200, 202), retried.json
        receiver.wait_for(5)
        wait_until(lambda: only_delivery(client, auth, hook["id"])["status"] == "delivered")
    assert booth.accepted == [{"type": "session", **SESSION}]
    assert [a["response_code"] for a in delivery["attempts"]] == [500] * 4
    assert len({r.body for r in receiver.requests}) == 1  # the same bytes every time
    assert len({r.header("webhook-id") for r in receiver.requests}) == 1  # and message id
    times = [datetime.fromisoformat(a["at"]).timestamp() for a in delivery["attempts"]]
    assert [round(later - earlier) for earlier, later in pairwise(times)] == [10, 10, 10]
    assert times[0] == pytest.approx(start, abs=1)


# -- event workflow: GET, custom headers and values, no signature, no retries ---------------

OPS = "ops@example.com"


def test_event_workflow_style_get_no_signature_no_retry_and_a_failure_email(make_app):
    """GET with the body as query parameters plus custom values and headers, unsigned; a 500
    is not retried and e-mails its status; a 302 is a success (not followed) under 2xx-3xx."""
    box = Mailbox()
    smtp = _serve(box)
    clock = ManualClock()
    try:
        app = make_app(clock=clock, smtp_url=f"smtp://127.0.0.1:{smtp.port}")
        client, auth = app.test_client(), _key(app, "acme")
        client.patch("/v1/account", json={"notification_email": OPS}, headers=auth)
        with Receiver() as elsewhere, Receiver() as receiver:
            receiver.reply_with(
                [
                    Reply(200),
                    Reply(500, b"Internal Server Error"),
                    Reply(302, headers={"Location": elsewhere.url + "/moved"}),
                ]
            )
            hook = subscribe(
                client,
                auth,
                receiver.url + "/workflow",
                description="Survey stage",
                method="GET",
                headers={"Authorization": "Bearer 12345", "X-Event-Owner": "acme"},
                custom_values={"campaign": "Summer Promotion", "tag": "vip"},
                signature={"scheme": "none"},
                retry_schedule="none",
                success="2xx-3xx",
            )
            assert hook["headers"] == {"Authorization": "********", "X-Event-Owner": "acme"}
            assert hook["retry_schedule"] == "none" and hook["success"] == "2xx-3xx"

            publish(client, auth, SESSION)
            (ok,) = receiver.wait_for(1)
            assert ok.method == "GET" and ok.path == "/workflow" and ok.body == b""
            params = ok.query_params()
            assert params["type"] == "session" and params["data.session.id"] == "abc123xyz"
            assert params["campaign"] == "Summer Promotion" and params["tag"] == "vip"
            assert ok.header("Authorization") == "Bearer 12345"
            assert ok.header("X-Event-Owner") == "acme"
            assert ok.header("webhook-id").startswith("msg_")
            assert ok.header("webhook-signature") is None and ok.header("X-Signature") is None

            failing = publish(client, auth, SESSION)
            receiver.wait_for(2)
            (mail,) = box.wait_for(1)
            clock.advance(86400)
            caught_up(client, auth)
            assert len(receiver.requests) == 2  # no retry, however long we wait

            publish(client, auth, SESSION)
            receiver.wait_for(3)
            wait_until(lambda: len(deliveries_of(client, auth, hook["id"])["deliveries"]) == 3)
            caught_up(client, auth)
            log = deliveries_of(client, auth, hook["id"])["deliveries"]
            assert elsewhere.requests == []  # the redirect was not followed
        by_event = {d["event_id"]: d for d in log}
        failed = by_event.pop(failing["id"])
        assert failed["status"] == "failed"
        assert [a["response_code"] for a in failed["attempts"]] == [500]
        statuses = sorted(
            (d["status"], d["attempts"][0]["response_code"]) for d in by_event.values()
        )
        assert statuses == [("delivered", 200), ("delivered", 302)]

        assert isinstance(mail, EmailMessage)
        text = mail.get_content()
        assert "Webhook failed with status 500 \u2013 Internal Server Error." in text
        assert f"Survey stage ({hook['id']})" in text
        assert "status 500" in mail["Subject"]
    finally:
        smtp.stop()


def test_a_redirect_is_a_failure_under_the_2xx_rule(client, auth):
    """Without `success: 2xx-3xx` a 302 is a failed attempt, and it is still not followed."""
    with Receiver() as elsewhere, Receiver([Reply(302, headers={"Location": "/x"})]) as receiver:
        hook = subscribe(client, auth, receiver.url, retry_schedule="none")
        receiver.reply_with([Reply(302, headers={"Location": elsewhere.url})])
        publish(client, auth)
        receiver.wait_for(1)
        delivery = wait_until(
            lambda: (d := only_delivery(client, auth, hook["id"]))["status"] == "failed" and d
        )
        assert delivery["attempts"][0]["response_code"] == 302
        assert elsewhere.requests == []


# -- campaigns: their own optional secret, form body, basic auth, response bodies logged -----

OWN = "campaign-secret-chosen-by-the-user"
NEWER = "a-newer-campaign-secret-from-the-user"
CAMPAIGN_HOOK = {
    "event": "share",
    "content_type": "form",
    "auth": {"type": "basic", "username": "crm", "password": "s3cret:pass"},
    "secret": OWN,
    "log_response_body": True,
    "active": True,
    "mapping": "{email: data.share.value, session: data.session.id}",
    "custom_values": {"campaign_name": "Summer Promotion", "source": "webhook"},
}


def signed_by(request: Recorded, secret: str) -> bool:
    """Whether a Standard Webhooks signature of `request` verifies with `secret` (the user's
    own string: its UTF-8 bytes are the key), whenever it was sent."""
    try:
        verify(request.body, request.headers, secret, now=int(request.header("webhook-timestamp")))
    except Exception:
        return False
    return True


def library_verifies(request: Recorded, secret: str) -> None:
    """The standardwebhooks library accepts it too, given the key bytes of an own secret."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    standardwebhooks.Webhook(secret.encode()).verify(request.body, headers, json_parse=False)


def test_campaign_style_own_secret_form_body_basic_auth_and_logged_response(make_app):
    """The user's own secret signs a form body sent with basic auth; the response body is
    logged; a blank secret on PATCH keeps it, a new one replaces it with a grace period."""
    clock = ManualClock()
    app = make_app(clock=clock, secret_grace="1h")
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver([Reply(200, b'{"received": true}')]) as receiver:
        created = client.post(
            "/v1/hooks",
            json={"url": receiver.url + "/campaign-events", **CAMPAIGN_HOOK},
            headers=auth,
        )
        assert created.status_code == 201, created.json
        hook = created.json
        assert hook["secret"] == OWN and hook["auth"] == {"type": "basic", "username": "crm"}
        assert hook["status"] == "active" and hook["log_response_body"] is True
        path = f"/v1/hooks/{hook['id']}"

        publish(client, auth, CATALOG.get("share").sample, type="share")
        (first,) = receiver.wait_for(1)
        assert first.header("Content-Type") == "application/x-www-form-urlencoded"
        assert first.form() == {
            "email": "guest@example.com",
            "session": "abc123xyz",
            "campaign_name": "Summer Promotion",
            "source": "webhook",
        }
        expected = "Basic " + base64.b64encode(b"crm:s3cret:pass").decode()
        assert first.header("Authorization") == expected
        assert signed_by(first, OWN)
        library_verifies(first, OWN)
        wait_until(lambda: all_delivered(client, auth, hook["id"], 1))
        logged = only_delivery(client, auth, hook["id"])["attempts"][0]
        assert logged["response_body"] == '{"received": true}'

        for keep in ({"secret": ""}, {"secret": None}, {"description": "CRM sync"}):
            kept = client.patch(path, json=keep, headers=auth)
            assert kept.status_code == 200 and "secret" not in kept.json, kept.json
        publish(client, auth, CATALOG.get("share").sample, type="share")
        second = receiver.wait_for(2)[1]
        assert len(second.header("webhook-signature").split()) == 1 and signed_by(second, OWN)

        replaced = client.patch(path, json={"secret": NEWER}, headers=auth)
        assert replaced.status_code == 200 and replaced.json["secret"] == NEWER
        publish(client, auth, CATALOG.get("share").sample, type="share")
        third = receiver.wait_for(3)[2]
        assert len(third.header("webhook-signature").split()) == 2
        assert signed_by(third, NEWER) and signed_by(third, OWN)  # the old one during the grace
        library_verifies(third, NEWER)
        library_verifies(third, OWN)

        clock.advance(3601)
        publish(client, auth, CATALOG.get("share").sample, type="share")
        fourth = receiver.wait_for(4)[3]
        assert signed_by(fourth, NEWER) and not signed_by(fourth, OWN)

        paused = client.patch(path, json={"active": False}, headers=auth).json
        assert paused["status"] == "paused"
        assert publish(client, auth, CATALOG.get("share").sample, type="share")["deliveries"] == 0


def test_campaign_style_own_secret_rules(client, auth, receiver):
    """Own secrets: at least 24 characters, a `whsec_` one must be a base64 key, and an
    ed25519 hook cannot take one (422 at $.secret); hex schemes key with the string itself."""

    def problem(response: Any) -> str:
        assert response.status_code == 422, response.json
        (error,) = response.json["errors"]
        assert error["path"] == "$.secret"
        return error["message"]  # type: ignore[no-any-return]

    def post(**fields: Any) -> Any:
        body = {"event": "session", "url": receiver.url, **fields}
        return client.post("/v1/hooks", json=body, headers=auth)

    assert "at least 24 characters" in problem(post(secret="too-short"))
    for not_a_key in ("whsec_" + "A" * 30, "whsec_not base64 at all, but long"):
        assert "base64 key" in problem(post(secret=not_a_key))
    assert "key pair" in problem(post(secret=OWN, signature={"scheme": "ed25519"}))

    pair = subscribe(client, auth, receiver.url + "/pair", signature={"scheme": "ed25519"})
    assert "key pair" in problem(
        client.patch(f"/v1/hooks/{pair['id']}", json={"secret": OWN}, headers=auth)
    )
    short = client.patch(f"/v1/hooks/{pair['id']}", json={"secret": "x" * 23}, headers=auth)
    problem(short)

    own_key = "whsec_" + base64.b64encode(b"k" * 24).decode()
    assert post(secret=own_key).json["secret"] == own_key

    hook = subscribe(
        client, auth, receiver.url + "/hex", secret=OWN, signature={"scheme": "timestamped-hex"}
    )
    publish(client, auth)
    request = wait_until(lambda: next((r for r in receiver.requests if r.path == "/hex"), None))
    t = request.header("X-Signature").split(",")[0].removeprefix("t=")
    digest = hmac.new(OWN.encode(), f"{t}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.header("X-Signature") == f"t={t},v1={digest}"
    assert hook["secret"] == OWN
