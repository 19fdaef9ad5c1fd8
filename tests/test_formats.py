"""Keeping an existing webhook format: every signature scheme signed and verified on real
deliveries, the per-hook signature rules of the API, and HOOKKIT_ENVELOPE giving one default
body to samples, output fields, previews, test sends and deliveries alike."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import standardwebhooks
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from connector import create_app
from connector.clock import ManualClock
from connector.errors import ConfigError
from connector.testing import Receiver
from connector.wire.schemes import Signature, generate_key_pair, public_key, signature_headers
from connector.wire.signing import generate_secret, sign

from .conftest import (
    FAST,
    _key,
    all_delivered,
    publish,
    shipped_catalog,
    subscribe,
    verify_both,
    wait_until,
)

BODY = b'{"id":"evt_1","type":"session","data":{"n":1}}'
RENDER = shipped_catalog().get("render.completed").sample
IMAGE_RENDERER = {
    "signature_scheme": "timestamped-hex",
    "signature_header": "X-Pictify-Signature",
    "envelope": "{event: type, timestamp: timestamp, data: data}",
}


# -- how a receiver of each scheme checks a message (written here, as a receiver would) ------


def hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def timestamped_hex_matches(header: str, body: bytes, secret: str) -> bool:
    """`t=…,v1=…[,v1=…]`: one of the v1 values is the hex HMAC of "{t}.{body}"."""
    pairs = [part.split("=", 1) for part in header.split(",")]
    (t,) = [value for key, value in pairs if key == "t"]
    expected = hex_hmac(secret, t.encode() + b"." + body)
    return any(hmac.compare_digest(v, expected) for key, v in pairs if key == "v1")


def ed25519_matches(headers: Any, body: bytes, public: str) -> bool:
    """One `v1a,` signature of "{id}.{timestamp}.{body}" verifies with the `whpk_` key."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public.removeprefix("whpk_")))
    signed = b"%s.%s.%s" % (
        headers["webhook-id"].encode(),
        headers["webhook-timestamp"].encode(),
        body,
    )
    for candidate in headers["webhook-signature"].split():
        version, _, value = candidate.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(value), signed)
        except InvalidSignature:
            continue
        return True
    return False


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


# -- signature_headers, unit by unit ---------------------------------------------------------


def test_each_scheme_signs_the_exact_bytes_with_every_key_it_is_given():
    """The headers of each scheme, checked by an independent verifier, with two keys."""
    new, old = generate_secret(), generate_secret()

    now = int(time.time())
    standard = signature_headers(Signature(), "msg_1", now, BODY, [new, old])
    assert set(standard) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert standard["webhook-signature"] == sign("msg_1", now, BODY, [new, old])
    for secret in (new, old):
        standardwebhooks.Webhook(secret).verify(BODY, standard, json_parse=False)

    stamped = signature_headers(
        Signature("timestamped-hex", "X-Render-Signature"), "msg_1", 1_700_000_000, BODY, [new, old]
    )
    assert set(stamped) == {"webhook-id", "X-Render-Signature"}
    value = stamped["X-Render-Signature"]
    assert value.startswith("t=1700000000,v1=") and value.count("v1=") == 2
    assert timestamped_hex_matches(value, BODY, new) and timestamped_hex_matches(value, BODY, old)
    assert not timestamped_hex_matches(value, BODY + b" ", new)
    default_header = signature_headers(Signature("timestamped-hex"), "m", 1, BODY, [new])
    assert set(default_header) == {"webhook-id", "X-Signature"}

    plain = signature_headers(Signature("hex"), "msg_1", 1_700_000_000, BODY, [new, old])
    assert plain == {"webhook-id": "msg_1", "X-Signature": hex_hmac(new, BODY)}  # newest only

    private_new, private_old = generate_key_pair(), generate_key_pair()
    signed = signature_headers(
        Signature("ed25519"), "msg_1", 1_700_000_000, BODY, [private_new, private_old]
    )
    assert signed["webhook-signature"].count("v1a,") == 2
    for private in (private_new, private_old):
        assert public_key(private).startswith("whpk_")
        assert ed25519_matches(signed, BODY, public_key(private))
    assert not ed25519_matches(signed, BODY + b" ", public_key(private_new))
    assert not ed25519_matches(signed, BODY, public_key(generate_key_pair()))

    assert signature_headers(Signature("none"), "msg_1", 1, BODY, [new]) == {"webhook-id": "msg_1"}


# -- over the wire ---------------------------------------------------------------------------


def test_standard_webhooks_hooks_are_signed_as_before(client, auth, receiver):
    """A hook that names no scheme shows standard-webhooks and verifies with both libraries."""
    hook = subscribe(client, auth, receiver.url)
    assert hook["signature"] == {"scheme": "standard-webhooks", "header": None}
    assert hook["public_key"] is None and hook["secret"].startswith("whsec_")
    assert hook["retry_schedule"] is None and hook["success"] == "2xx"
    publish(client, auth)
    (request,) = receiver.wait_for(1)
    verify_both(hook["secret"], request.body.decode(), request)
    assert request.header("X-Signature") is None


def test_timestamped_hex_with_its_own_header_signs_with_both_secrets_during_rotation(
    make_app, receiver
):
    """t= and v1= in the chosen header; after a rotation a second v1= for the old secret,
    until the grace period ends."""
    clock = ManualClock()
    app = make_app(clock=clock, secret_grace="1h")
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(
        client,
        auth,
        receiver.url,
        signature={"scheme": "timestamped-hex", "header": "X-Render-Signature"},
    )
    assert hook["signature"] == {"scheme": "timestamped-hex", "header": "X-Render-Signature"}
    old = hook["secret"]
    publish(client, auth)
    (first,) = receiver.wait_for(1)
    header = first.header("X-Render-Signature")
    assert header == f"t={int(clock())},v1={hex_hmac(old, b'%d.' % int(clock()) + first.body)}"
    assert first.header("webhook-id").startswith("msg_")
    assert first.header("webhook-signature") is None and first.header("webhook-timestamp") is None

    rotated = client.post(f"/v1/hooks/{hook['id']}/rotate-secret", headers=auth).json
    new = rotated["secret"]
    assert new != old
    publish(client, auth)
    second = receiver.wait_for(2)[1]
    header = second.header("X-Render-Signature")
    assert header.count("v1=") == 2
    assert timestamped_hex_matches(header, second.body, new)
    assert timestamped_hex_matches(header, second.body, old)

    clock.advance(3601)
    publish(client, auth)
    third = receiver.wait_for(3)[2]
    header = third.header("X-Render-Signature")
    assert header.count("v1=") == 1 and timestamped_hex_matches(header, third.body, new)
    assert not timestamped_hex_matches(header, third.body, old)


@pytest.mark.parametrize("content_type", ["json", "form"])
def test_hex_signs_the_exact_body_bytes(client, auth, receiver, content_type):
    """X-Signature is the hex HMAC-SHA256 of the body as sent, keyed by the secret string."""
    hook = subscribe(
        client, auth, receiver.url, signature={"scheme": "hex"}, content_type=content_type
    )
    assert hook["signature"] == {"scheme": "hex", "header": "X-Signature"}
    publish(client, auth)
    (request,) = receiver.wait_for(1)
    assert request.header("X-Signature") == hex_hmac(hook["secret"], request.body)
    assert request.header("webhook-id") and request.header("webhook-signature") is None
    if content_type == "form":
        assert request.form()["data.session.id"] == "abc123xyz"

    rotated = client.post(f"/v1/hooks/{hook['id']}/rotate-secret", headers=auth).json
    publish(client, auth)
    second = receiver.wait_for(2)[1]
    assert second.header("X-Signature") == hex_hmac(rotated["secret"], second.body)  # one value


def test_get_deliveries_sign_the_query_string_in_hex(client, auth, receiver):
    """For GET the signed bytes are the query string as sent, as with Standard Webhooks."""
    hook = subscribe(client, auth, receiver.url, method="GET", signature={"scheme": "hex"})
    publish(client, auth)
    (request,) = receiver.wait_for(1)
    assert request.method == "GET" and request.body == b""
    assert request.header("X-Signature") == hex_hmac(hook["secret"], request.query.encode())


def test_ed25519_verifies_with_the_public_key_alone_and_never_shows_the_private_key(
    make_app, receiver
):
    """A key pair per hook: deliveries verify with `whpk_…`; a rotation signs with both keys
    during the grace period; no answer of the API ever carries a `whsk_` key."""
    clock = ManualClock()
    app = make_app(clock=clock, secret_grace="1h")
    client, auth = app.test_client(), _key(app, "acme")
    answers: list[Any] = []

    def call(method: str, path: str, **kwargs: Any) -> Any:
        response = client.open(path, method=method, headers=auth, **kwargs)
        answers.append(response.get_data(as_text=True))
        assert response.status_code < 300, response.json
        return response.json

    hook = call(
        "POST",
        "/v1/hooks",
        json={"event": "session", "url": receiver.url, "signature": {"scheme": "ed25519"}},
    )
    assert hook["signature"] == {"scheme": "ed25519", "header": None}
    assert "secret" not in hook and hook["public_key"].startswith("whpk_")
    old_public = hook["public_key"]
    publish(client, auth)
    (first,) = receiver.wait_for(1)
    headers = lower(first.headers)
    assert headers["webhook-signature"].startswith("v1a,")
    assert ed25519_matches(headers, first.body, old_public)

    rotated = call("POST", f"/v1/hooks/{hook['id']}/rotate-secret")
    new_public = rotated["public_key"]
    assert new_public != old_public and "secret" not in rotated
    publish(client, auth)
    second = receiver.wait_for(2)[1]
    headers = lower(second.headers)
    assert headers["webhook-signature"].count("v1a,") == 2
    assert ed25519_matches(headers, second.body, old_public)
    assert ed25519_matches(headers, second.body, new_public)

    clock.advance(3601)
    publish(client, auth)
    third = receiver.wait_for(3)[2]
    headers = lower(third.headers)
    assert headers["webhook-signature"].count("v1a,") == 1
    assert ed25519_matches(headers, third.body, new_public)
    assert not ed25519_matches(headers, third.body, old_public)

    call("GET", f"/v1/hooks/{hook['id']}")
    call("GET", "/v1/hooks")
    call("PATCH", f"/v1/hooks/{hook['id']}", json={"description": "keys", "secret": ""})
    wait_until(lambda: all_delivered(client, auth, hook["id"], 3))
    call("GET", f"/v1/hooks/{hook['id']}/deliveries")
    call("POST", f"/v1/hooks/{hook['id']}/test")
    assert not any("whsk_" in answer for answer in answers)
    assert not any("whsk_" in json.dumps(r.headers) + r.body.decode() for r in receiver.requests)


def test_scheme_none_sends_no_signature_but_a_webhook_id(client, auth, receiver):
    """`none`: nothing signs the message; `webhook-id` still lets the receiver deduplicate."""
    subscribe(client, auth, receiver.url, signature={"scheme": "none"})
    publish(client, auth)
    (request,) = receiver.wait_for(1)
    headers = lower(request.headers)
    assert headers["webhook-id"].startswith("msg_")
    assert not {"webhook-signature", "webhook-timestamp", "x-signature"} & set(headers)


def _problem(response: Any, path: str) -> str:
    assert response.status_code == 422, response.json
    messages = {error["path"]: error["message"] for error in response.json["errors"]}
    assert path in messages, response.json
    return messages[path]


def test_signature_headers_that_cannot_work_are_refused(client, auth, receiver):
    """A custom header named like the signature header, a header on a scheme without one, or
    a header hookkit sets itself: 422 at the field, on subscribe and on PATCH."""
    url = receiver.url

    def post(**fields: Any) -> Any:
        return client.post(
            "/v1/hooks", json={"event": "session", "url": url, **fields}, headers=auth
        )

    hex_default = {"signature": {"scheme": "hex"}}
    message = _problem(post(headers={"x-signature": "1"}, **hex_default), "$.headers.x-signature")
    assert "X-Signature carries the signature" in message
    named = {"signature": {"scheme": "timestamped-hex", "header": "X-Hub-Sig"}}
    _problem(post(headers={"X-HUB-SIG": "1"}, **named), "$.headers.X-HUB-SIG")
    for scheme in ("standard-webhooks", "ed25519", "none"):
        message = _problem(
            post(signature={"scheme": scheme, "header": "X-Sig"}), "$.signature.header"
        )
        assert f"the {scheme} scheme has no header of its own" in message
    for taken in ("Content-Type", "webhook-signature", "bad header"):
        _problem(post(signature={"scheme": "hex", "header": taken}), "$.signature.header")
    _problem(post(signature={"scheme": "rot13"}), "$.signature.scheme")

    hook = subscribe(client, auth, url, headers={"X-Team": "growth"}, **named)
    path = f"/v1/hooks/{hook['id']}"
    clash = client.patch(path, json={"headers": {"X-Hub-Sig": "x"}}, headers=auth)
    _problem(clash, "$.headers.X-Hub-Sig")
    moved = client.patch(
        path, json={"signature": {"scheme": "hex", "header": "X-Team"}}, headers=auth
    )
    _problem(moved, "$.headers.X-Team")
    # header names only count for the schemes that have one: none frees X-Hub-Sig
    freed = client.patch(
        path, json={"signature": {"scheme": "none"}, "headers": {"X-Hub-Sig": "x"}}, headers=auth
    )
    assert freed.status_code == 200, freed.json


def test_patch_between_shared_secret_and_key_pair_gives_a_new_key_of_that_kind(
    client, auth, receiver
):
    """HMAC → ed25519: a key pair, its public key shown; ed25519 → HMAC: a fresh secret shown
    once on the PATCH answer; between the HMAC schemes the secret stays."""
    hook = subscribe(client, auth, receiver.url)
    path, first_secret = f"/v1/hooks/{hook['id']}", hook["secret"]

    to_hex = client.patch(path, json={"signature": {"scheme": "timestamped-hex"}}, headers=auth)
    assert to_hex.status_code == 200 and "secret" not in to_hex.json  # same secret
    publish(client, auth)
    (request,) = receiver.wait_for(1)
    assert timestamped_hex_matches(request.header("X-Signature"), request.body, first_secret)

    to_pair = client.patch(path, json={"signature": {"scheme": "ed25519"}}, headers=auth).json
    assert "secret" not in to_pair and to_pair["public_key"].startswith("whpk_")
    publish(client, auth)
    request = receiver.wait_for(2)[1]
    headers = lower(request.headers)
    assert headers["webhook-signature"].count("v1a,") == 1  # the HMAC secret does not linger
    assert ed25519_matches(headers, request.body, to_pair["public_key"])

    back = client.patch(path, json={"signature": {"scheme": "standard-webhooks"}}, headers=auth)
    back = back.json
    assert back["public_key"] is None and back["secret"].startswith("whsec_")
    assert back["secret"] != first_secret
    assert "secret" not in client.get(path, headers=auth).json  # shown once
    publish(client, auth)
    request = receiver.wait_for(3)[2]
    verify_both(back["secret"], request.body.decode(), request)
    assert len(request.header("webhook-signature").split()) == 1

    again = client.patch(path, json={"signature": {"scheme": "ed25519"}}, headers=auth).json
    assert again["public_key"] not in (None, to_pair["public_key"])


def test_the_deployment_scheme_is_what_new_hooks_get(make_app, receiver):
    """HOOKKIT_SIGNATURE_SCHEME/HEADER sign new hooks; a hook may still ask for another
    scheme, and `signature: null` returns it to the deployment's."""
    app = make_app(signature_scheme="timestamped-hex", signature_header="X-Pictify-Signature")
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, receiver.url)
    assert hook["signature"] == {"scheme": "timestamped-hex", "header": "X-Pictify-Signature"}
    other = subscribe(
        client, auth, receiver.url + "/std", signature={"scheme": "standard-webhooks"}
    )
    assert other["signature"] == {"scheme": "standard-webhooks", "header": None}
    reset = client.patch(f"/v1/hooks/{other['id']}", json={"signature": None}, headers=auth)
    assert reset.json["signature"] == hook["signature"]
    clash = client.post(
        "/v1/hooks",
        json={
            "event": "session",
            "url": receiver.url + "/3",
            "headers": {"X-Pictify-Signature": "1"},
        },
        headers=auth,
    )
    _problem(clash, "$.headers.X-Pictify-Signature")


def test_a_hook_keeps_its_scheme_when_the_deployment_changes_its_own(make_app, receiver):
    """The scheme is stored with the hook: restarting with another HOOKKIT_SIGNATURE_SCHEME
    changes what new hooks get, not how existing ones sign."""
    before = make_app(embedded_worker=False)
    auth = _key(before, "acme")
    hook = subscribe(before.test_client(), auth, receiver.url + "/old")
    client = make_app(signature_scheme="hex").test_client()
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json["signature"] == {
        "scheme": "standard-webhooks",
        "header": None,
    }
    newer = subscribe(client, auth, receiver.url + "/new")
    assert newer["signature"] == {"scheme": "hex", "header": "X-Signature"}
    publish(client, auth)
    requests = {r.path: r for r in receiver.wait_for(2)}
    verify_both(hook["secret"], requests["/old"].body.decode(), requests["/old"])
    assert requests["/new"].header("X-Signature") == hex_hmac(
        newer["secret"], requests["/new"].body
    )


def test_a_hook_made_before_the_format_columns_still_signs_standard_webhooks(
    database_url, make_app
):
    """A legacy hook (no signature, schedule or success stored) shows and keeps the defaults."""
    from .test_migrations import _load_legacy

    legacy = _load_legacy(database_url)
    client = make_app(signature_scheme="hex").test_client()  # the deployment's new default
    auth = {"Authorization": f"Bearer {legacy['key']}"}
    path = f"/v1/hooks/{legacy['hook_id']}"
    hook = client.get(path, headers=auth).json
    assert hook["signature"] == {"scheme": "standard-webhooks", "header": None}
    assert hook["retry_schedule"] is None and hook["success"] == "2xx"
    with Receiver() as receiver:
        assert (
            client.patch(path, json={"target_url": receiver.url}, headers=auth).status_code == 200
        )
        publish(client, auth)
        (request,) = receiver.wait_for(1)
    standardwebhooks.Webhook(legacy["secret"]).verify(
        request.body, lower(request.headers), json_parse=False
    )
    assert request.header("X-Signature") is None


# -- HOOKKIT_ENVELOPE ------------------------------------------------------------------------


def test_the_default_body_is_the_same_everywhere_a_body_is_shown_or_sent(make_app, receiver):
    """Samples, output fields, preview, test send and a real delivery all give the
    HOOKKIT_ENVELOPE body; a hook's own mapping still reads the standard envelope."""
    clock = ManualClock()
    app = make_app(clock=clock, **IMAGE_RENDERER)
    client, auth = app.test_client(), _key(app, "acme")
    expected_keys = ["data", "event", "timestamp"]

    (sample,) = client.get("/v1/event-types/render.completed/samples", headers=auth).json
    assert sorted(sample) == expected_keys
    assert sample["event"] == "render.completed" and sample["data"] == RENDER
    fields = client.get("/v1/event-types/render.completed", headers=auth).json["output_fields"]
    keys = {field["key"] for field in fields}
    assert {"event", "timestamp", "data__imageId", "data__variables__title"} <= keys
    assert not {"id", "type"} & keys
    preview = client.post(
        "/v1/mappings/preview", json={"event_type": "render.completed"}, headers=auth
    ).json["result"]
    assert preview == sample

    hook = subscribe(client, auth, receiver.url, event="render.completed")
    test = client.post(f"/v1/hooks/{hook['id']}/test", headers=auth)
    assert test.status_code == 200, test.json
    (sent,) = receiver.wait_for(1)
    assert sent.json() == sample  # the same clock: the same timestamp
    publish(client, auth, RENDER, type="render.completed")
    real = receiver.wait_for(2)[1].json()
    assert real == sample
    (latest,) = client.get("/v1/event-types/render.completed/samples", headers=auth).json
    assert latest == real  # the account's real event, in the same shape

    mapping = "{kind: type, id: id, width: data.width}"
    mapped = subscribe(
        client,
        auth,
        receiver.url + "/mapped",
        event="render.completed",
        mapping=mapping,
        custom_values={"source": "hookkit"},
    )
    publish(client, auth, RENDER, type="render.completed")
    wait_until(lambda: any(r.path == "/mapped" for r in receiver.requests))
    body = next(r for r in receiver.requests if r.path == "/mapped").json()
    assert body["kind"] == "render.completed" and body["id"].startswith("evt_")
    assert body["width"] == 1200 and body["source"] == "hookkit"
    shaped = client.get(
        f"/v1/event-types/render.completed/samples?hook_id={mapped['id']}", headers=auth
    ).json[0]
    assert sorted(shaped) == ["id", "kind", "source", "width"]
    previewed = client.post(
        "/v1/mappings/preview",
        json={"event_type": "render.completed", "mapping": mapping},
        headers=auth,
    ).json["result"]
    assert sorted(previewed) == ["id", "kind", "width"]


def test_a_flat_envelope_merges_the_type_into_the_data(make_app, receiver):
    """`merge({type: type}, data)` gives seed 001's flat body for every event type."""
    app = make_app(envelope="merge({type: type}, data)")
    client, auth = app.test_client(), _key(app, "acme")
    subscribe(client, auth, receiver.url)
    publish(client, auth)
    (request,) = receiver.wait_for(1)
    body = request.json()
    assert body["type"] == "session" and body["event_id"] == 1
    assert body["session"]["id"] == "abc123xyz" and "data" not in body


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("{event: type, data: data", "HOOKKIT_ENVELOPE"),
        ("data.session", "for the sample of 'batch.completed'"),
        ("data.width", "for the sample of 'batch.completed'"),
    ],
)
def test_an_envelope_that_fails_on_a_sample_stops_start_up(
    database_url, catalog, cli, expression, message
):
    """create_app raises ConfigError naming HOOKKIT_ENVELOPE (and the event type it fails
    on); `python -m connector check` prints the same as a CLI error."""
    config = {**FAST, "database_url": database_url, "envelope": expression}
    with pytest.raises(ConfigError) as raised:
        create_app(config, catalog=catalog)
    assert str(raised.value).startswith("HOOKKIT_ENVELOPE: ") and message in str(raised.value)
    result = cli("check", env={"HOOKKIT_ENVELOPE": expression})
    assert result.exit_code == 1
    assert "Error: HOOKKIT_ENVELOPE: " in result.output and message in result.output


def test_basic_auth_and_a_signature_in_authorization_cannot_be_combined(client, auth, receiver):
    """Basic auth sets Authorization, so a signature header of that name would replace it
    (or be replaced): 422 at $.signature.header, whichever of the two comes second."""
    basic = {"type": "basic", "username": "u", "password": "p"}
    in_authorization = {"scheme": "hex", "header": "authorization"}
    both = client.post(
        "/v1/hooks",
        json={
            "event": "session",
            "url": receiver.url,
            "auth": basic,
            "signature": in_authorization,
        },
        headers=auth,
    )
    assert "basic auth sets the Authorization header" in _problem(both, "$.signature.header")
    hook = subscribe(client, auth, receiver.url, signature=in_authorization)
    added = client.patch(f"/v1/hooks/{hook['id']}", json={"auth": basic}, headers=auth)
    _problem(added, "$.signature.header")
    with_auth = client.post(
        "/v1/hooks",
        json={"event": "session", "url": receiver.url + "/2", "auth": basic},
        headers=auth,
    ).json
    moved = client.patch(
        f"/v1/hooks/{with_auth['id']}", json={"signature": in_authorization}, headers=auth
    )
    _problem(moved, "$.signature.header")


@pytest.mark.parametrize(
    ("scheme", "header", "message"),
    [
        ("hex", "Content-Type", "is set by hookkit otherwise"),
        ("timestamped-hex", "webhook-id", "is set by hookkit otherwise"),
        ("standard-webhooks", "X-Signature", "has no header of its own"),
    ],
)
def test_a_deployment_signature_header_that_cannot_work_stops_start_up(
    database_url, catalog, scheme, header, message
):
    """HOOKKIT_SIGNATURE_HEADER obeys a hook's rules: create_app raises ConfigError naming it."""
    config = {
        **FAST,
        "database_url": database_url,
        "signature_scheme": scheme,
        "signature_header": header,
    }
    with pytest.raises(ConfigError, match=f"^HOOKKIT_SIGNATURE_HEADER='{header}': .*{message}"):
        create_app(config, catalog=catalog)
