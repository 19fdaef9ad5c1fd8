"""Polling triggers: `GET /v1/events` as Make's id and date triggers and IFTTT read it."""

from __future__ import annotations

from datetime import datetime

import pytest

from .conftest import SESSION, publish, subscribe


def _events(client, auth, query: str = "") -> list[dict]:
    response = client.get(f"/v1/events?{query}", headers=auth)
    assert response.status_code == 200, response.json
    return response.json["events"]


@pytest.fixture
def published(client, auth) -> list[str]:
    """Ids of three session events and one share event, in publishing order."""
    ids = [publish(client, auth, {**SESSION, "event_id": n})["id"] for n in (1, 2, 3)]
    share = {**SESSION, "share": {"id": "s1", "type": "email", "value": "guest@example.com"}}
    share["data_capture"] = {"sections": []}
    ids.append(publish(client, auth, share, type="share")["id"])
    return ids


def test_events_are_listed_newest_first_with_id_and_iso_timestamp(client, auth, published):
    """Each item is an envelope with its `id` and an ISO-8601 `timestamp`, newest first."""
    listed = _events(client, auth, "type=session")
    assert [e["id"] for e in listed] == published[2::-1]
    assert [e["data"]["event_id"] for e in listed] == [3, 2, 1]
    for event in listed:
        assert list(event) == ["id", "type", "timestamp", "data"]
        assert event["timestamp"].endswith("Z")
        assert datetime.fromisoformat(event["timestamp"]).tzinfo is not None
    assert [e["id"] for e in _events(client, auth)] == published[::-1]


def test_since_id_lists_only_later_events(client, auth, published):
    """`since_id` gives what came after that event, as Make's id trigger asks."""
    assert [e["id"] for e in _events(client, auth, f"since_id={published[0]}")] == [
        published[3],
        published[2],
        published[1],
    ]
    assert _events(client, auth, f"since_id={published[3]}") == []


def test_since_lists_only_events_with_a_later_timestamp(client, auth, published):
    """`since` keeps events with a later timestamp: passing back the newest seen repeats none."""
    listed = _events(client, auth)
    newest_seen = listed[2]["timestamp"]
    later = [e["id"] for e in listed if e["timestamp"] > newest_seen]
    assert [e["id"] for e in _events(client, auth, f"since={newest_seen}")] == later
    assert _events(client, auth, f"since={listed[0]['timestamp']}") == []
    assert len(_events(client, auth, "since=2001-02-03T04:05:06%2B01:00")) == 4
    assert len(_events(client, auth, "since=2001-02-03T04:05:06+01:00")) == 4  # "+" as a space


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("since=yesterday", "$.query.since"),
        ("since=2026-13-01T00:00:00Z", "$.query.since"),
        ("since=1706520600", "$.query.since"),
        ("limit=301", "$.query.limit"),
        ("limit=0", "$.query.limit"),
        ("limit=ten", "$.query.limit"),
        ("type=render.finished", "$.query.type"),
        ("format=rss", "$.query.format"),
    ],
)
def test_bad_polling_queries_are_refused(client, auth, query, path):
    """A malformed `since`, `limit` over 300 (Make's epoch limit) or unknown type is a 422."""
    response = client.get(f"/v1/events?{query}", headers=auth)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert [e["path"] for e in response.json["errors"]] == [path]


def test_limit_caps_the_page_at_up_to_300(client, auth, published):
    """`limit` keeps the newest events; 300 is accepted."""
    assert [e["id"] for e in _events(client, auth, "limit=2")] == published[:1:-1]
    assert len(_events(client, auth, "limit=300")) == 4


def test_ifttt_format_wraps_the_same_events_with_meta(client, auth, published):
    """`format=ifttt` gives `{"data": [...]}`, each with `meta.id` and a UNIX `meta.timestamp`."""
    plain = _events(client, auth, "type=session&limit=2")
    response = client.get("/v1/events?type=session&limit=2&format=ifttt", headers=auth)
    assert response.status_code == 200
    items = response.json["data"]
    assert [{k: v for k, v in item.items() if k != "meta"} for item in items] == plain
    for item in items:
        assert item["meta"]["id"] == item["id"]
        moment = datetime.fromisoformat(item["timestamp"])
        assert item["meta"]["timestamp"] == int(moment.timestamp())


@pytest.mark.parametrize("query", ["", "format=ifttt"])
def test_test_sends_never_appear(client, auth, receiver, query):
    """Events created by `POST /v1/hooks/{id}/test` are not real and are never polled."""
    hook = subscribe(client, auth, receiver.url)
    assert client.post(f"/v1/hooks/{hook['id']}/test", headers=auth).status_code == 200
    receiver.wait_for(1)
    response = client.get(f"/v1/events?{query}", headers=auth).json
    assert response in ({"events": []}, {"data": []})


def test_another_accounts_events_are_not_listed(client, auth, other_auth, published):
    """Polling sees only the caller's account."""
    assert _events(client, other_auth) == []
    assert _events(client, other_auth, f"since_id={published[0]}") == []
