"""Events through the API: idempotent publishing, the catalog, and sample polling."""

from __future__ import annotations

from .conftest import SESSION, publish, subscribe

NINE = {
    "render.completed",
    "render.failed",
    "batch.completed",
    "binding.updated",
    "binding.failed",
    "session",
    "share",
    "survey",
    "competition_win",
}


def test_catalog_lists_the_nine_seed_event_types(client, auth):
    """GET /v1/event-types lists every shipped type with title and description."""
    listed = client.get("/v1/event-types", headers=auth).json["event_types"]
    assert {t["name"] for t in listed} == NINE
    assert all(t["title"] and t["description"] for t in listed)


def test_event_type_shows_schema_and_sample(client, auth):
    """One event type carries its JSON Schema and a sample that satisfies it."""
    shown = client.get("/v1/event-types/render.completed", headers=auth).json
    assert shown["schema"]["$schema"].endswith("2020-12/schema")
    assert shown["sample"]["templateId"] == "tmpl_xyz789"


def test_same_idempotency_key_creates_one_event(client, auth, receiver):
    """Publishing twice with one `id` stores one event and sends one delivery."""
    subscribe(client, auth, receiver.url)
    first = client.post(
        "/v1/events", json={"type": "session", "data": SESSION, "id": "order-7"}, headers=auth
    )
    again = client.post(
        "/v1/events", json={"type": "session", "data": SESSION, "id": "order-7"}, headers=auth
    )
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json == again.json
    receiver.wait_for(1)
    assert len(client.get("/v1/events?type=session", headers=auth).json["events"]) == 1


def test_idempotency_keys_are_per_account(client, auth, other_auth):
    """Two accounts may use the same `id` without colliding."""
    body = {"type": "session", "data": SESSION, "id": "shared"}
    one = client.post("/v1/events", json=body, headers=auth).json
    two = client.post("/v1/events", json=body, headers=other_auth).json
    assert one["id"] != two["id"]


def test_samples_fall_back_to_the_catalog(client, auth):
    """With no events yet, the samples endpoint returns the catalog sample as an envelope."""
    samples = client.get("/v1/event-types/share/samples", headers=auth)
    assert samples.status_code == 200
    (only,) = samples.json
    assert only["type"] == "share" and only["id"] and only["timestamp"]
    assert only["data"]["share"]["type"] == "email"


def test_samples_are_recent_real_events_newest_first(client, auth, other_auth):
    """Real events of this account only, newest first, three by default."""
    ids = [publish(client, auth, {**SESSION, "event_id": n})["id"] for n in range(4)]
    publish(client, other_auth)
    samples = client.get("/v1/event-types/session/samples", headers=auth).json
    assert [s["id"] for s in samples] == ids[::-1][:3]
    assert [s["data"]["event_id"] for s in samples] == [3, 2, 1]
    assert len(client.get("/v1/event-types/session/samples?limit=10", headers=auth).json) == 4


def test_samples_match_what_a_hook_receives(client, auth, receiver):
    """The polled sample is byte-for-byte the JSON body a subscribed receiver got."""
    subscribe(client, auth, receiver.url)
    publish(client, auth)
    (request,) = receiver.wait_for(1)
    (sample,) = client.get("/v1/event-types/session/samples?limit=1", headers=auth).json
    assert sample == request.json()
