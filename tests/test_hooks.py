"""REST-hook subscriptions through the HTTP API: aliases, idempotency, paging, isolation."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connector.testing import Receiver, Reply
from connector.wire.body import render

from .conftest import publish, subscribe
from .test_log import hook_of, publish_and_settle
from .test_options import api

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
    """Same account, event and URL again answers 200 with the same hook and the same secret."""
    first = subscribe(client, auth, "http://127.0.0.1:9/same")
    again = client.post(
        "/v1/hooks", json={"event": "session", "hookUrl": "http://127.0.0.1:9/same"}, headers=auth
    )
    assert again.status_code == 200
    assert again.json["id"] == first["id"]
    assert again.json["secret"] == first["secret"]
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


# -- field rules that span several fields or hooks ---------------------------------------------


def _subscribe_or_update(client, auth, via: str, fields: dict[str, Any]):
    """POST a new session hook with `fields`, or PATCH them into an existing one."""
    if via == "subscribe":
        body = {"event": "session", "target_url": "http://127.0.0.1:9/new", **fields}
        return client.post("/v1/hooks", json=body, headers=auth)
    hook = subscribe(client, auth, "http://127.0.0.1:9/old")
    return client.patch(f"/v1/hooks/{hook['id']}", json=fields, headers=auth)


def _refused_at(response, path: str, code: str = "validation_failed") -> None:
    assert response.status_code == 422, response.json
    assert response.json["code"] == code
    assert [e["path"] for e in response.json["errors"]] == [path]


@pytest.mark.parametrize("via", ["subscribe", "update"])
@pytest.mark.parametrize(
    "date",
    [
        "9999-12-31T23:59:59-01:00",  # year 10000 in UTC
        "0001-01-01T00:00:00+01:00",  # year 0 in UTC
        "1969-12-31T23:59:59Z",
        "0001-01-01T00:00:00",
    ],
)
def test_expiration_dates_outside_1970_to_9999_are_refused(client, auth, via, date):
    """An expiration date whose UTC year is outside 1970-9999 is a 422; the hooks stay listable."""
    response = _subscribe_or_update(client, auth, via, {"expiration_date": date})
    _refused_at(response, "$.expiration_date")
    assert "1970" in response.json["errors"][0]["message"]
    assert client.get("/v1/hooks", headers=auth).status_code == 200


BASIC = {"type": "basic", "username": "u", "password": "p"}
BEARER = {"Authorization": "Bearer abc"}


@pytest.mark.parametrize(
    ("created", "change"),
    [
        ({"auth": BASIC, "headers": BEARER}, None),
        ({"headers": BEARER}, {"auth": BASIC}),
        ({"auth": BASIC}, {"headers": {"X-Team": "growth", **BEARER}}),
    ],
)
def test_basic_auth_and_an_authorization_header_are_refused_together(client, auth, created, change):
    """Basic auth would replace a custom Authorization header: the pair is a 422, also by PATCH."""
    body = {"event": "session", "target_url": "http://127.0.0.1:9/auth", **created}
    response = client.post("/v1/hooks", json=body, headers=auth)
    if change is not None:
        assert response.status_code == 201, response.json
        response = client.patch(f"/v1/hooks/{response.json['id']}", json=change, headers=auth)
    _refused_at(response, "$.headers.Authorization")


@pytest.mark.parametrize(
    ("url", "event", "change"),
    [
        ("http://127.0.0.1:9/b", "session", {"target_url": "http://127.0.0.1:9/a"}),
        ("http://127.0.0.1:9/a", "share", {"event": "session"}),
        (
            "http://127.0.0.1:9/b",
            "share",
            {"events": ["session"], "hookUrl": "http://127.0.0.1:9/a"},
        ),
    ],
)
def test_moving_a_hook_onto_another_hooks_event_and_url_is_a_conflict(
    client, auth, url, event, change
):
    """A PATCH giving a hook the event and URL of another live hook is a 409 naming that hook."""
    first = subscribe(client, auth, "http://127.0.0.1:9/a")
    second = subscribe(client, auth, url, event=event)
    path = f"/v1/hooks/{second['id']}"
    response = client.patch(path, json=change, headers=auth)
    assert response.status_code == 409, response.json
    assert response.json["code"] == "duplicate_subscription"
    assert first["id"] in response.json["detail"]
    shown = client.get(path, headers=auth).json
    assert (shown["target_url"], shown["events"]) == (url, [event])


def test_concurrent_identical_subscribes_create_one_hook(app, auth):
    """Eight identical subscribes at once create one hook: one 201, seven 200 with its id."""
    body = {"event": "session", "target_url": "http://127.0.0.1:9/race"}
    start = threading.Barrier(8)

    def post(_: int) -> Any:
        client = app.test_client()
        start.wait()
        return client.post("/v1/hooks", json=body, headers=auth)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json["id"] for r in responses}) == 1
    listed = app.test_client().get("/v1/hooks", headers=auth).json
    assert listed["pagination"]["total"] == 1


def test_resuming_a_paused_failed_hook_clears_its_failure_streak(make_app):
    """A failed hook paused, then resumed, starts a new streak: one failure leaves it active."""
    client, auth = api(make_app, failure_threshold=2, retry_schedule="")
    with Receiver([Reply(500)]) as receiver:
        hook = subscribe(client, auth, receiver.url)
        for count in (1, 2):
            publish_and_settle(client, auth, hook, count)
        assert hook_of(client, auth, hook)["status"] == "failed"
        path = f"/v1/hooks/{hook['id']}"
        for status in ("paused", "active"):
            patched = client.patch(path, json={"status": status}, headers=auth)
            assert patched.json["status"] == status
        publish_and_settle(client, auth, hook, 3)
    assert hook_of(client, auth, hook)["status"] == "active"


def test_checking_a_patched_mapping_does_not_hold_up_publishing(app, client, auth, monkeypatch):
    """Events publish while a PATCH is still trying its mapping on the samples."""
    hook = subscribe(client, auth, "http://127.0.0.1:9/x")
    checking, published = threading.Event(), threading.Event()
    waited: list[bool] = []

    def render_after_publishing(spec: Any, env: Any) -> Any:
        checking.set()
        waited.append(published.wait(5))
        return render(spec, env)

    monkeypatch.setattr("connector.hooks.fields.render", render_after_publishing)
    patch = {"mapping": "{id: data.session.id}"}
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            app.test_client().patch, f"/v1/hooks/{hook['id']}", json=patch, headers=auth
        )
        assert checking.wait(5)
        assert publish(client, auth)["deliveries"] == 1
        published.set()
        assert pending.result().status_code == 200
    assert waited == [True]


def test_a_long_non_ascii_target_url_subscribes(client, auth):
    """A URL of 2,000 varied non-ASCII characters fits the index that keeps hooks unique."""
    path = "".join(chr(0x4E00 + index * 7919 % 20000) for index in range(2000))
    hook = subscribe(client, auth, f"http://127.0.0.1:9/{path}")
    again = client.post(
        "/v1/hooks", json={"event": "session", "url": hook["target_url"]}, headers=auth
    )
    assert (again.status_code, again.json["id"]) == (200, hook["id"])
