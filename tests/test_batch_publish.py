"""Batch publish: `POST /v1/events/batch` and `emit_many`, checked per item, stored in one
transaction, delivered like single publishes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from connector import emit_many
from connector.service import Hookkit
from connector.store.tables import deliveries, events

from .conftest import SESSION, subscribe, wait_until


def _batch(client: Any, auth: dict[str, str], items: list[Any]) -> Any:
    return client.post("/v1/events/batch", json={"events": items}, headers=auth)


def _counts(app: Any) -> tuple[int, int]:
    with Hookkit.of(app).store.read() as conn:
        stored_events = conn.execute(select(func.count()).select_from(events)).scalar()
        stored_deliveries = conn.execute(select(func.count()).select_from(deliveries)).scalar()
    return stored_events, stored_deliveries


def test_a_batch_is_delivered_like_single_publishes(client, auth, receiver) -> None:
    subscribe(client, auth, receiver.url)
    items = [{"type": "session", "data": {**SESSION, "event_id": n}} for n in range(50)]
    answer = _batch(client, auth, items)
    assert answer.status_code == 200, answer.json
    assert (answer.json["accepted"], answer.json["failed"]) == (50, 0)
    ids = [result["id"] for result in answer.json["results"]]
    assert all(result["status"] == 202 for result in answer.json["results"])
    assert all(result["deliveries"] == 1 for result in answer.json["results"])
    arrived = receiver.wait_for(50)
    assert sorted(request.json()["id"] for request in arrived) == sorted(ids)


def test_invalid_items_answer_their_problem_and_store_nothing(app, client, auth, receiver):
    subscribe(client, auth, receiver.url)
    items = [
        {"type": "session", "data": SESSION},
        {"type": "no.such.type", "data": {}},
        {"type": "session", "data": {"event_id": "not a number"}},
        "not an object",
        {"type": "session", "data": SESSION, "id": ""},
    ]
    answer = _batch(client, auth, items)
    assert answer.status_code == 200
    results = answer.json["results"]
    assert [result["status"] for result in results] == [202, 422, 422, 422, 422]
    assert (answer.json["accepted"], answer.json["failed"]) == (1, 4)
    assert results[1]["errors"][0]["path"] == "$.events[1].type"
    assert any(e["path"].startswith("$.events[2].data") for e in results[2]["errors"])
    assert results[3]["errors"][0]["path"] == "$.events[3]"
    assert results[4]["errors"][0]["path"] == "$.events[4].id"
    assert results[1]["code"] == "validation_failed"
    assert _counts(app) == (1, 1)
    receiver.wait_for(1)


def test_ids_stay_idempotency_keys_per_item(app, client, auth, receiver) -> None:
    subscribe(client, auth, receiver.url)
    first = client.post(
        "/v1/events", json={"type": "session", "data": SESSION, "id": "a"}, headers=auth
    )
    items = [
        {"type": "session", "data": SESSION, "id": "a"},  # published before
        {"type": "session", "data": SESSION, "id": "b"},
        {"type": "session", "data": SESSION, "id": "b"},  # twice in this batch
    ]
    answer = _batch(client, auth, items)
    results = answer.json["results"]
    assert [result["status"] for result in results] == [200, 202, 200]
    assert results[0]["id"] == first.json["id"]
    assert results[1]["id"] == results[2]["id"]
    assert _counts(app) == (2, 2)
    again = _batch(client, auth, items)
    assert [result["status"] for result in again.json["results"]] == [200, 200, 200]
    assert _counts(app) == (2, 2)


def test_the_batch_itself_must_be_well_formed(client, auth) -> None:
    for body, path in (
        ({}, "$.events"),
        ({"events": []}, "$.events"),
        ({"events": "x"}, "$.events"),
        ({"events": [{"type": "session", "data": SESSION}] * 1001}, "$.events"),
    ):
        answer = client.post("/v1/events/batch", json=body, headers=auth)
        assert answer.status_code == 422, body
        assert answer.json["errors"][0]["path"] == path


def test_a_batch_needs_a_key(client) -> None:
    answer = client.post("/v1/events/batch", json={"events": []})
    assert answer.status_code == 401


def test_emit_many_answers_as_the_http_batch(app, client, auth, receiver) -> None:
    subscribe(client, auth, receiver.url)
    with app.app_context():
        answer = emit_many(
            [{"type": "session", "data": SESSION}, {"type": "session", "data": {}}], account="acme"
        )
    assert [result["status"] for result in answer["results"]] == [202, 422]
    (request,) = receiver.wait_for(1)
    assert request.json()["id"] == answer["results"][0]["id"]
    wait_until(lambda: _counts(app) == (1, 1))
