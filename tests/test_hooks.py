"""REST-hook subscriptions through the HTTP API: aliases, idempotency, paging, isolation."""

from __future__ import annotations

import pytest

from .conftest import subscribe

ALIASES = ["target_url", "targetUrl", "hookUrl", "webhookUrl", "target", "url"]


@pytest.mark.parametrize("alias", ALIASES)
def test_subscribe_accepts_every_platform_alias(client, auth, alias):
    """Each platform's name for the target URL creates a hook with that URL."""
    response = client.post(
        "/v1/hooks",
        json={"event": "render.completed", alias: "http://127.0.0.1:9/hook"},
        headers=auth,
    )
    assert response.status_code == 201
    hook = response.json
    assert hook["target_url"] == "http://127.0.0.1:9/hook"
    assert hook["secret"].startswith("whsec_")
    assert response.headers["Location"].endswith(f"/v1/hooks/{hook['id']}")
    assert hook["status"] == "active"


def test_secret_is_shown_only_at_creation(client, auth):
    """GET and list never reveal the signing secret."""
    hook = subscribe(client, auth, "http://127.0.0.1:9/a")
    assert "secret" not in client.get(f"/v1/hooks/{hook['id']}", headers=auth).json
    listed = client.get("/v1/hooks", headers=auth).json["subscriptions"]
    assert all("secret" not in item for item in listed)


def test_subscribing_twice_returns_the_existing_hook(client, auth):
    """Same account, event and URL again answers 200 with the same id and no secret."""
    first = subscribe(client, auth, "http://127.0.0.1:9/same")
    again = client.post(
        "/v1/hooks", json={"event": "session", "hookUrl": "http://127.0.0.1:9/same"}, headers=auth
    )
    assert again.status_code == 200
    assert again.json["id"] == first["id"]
    assert "secret" not in again.json
    assert client.get("/v1/hooks", headers=auth).json["pagination"]["total"] == 1


def test_unsubscribe_twice_is_204_both_times(client, auth):
    """Zapier unsubscribes hooks that may already be gone: both calls answer 204."""
    hook = subscribe(client, auth, "http://127.0.0.1:9/x")
    assert client.delete(f"/v1/hooks/{hook['id']}", headers=auth).status_code == 204
    assert client.delete(f"/v1/hooks/{hook['id']}", headers=auth).status_code == 204
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).status_code == 404


def test_other_accounts_hooks_answer_404(client, auth, other_auth):
    """Another account's hook id is indistinguishable from an unknown one."""
    hook = subscribe(client, auth, "http://127.0.0.1:9/mine")
    path = f"/v1/hooks/{hook['id']}"
    assert client.get(path, headers=other_auth).status_code == 404
    assert client.patch(path, json={"status": "paused"}, headers=other_auth).status_code == 404
    assert client.delete(path, headers=other_auth).status_code == 404
    assert client.get(f"{path}/deliveries", headers=other_auth).status_code == 404
    assert client.post(f"{path}/test", headers=other_auth).status_code == 404
    assert client.post(f"{path}/rotate-secret", headers=other_auth).status_code == 404
    assert client.get("/v1/hooks", headers=other_auth).json["subscriptions"] == []
    assert client.get(path, headers=auth).status_code == 200


def test_list_pages_and_filters(client, auth):
    """Paging reports totals and has_next/has_prev; event, status and target_url filter."""
    for i in range(5):
        subscribe(client, auth, f"http://127.0.0.1:9/p{i}")
    subscribe(client, auth, "http://127.0.0.1:9/r", event="render.failed")
    paused = subscribe(client, auth, "http://127.0.0.1:9/paused")
    client.patch(f"/v1/hooks/{paused['id']}", json={"status": "paused"}, headers=auth)

    page = client.get("/v1/hooks?limit=3&page=2", headers=auth).json
    assert len(page["subscriptions"]) == 3
    assert page["pagination"] == {
        "page": 2,
        "limit": 3,
        "total": 7,
        "total_pages": 3,
        "has_next": True,
        "has_prev": True,
    }
    by_event = client.get("/v1/hooks?event=render.failed", headers=auth).json
    assert [h["target_url"] for h in by_event["subscriptions"]] == ["http://127.0.0.1:9/r"]
    by_status = client.get("/v1/hooks?status=paused", headers=auth).json
    assert [h["id"] for h in by_status["subscriptions"]] == [paused["id"]]
    by_url = client.get(
        "/v1/hooks", query_string={"target_url": "http://127.0.0.1:9/p3"}, headers=auth
    )
    assert by_url.json["pagination"]["total"] == 1


def test_pause_and_resume(client, auth):
    """PATCH status (or active) pauses and resumes a hook."""
    hook = subscribe(client, auth, "http://127.0.0.1:9/pr")
    path = f"/v1/hooks/{hook['id']}"
    assert client.patch(path, json={"status": "paused"}, headers=auth).json["status"] == "paused"
    assert client.patch(path, json={"active": True}, headers=auth).json["status"] == "active"


def test_subscribe_to_several_events(client, auth):
    """`events` subscribes one hook to a list of event types."""
    hook = subscribe(client, auth, "http://127.0.0.1:9/multi", events=["share", "survey"])
    del hook["secret"]
    assert hook["events"] == ["share", "survey"]
    listed = client.get("/v1/hooks?event=survey", headers=auth).json["subscriptions"]
    assert [h["id"] for h in listed] == [hook["id"]]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"target_url": "http://127.0.0.1:9/x"}, "$.event"),
        ({"event": "session"}, "$.target_url"),
        ({"event": "nope", "url": "http://127.0.0.1:9/x"}, "$.event"),
        ({"events": ["session", "nope"], "url": "http://127.0.0.1:9/x"}, "$.events[1]"),
        ({"event": "session", "url": 5}, "$.url"),
        ({"event": "session", "url": "http://127.0.0.1:9/x", "method": "PUT"}, "$.method"),
        (
            {"event": "session", "url": "http://127.0.0.1:9/x", "headers": {"Host": "x"}},
            "$.headers.Host",
        ),
        ({"event": "session", "url": "http://127.0.0.1:9/x", "auth": {"type": "basic"}}, "$.auth"),
        (
            {"event": "session", "url": "http://127.0.0.1:9/a", "hookUrl": "http://127.0.0.1:9/b"},
            "$.url",
        ),
    ],
)
def test_invalid_subscriptions_name_the_failing_field(client, auth, body, path):
    """Each invalid subscribe body is a 422 whose errors point at the field."""
    response = client.post("/v1/hooks", json=body, headers=auth)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] in ("validation_failed", "unsafe_target_url")
    assert path in [e["path"] for e in response.json["errors"]]
