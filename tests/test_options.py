"""Per-hook request options end to end: method, content type, auth, headers, custom values,
response-body logging and secret rotation, as a real receiver on 127.0.0.1 sees them."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import standardwebhooks
import svix.webhooks

from connector.clock import ManualClock
from connector.testing import Receiver, Recorded, Reply

from .conftest import _key, publish, subscribe, verify_both, wait_until

CAMPAIGN = {"campaign": "Summer Sale / 2025: 50%+off & more", "tags": {"source": "zapier"}}


def verifies(secret: str, payload: str, request: Recorded) -> tuple[bool, bool]:
    """Whether standardwebhooks and svix, each on its own, accept the request."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    results = []
    for verify in (
        lambda: standardwebhooks.Webhook(secret).verify(payload, headers, json_parse=False),
        lambda: svix.webhooks.Webhook(secret).verify(payload, headers),
    ):
        try:
            verify()
        except (
            standardwebhooks.webhooks.WebhookVerificationError,
            svix.webhooks.WebhookVerificationError,
        ):
            results.append(False)
        else:
            results.append(True)
    return results[0], results[1]


def deliver(client, headers, receiver: Receiver, suffix: str = "/hook", /, **fields: Any):
    """Subscribe `receiver` with `fields`, publish one session event, return (hook, request)."""
    body = {"event": "session", "target_url": receiver.url + suffix, **fields}
    created = client.post("/v1/hooks", json=body, headers=headers)
    assert created.status_code == 201, created.json
    publish(client, headers)
    return created.json, receiver.wait_for(1)[0]


def api(make_app, **overrides: Any):
    """A test client and acme's auth headers for an app built with `overrides`."""
    app = make_app(**overrides)
    return app.test_client(), _key(app, "acme")


def _json_fields(request: Recorded) -> dict[str, str]:
    body = request.json()
    return {
        "data.session.id": body["data"]["session"]["id"],
        "campaign": body["campaign"],
        "tags.source": body["tags"]["source"],
    }


# (hook fields, path suffix, method, Content-Type, signed payload, the fields as received)
WIRE_FORMATS = {
    "POST JSON by default": (
        {},
        "/hook",
        "POST",
        "application/json",
        lambda r: r.body.decode(),
        _json_fields,
    ),
    "form": (
        {"content_type": "form"},
        "/hook",
        "POST",
        "application/x-www-form-urlencoded",
        lambda r: r.body.decode(),
        Recorded.form,
    ),
    "GET": (
        {"method": "GET"},
        "/hook",
        "GET",
        None,
        lambda r: r.query,
        Recorded.query_params,
    ),
    "GET onto a URL with a query": (
        {"method": "get"},
        "/hook?zap=123&note=a%20b:c/d#section",
        "GET",
        None,
        lambda r: r.query,
        Recorded.query_params,
    ),
}


@pytest.mark.parametrize(
    ("fields", "suffix", "method", "content_type", "signed", "received"),
    list(WIRE_FORMATS.values()),
    ids=list(WIRE_FORMATS),
)
def test_wire_formats_carry_dotted_fields_and_verify(
    client, auth, receiver, fields, suffix, method, content_type, signed, received
):
    """Each method/content type delivers the event plus custom values, signed over the exact
    bytes sent (the raw query string for GET)."""
    hook, request = deliver(client, auth, receiver, suffix, custom_values=CAMPAIGN, **fields)
    assert hook["method"] == method
    assert request.method == method and request.path == "/hook"
    assert request.header("Content-Type") == content_type
    got = received(request)
    assert got["data.session.id"] == "abc123xyz"
    assert got["campaign"] == CAMPAIGN["campaign"]
    assert got["tags.source"] == "zapier"
    verify_both(hook["secret"], signed(request), request)


def test_get_keeps_the_target_query_and_sends_no_body(client, auth, receiver):
    """A GET hook's own query parameters come first and untouched; the event adds to them."""
    _, request = deliver(client, auth, receiver, "/hook?zap=123&note=a%20b", method="GET")
    assert request.query.startswith("zap=123&note=a%20b&")
    params = request.query_params()
    assert params["zap"] == "123" and params["note"] == "a b"
    assert params["type"] == "session"
    assert request.body == b""


def test_mapping_with_custom_values_is_the_whole_body(client, auth, receiver):
    """Seed 003's custom payload: mapped fields plus static values, nothing else."""
    _, request = deliver(
        client,
        auth,
        receiver,
        mapping="{session_id: data.session.id, kind: data.session.type}",
        custom_values={"source": "webhook", "kind": "overridden"},
    )
    assert request.json() == {"session_id": "abc123xyz", "kind": "overridden", "source": "webhook"}


def test_basic_auth_is_sent_and_its_password_never_shown(client, auth, receiver):
    """Basic auth arrives as an Authorization header; no response ever shows the password."""
    credentials = {"type": "basic", "username": "zap-user", "password": "pässw0rd:x"}
    hook, request = deliver(client, auth, receiver, auth=credentials)
    expected = base64.b64encode("zap-user:pässw0rd:x".encode()).decode()
    assert request.header("Authorization") == f"Basic {expected}"
    path = f"/v1/hooks/{hook['id']}"
    responses = [
        client.get(path, headers=auth),
        client.get("/v1/hooks", headers=auth),
        client.patch(path, json={"description": "crm"}, headers=auth),
    ]
    for response in responses:
        assert response.status_code == 200
        assert "pässw0rd" not in response.get_data(as_text=True)
    assert responses[0].json["auth"] == {"type": "basic", "username": "zap-user"}
    assert hook["auth"] == {"type": "basic", "username": "zap-user"}


CUSTOM_HEADERS = {
    "X-Campaign": "summer",
    "Authorization": "Bearer 12345",
    "X-Api-Key": "k-123",
    "X-Auth-Token": "t-456",
    "Cookie": "session=abc",
}
MASKED = {"Authorization", "X-Api-Key", "X-Auth-Token", "Cookie"}


def test_custom_headers_arrive_and_sensitive_values_are_masked(client, auth, receiver):
    """Every custom header reaches the receiver; responses mask tokens, keys and cookies."""
    hook, request = deliver(client, auth, receiver, headers=CUSTOM_HEADERS)
    for name, value in CUSTOM_HEADERS.items():
        assert request.header(name) == value
    shown = client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["headers"]
    for view in (hook["headers"], shown):
        assert view == {
            name: "********" if name in MASKED else value for name, value in CUSTOM_HEADERS.items()
        }


def test_a_masked_header_written_back_keeps_its_value(client, auth, receiver):
    """PATCHing the headers a GET showed (masked) keeps the real token and adds new ones."""
    hook = subscribe(client, auth, receiver.url, headers={"Authorization": "Bearer 12345"})
    shown = client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["headers"]
    patched = client.patch(
        f"/v1/hooks/{hook['id']}", json={"headers": {**shown, "X-Extra": "1"}}, headers=auth
    )
    assert patched.status_code == 200
    publish(client, auth)
    (request,) = receiver.wait_for(1)
    assert request.header("Authorization") == "Bearer 12345"
    assert request.header("X-Extra") == "1"


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"headers": {"Host": "evil.example"}}, "$.headers.Host"),
        ({"headers": {"Content-Length": "5"}}, "$.headers.Content-Length"),
        ({"headers": {"Transfer-Encoding": "chunked"}}, "$.headers.Transfer-Encoding"),
        ({"headers": {"Content-Type": "text/plain"}}, "$.headers.Content-Type"),
        ({"headers": {"webhook-id": "msg_x"}}, "$.headers.webhook-id"),
        ({"headers": {"Webhook-Signature": "v1,x"}}, "$.headers.Webhook-Signature"),
        ({"headers": {"Bad Name": "x"}}, "$.headers.Bad Name"),
        ({"headers": {"X-Naïve": "x"}}, "$.headers.X-Naïve"),
        ({"headers": {"X-Split": "a\r\nX-Injected: 1"}}, "$.headers.X-Split"),
        ({"headers": {"X-Split": "a\nb"}}, "$.headers.X-Split"),
        ({"headers": {"X-A": "1", "x-a": "2"}}, "$.headers.x-a"),
        ({"headers": {"Authorization": "********"}}, "$.headers.Authorization"),
        ({"auth": {"type": "basic", "username": "a:b", "password": "p"}}, "$.auth.username"),
        ({"content_type": "xml"}, "$.content_type"),
    ],
)
def test_invalid_options_answer_422_at_their_path(client, auth, fields, path):
    """Forbidden or malformed headers and auth are refused naming the exact field."""
    body = {"event": "session", "url": "http://127.0.0.1:9/x", **fields}
    response = client.post("/v1/hooks", json=body, headers=auth)
    assert response.status_code == 422
    assert path in [e["path"] for e in response.json["errors"]]


BODY = b'{"received": true, "id": "0123456789abcdef"}'


@pytest.mark.parametrize(("log", "stored"), [(True, BODY[:16].decode()), (False, None)])
def test_response_body_logging(make_app, log, stored):
    """With log_response_body the log keeps the receiver's answer cut to the limit; else none."""
    client, auth = api(make_app, response_body_limit=16)
    with Receiver([Reply(200, BODY)]) as receiver:
        hook, _ = deliver(client, auth, receiver, log_response_body=log)

        def attempts():
            log_ = client.get(f"/v1/hooks/{hook['id']}/deliveries", headers=auth).json
            return log_["deliveries"][0]["attempts"]

        (attempt,) = wait_until(attempts)
    assert attempt["response_code"] == 200
    assert attempt["response_body"] == stored


@pytest.mark.parametrize(
    ("later", "old_verifies", "signatures"),
    [(23 * 3600, True, 2), (25 * 3600, False, 1)],
    ids=["within the grace period", "after the grace period"],
)
def test_rotated_secret(make_app, receiver, later, old_verifies, signatures):
    """After a rotation the new secret verifies; the old one only until its grace period
    (one day here) ends on the service's clock."""
    # Started `later` ago, so the delivery after `advance(later)` carries the current time:
    # receivers refuse webhook-timestamps more than five minutes off.
    clock = ManualClock(time.time() - later)
    client, auth = api(make_app, clock=clock, secret_grace="1d")
    hook = subscribe(client, auth, receiver.url)
    rotated = client.post(f"/v1/hooks/{hook['id']}/rotate-secret", headers=auth)
    assert rotated.status_code == 200
    new = rotated.json["secret"]
    assert new.startswith("whsec_") and new != hook["secret"]
    assert "secret" not in client.get(f"/v1/hooks/{hook['id']}", headers=auth).json
    clock.advance(later)
    publish(client, auth)
    (request,) = receiver.wait_for(1)
    payload = request.body.decode()
    assert len(request.header("webhook-signature").split(" ")) == signatures
    assert all(part.startswith("v1,") for part in request.header("webhook-signature").split())
    assert verifies(new, payload, request) == (True, True)
    assert verifies(hook["secret"], payload, request) == (old_verifies, old_verifies)
