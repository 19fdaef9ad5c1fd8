"""Thin payloads: `payload: "thin"` sends `{id, type, timestamp, url}`, signed like any
body, and `url` fetches the full event with the account's API key."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from .conftest import SESSION, _key, publish, subscribe, verify_both
from .live import served


def _fetch(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    """GET `url` over real HTTP; the status and the JSON answer."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={**headers, "Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, json.loads(answer.read())


def test_thin_delivery_is_signed_and_its_url_fetches_the_event(app, auth, other_auth, receiver):
    """A thin hook receives exactly {id, type, timestamp, url}, Standard Webhooks signed; the
    url (under the address the hook was subscribed through) answers the full event with the
    account's key, and 404 with another account's key."""
    with served(app) as base:
        status, hook = _post(
            base + "/v1/hooks",
            {"event": "session", "target_url": receiver.url + "/thin", "payload": "thin"},
            auth,
        )
        assert status == 201 and hook["payload"] == "thin"
        _, published = _post(base + "/v1/events", {"type": "session", "data": SESSION}, auth)

        (request,) = receiver.wait_for(1)
        body = request.json()
        assert set(body) == {"id", "type", "timestamp", "url"}
        assert body["id"] == published["id"] and body["type"] == "session"
        assert body["url"] == f"{base}/v1/events/{published['id']}"
        verify_both(hook["secret"], request.body.decode(), request)

        status, event = _fetch(body["url"], auth)
        assert status == 200
        expected = {key: body[key] for key in ("id", "type", "timestamp")}
        assert event == {**expected, "data": SESSION}
        status, problem = _fetch(body["url"], other_auth)
        assert status == 404 and problem["code"] == "not_found"


def test_public_url_is_the_base_of_the_link(make_app, receiver):
    """With HOOKKIT_PUBLIC_URL set, thin bodies link under it, whatever address the
    subscribe came to."""
    app = make_app(public_url="https://hooks.example.com/base/")
    client, auth = app.test_client(), _key(app, "acme")
    subscribe(client, auth, receiver.url, payload="thin")
    published = publish(client, auth)
    (request,) = receiver.wait_for(1)
    assert request.json()["url"] == (f"https://hooks.example.com/base/v1/events/{published['id']}")


def test_patch_switches_between_thin_and_full(client, auth, receiver):
    """PATCH payload thin, then full: each delivery has the shape the hook had when sent."""
    hook = subscribe(client, auth, receiver.url)
    patched = client.patch(f"/v1/hooks/{hook['id']}", json={"payload": "thin"}, headers=auth)
    assert patched.status_code == 200 and patched.json["payload"] == "thin"
    publish(client, auth)
    first = receiver.wait_for(1)[0].json()
    assert "data" not in first and first["url"].endswith(f"/v1/events/{first['id']}")

    patched = client.patch(f"/v1/hooks/{hook['id']}", json={"payload": "full"}, headers=auth)
    assert patched.json["payload"] == "full"
    publish(client, auth)
    second = receiver.wait_for(2)[1].json()
    assert second["data"] == SESSION and "url" not in second


def test_put_leaving_payload_out_returns_it_to_full(client, auth, receiver):
    """PUT resets every setting it leaves out, payload included."""
    hook = subscribe(client, auth, receiver.url, payload="thin")
    replaced = client.put(
        f"/v1/hooks/{hook['id']}",
        json={"event": "session", "target_url": receiver.url},
        headers=auth,
    )
    assert replaced.status_code == 200 and replaced.json["payload"] == "full"


@pytest.mark.parametrize(
    "first, then, path",
    [
        ({"mapping": "{email: data.session.id}"}, {"payload": "thin"}, "$.payload"),
        ({"payload": "thin"}, {"mapping": "{email: data.session.id}"}, "$.mapping"),
    ],
)
def test_a_thin_hook_refuses_a_mapping(client, auth, receiver, first, then, path):
    """A thin body carries no data, so a mapping (which would silently do nothing) is a 422,
    whichever of the two comes first."""
    hook = subscribe(client, auth, receiver.url, **first)
    response = client.patch(f"/v1/hooks/{hook['id']}", json=then, headers=auth)
    assert response.status_code == 422
    assert response.json["errors"][0]["path"] == path


def test_unknown_payload_is_refused(client, auth, receiver):
    """Only full and thin exist."""
    body = {"event": "session", "target_url": receiver.url, "payload": "skinny"}
    response = client.post("/v1/hooks", json=body, headers=auth)
    assert response.status_code == 422 and response.json["errors"][0]["path"] == "$.payload"


def test_samples_and_fields_follow_the_thin_shape(client, auth, receiver):
    """performList (`samples?hook_id=`) and the output fields of a thin hook show the thin
    body, built from the account's real events; without hook_id the full envelope."""
    hook = subscribe(client, auth, receiver.url, payload="thin")
    published = publish(client, auth)
    receiver.wait_for(1)
    samples = client.get(f"/v1/event-types/session/samples?hook_id={hook['id']}", headers=auth).json
    assert samples == [
        {
            "id": published["id"],
            "type": "session",
            "timestamp": samples[0]["timestamp"],
            "url": f"http://localhost/v1/events/{published['id']}",
        }
    ]
    assert samples[0] == receiver.requests[0].json()
    fields = client.get(f"/v1/event-types/session?hook_id={hook['id']}", headers=auth).json
    assert sorted(f["key"] for f in fields["output_fields"]) == ["id", "timestamp", "type", "url"]
    full = client.get("/v1/event-types/session/samples", headers=auth).json
    assert full[0]["data"] == SESSION


def test_sample_of_a_thin_hook_without_events_is_thin(client, auth, receiver):
    """With no real events yet, the catalog sample is shown thin too."""
    hook = subscribe(client, auth, receiver.url, payload="thin")
    (sample,) = client.get(
        f"/v1/event-types/session/samples?hook_id={hook['id']}", headers=auth
    ).json
    assert set(sample) == {"id", "type", "timestamp", "url"}


def test_test_send_of_a_thin_hook_is_thin_and_its_url_resolves(client, auth, receiver):
    """A test send is thin like a delivery, and its url fetches the sample it sent."""
    hook = subscribe(client, auth, receiver.url, payload="thin")
    sent = client.post(f"/v1/hooks/{hook['id']}/test", headers=auth)
    assert sent.status_code == 200, sent.json
    body = receiver.wait_for(1)[0].json()
    assert set(body) == {"id", "type", "timestamp", "url"}
    verify_both(hook["secret"], receiver.requests[0].body.decode(), receiver.requests[0])
    fetched = client.get(body["url"], headers=auth)
    assert fetched.status_code == 200 and fetched.json["id"] == body["id"]
    assert (
        fetched.json["data"] == client.get("/v1/event-types/session", headers=auth).json["sample"]
    )


def test_thin_form_hook_sends_the_thin_fields(client, auth, receiver):
    """A form hook sends the same four fields, form-encoded."""
    subscribe(client, auth, receiver.url, payload="thin", content_type="form")
    published = publish(client, auth)
    form = receiver.wait_for(1)[0].form()
    assert set(form) == {"id", "type", "timestamp", "url"} and form["id"] == published["id"]


def test_event_lookup_is_account_scoped(client, auth, other_auth):
    """GET /v1/events/{id}: the account's event in full; another account's, or an unknown
    id, is 404."""
    published = publish(client, auth)
    mine = client.get(f"/v1/events/{published['id']}", headers=auth)
    assert mine.status_code == 200 and mine.json["data"] == SESSION
    for headers, event_id in ((other_auth, published["id"]), (auth, "evt_nope")):
        response = client.get(f"/v1/events/{event_id}", headers=headers)
        assert response.status_code == 404 and response.json["code"] == "not_found"


def test_thin_body_ignores_the_default_body_and_keeps_custom_values(make_app, receiver):
    """HOOKKIT_ENVELOPE shapes full bodies only: a thin hook still gets the four fields,
    plus its custom values, as on any body."""
    app = make_app(envelope="{event: type, data: data}")
    client, auth = app.test_client(), _key(app, "acme")
    subscribe(client, auth, receiver.url, payload="thin", custom_values={"source": "hk"})
    published = publish(client, auth)
    body = receiver.wait_for(1)[0].json()
    assert set(body) == {"id", "type", "timestamp", "url", "source"}
    assert body["id"] == published["id"] and body["source"] == "hk"
