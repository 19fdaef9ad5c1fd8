"""The API's style for products that speak camelCase (seed 004): `HOOKKIT_JSON_CASE=camel`
answers, both spellings in requests, and `PUT /v1/hooks/{id}` replacing a hook's settings."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from connector.api.casing import OPAQUE
from connector.api.representations import SCHEMAS
from connector.testing import Receiver

from .conftest import SESSION, _key, all_delivered, publish, subscribe, wait_until
from .test_openapi import answer_schema, conforms

# Where answers carry user data, in camelCase spelling: nothing inside is ever renamed.
USER_DATA = {"data", "schema", "sample", "customValues", "headers", "filters", "result"}
# Keys that must reach the user exactly as given: camelCase-unfriendly on purpose.
CUSTOM = {"source_id": "booth_7", "direct_url": "https://example.com/x"}
HEADERS = {"X_Team_Id": "growth"}
FILTERS = {"session.direct_url": SESSION["session"]["direct_url"], "event_id": 1}
MAPPING = "{event_id: data.event_id, direct_url: data.session.direct_url, site: data.session}"


def camel_app(make_app, **overrides: Any):
    """A client and acme's headers for an app answering in camelCase."""
    app = make_app(json_case="camel", **overrides)
    return app.test_client(), _key(app, "acme")


def snake_members(value: Any, path: str = "$") -> list[str]:
    """Paths of every member named with an underscore, outside the user's data."""
    found = []
    if isinstance(value, dict):
        for name, inner in value.items():
            if "_" in name:
                found.append(f"{path}.{name}")
            if name not in USER_DATA:
                found += snake_members(inner, f"{path}.{name}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += snake_members(inner, f"{path}[{index}]")
    return found


def camel_only(response, status: int = 200) -> Any:
    """The JSON of a `status` answer, asserting no member of ours is in snake_case."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert snake_members(response.json) == [], response.json
    return response.json


def test_camel_answers_rename_every_member_but_user_data(make_app):
    """Subscribe, list, get, deliveries, test sends and events answer in camelCase at every
    level, while event data, delivered bodies, custom values, headers, filters, schemas and
    samples keep the user's keys."""
    client, auth = camel_app(make_app)
    with Receiver() as receiver:
        body = {
            "event": "session",
            "target_url": receiver.url,
            "custom_values": CUSTOM,
            "headers": HEADERS,
            "filters": FILTERS,
        }
        hook = camel_only(client.post("/v1/hooks", json=body, headers=auth), 201)
        assert hook["targetUrl"] == receiver.url and hook["deliveryCount"] == 0
        assert {"failureCount", "lastDeliveryAt", "createdAt", "logResponseBody"} <= set(hook)
        assert (hook["customValues"], hook["headers"], hook["filters"]) == (
            CUSTOM,
            HEADERS,
            FILTERS,
        )
        listed = camel_only(client.get("/v1/hooks?limit=1", headers=auth))
        assert listed["pagination"] == {
            "page": 1,
            "limit": 1,
            "total": 1,
            "totalPages": 1,
            "hasNext": False,
            "hasPrev": False,
        }
        assert listed["subscriptions"] == [{k: v for k, v in hook.items() if k != "secret"}]
        published = camel_only(
            client.post("/v1/events", json={"type": "session", "data": SESSION}, headers=auth), 202
        )
        (delivered,) = receiver.wait_for(1)
        assert delivered.json()["data"] == SESSION and delivered.json()["source_id"] == "booth_7"
        (logged,) = wait_until(lambda: all_delivered(client, auth, hook["id"], 1))
        got = camel_only(client.get(f"/v1/hooks/{hook['id']}", headers=auth))
        assert got["lastDelivery"]["deliveryId"] == logged["id"] and got["deliveryCount"] == 1
        page = camel_only(client.get(f"/v1/hooks/{hook['id']}/deliveries", headers=auth))
        (entry,) = page["deliveries"]
        assert (entry["eventId"], entry["subscriptionId"]) == (published["id"], hook["id"])
        assert entry["attempts"][0]["responseCode"] == 200 and "durationMs" in entry["attempts"][0]
        assert page["pagination"]["totalPages"] == 1
        one = camel_only(client.get(f"/v1/deliveries/{entry['id']}", headers=auth))
        assert one["lastResponseCode"] == 200 and one["attemptCount"] == 1
        test = camel_only(client.post(f"/v1/hooks/{hook['id']}/test", headers=auth))
        assert test["test"] is True and test["attempt"]["responseCode"] == 200
    events = camel_only(client.get("/v1/events", headers=auth))
    assert events["events"][0]["data"] == SESSION
    ifttt = camel_only(client.get("/v1/events?format=ifttt", headers=auth))
    assert ifttt["data"][0]["data"] == SESSION and "meta" in ifttt["data"][0]
    shaped = client.get(f"/v1/event-types/session/samples?hook_id={hook['id']}", headers=auth)
    assert shaped.status_code == 200
    assert shaped.json[0]["data"] == SESSION and shaped.json[0]["source_id"] == "booth_7"
    mapped = client.get(
        "/v1/event-types/session/samples", query_string={"mapping": MAPPING}, headers=auth
    )
    assert mapped.json[0] == {
        "event_id": 1,
        "direct_url": SESSION["session"]["direct_url"],
        "site": SESSION["session"],
    }
    event_type = camel_only(client.get("/v1/event-types/session", headers=auth))
    assert "event_id" in event_type["schema"]["properties"]
    assert event_type["sample"]["session"]["direct_url"] and event_type["outputFields"]
    assert "eventTypes" in camel_only(client.get("/v1/event-types", headers=auth))
    preview = client.post(
        "/v1/mappings/preview",
        json={"eventType": "session", "mapping": MAPPING, "customValues": CUSTOM},
        headers=auth,
    )
    result = camel_only(preview)["result"]
    assert result["event_id"] == 1 and result["source_id"] == "booth_7"
    assert "notificationEmail" in camel_only(client.get("/v1/account", headers=auth))


def test_camel_problems_keep_rfc_9457_names_and_convert_ours(make_app):
    """problem+json keeps type, title, status and detail, and names ours in camelCase."""
    client, auth = camel_app(make_app)
    first = subscribe(client, auth, "http://127.0.0.1:9/a")
    second = subscribe(client, auth, "http://127.0.0.1:9/b")
    for method in (client.patch, client.put):
        answer = method(
            f"/v1/hooks/{second['id']}",
            json={"event": "session", "targetUrl": "http://127.0.0.1:9/a"},
            headers=auth,
        )
        assert answer.mimetype == "application/problem+json"
        problem = camel_only(answer, 409)
        assert problem["code"] == "duplicate_subscription"
        assert problem["duplicateOf"] == first["id"]
        assert {"type", "title", "status", "detail", "errors"} <= set(problem)
    missing = camel_only(client.get("/v1/event-types/nope/samples", headers=auth), 404)
    assert missing["code"] == "not_found"


def test_camel_openapi_validates_and_describes_real_answers(make_app):
    """Under camel the OpenAPI document (and Swagger's) is valid, names the answers' members
    in camelCase (user data aside), and real camel answers validate against it."""
    client, auth = camel_app(make_app)
    document = client.get("/openapi.json").json
    validate(document)
    validate(client.get("/swagger.json").json)
    schemas = document["components"]["schemas"]
    assert schemas["Pagination"]["required"] == [
        "page",
        "limit",
        "total",
        "totalPages",
        "hasNext",
        "hasPrev",
    ]
    hook_members = schemas["Hook"]["properties"]
    assert {"targetUrl", "customValues", "lastDelivery", "createdAt"} <= set(hook_members)
    assert "target_url" not in hook_members and "targetUrl" in schemas["Hook"]["required"]
    assert "camelCase" in document["info"]["description"]
    with Receiver() as receiver:
        hook = subscribe(client, auth, receiver.url, custom_values=CUSTOM, headers=HEADERS)
        conforms(document, answer_schema(document, "/v1/hooks", "post", 201), hook)
        publish(client, auth)
        wait_until(lambda: all_delivered(client, auth, hook["id"], 1))
        checks = [
            ("/v1/hooks", "/v1/hooks", "get"),
            ("/v1/hooks/{hook_id}", f"/v1/hooks/{hook['id']}", "get"),
            ("/v1/hooks/{hook_id}/deliveries", f"/v1/hooks/{hook['id']}/deliveries", "get"),
            ("/v1/hooks/{hook_id}/test", f"/v1/hooks/{hook['id']}/test", "post"),
            ("/v1/events", "/v1/events", "get"),
            ("/v1/events", "/v1/events?format=ifttt", "get"),
            ("/v1/event-types/{name}", "/v1/event-types/session", "get"),
            ("/v1/event-types/{name}/samples", "/v1/event-types/session/samples", "get"),
            ("/v1/account", "/v1/account", "get"),
        ]
        for path, url, method in checks:
            answer = client.open(url, method=method.upper(), headers=auth)
            assert answer.status_code == 200, (url, answer.json)
            conforms(document, answer_schema(document, path, method, 200), answer.json)
        replaced = client.put(
            f"/v1/hooks/{hook['id']}",
            json={"event": "session", "targetUrl": receiver.url},
            headers=auth,
        )
        conforms(
            document, answer_schema(document, "/v1/hooks/{hook_id}", "put", 200), replaced.json
        )
    missing = client.get("/v1/hooks/hook_nope", headers=auth)
    conforms(document, answer_schema(document, "/v1/hooks/{hook_id}", "get", 404), missing.json)
    with pytest.raises(AssertionError):  # the camel description is strict about its names
        conforms(
            document,
            schemas["Pagination"],
            {
                "page": 1,
                "limit": 1,
                "total": 0,
                "total_pages": 0,
                "has_next": False,
                "has_prev": False,
            },
        )


def test_opaque_members_are_the_free_form_members_of_the_representations():
    """Every member the representations declare as a free-form object is left opaque, and
    every opaque name is such a member somewhere: the set is explicit and complete."""
    free_form = set()

    def walk(schema: Any) -> None:
        if isinstance(schema, dict):
            for name, member in schema.get("properties", {}).items():
                typed = member.get("type", "object")
                shaped = {"properties", "$ref", "items", "allOf", "oneOf", "anyOf", "enum", "const"}
                if "object" in typed and not shaped & set(member):
                    free_form.add(name)
            for value in schema.values():
                walk(value)
        elif isinstance(schema, list):
            for value in schema:
                walk(value)

    walk(SCHEMAS)
    assert free_form == set(OPAQUE)


@pytest.mark.parametrize("case", ["snake", "camel"])
def test_camel_requests_work_in_both_modes(make_app, case):
    """Body members and query parameters in camelCase are read as their snake_case names."""
    app = make_app(json_case=case)
    client, auth = app.test_client(), _key(app, "acme")
    name = (lambda snake: snake) if case == "snake" else _camel
    body = {
        "event": "session",
        "targetUrl": "http://127.0.0.1:9/camel",
        "customValues": {"source_id": 1},
        "logResponseBody": True,
        "rateLimit": 5,
        "expirationDate": "2030-01-01T00:00:00Z",
        "contentType": "form",
    }
    created = client.post("/v1/hooks", json=body, headers=auth)
    assert created.status_code == 201, created.json
    hook = created.json
    assert hook[name("custom_values")] == {"source_id": 1}
    assert hook[name("log_response_body")] is True and hook[name("rate_limit")] == 5
    assert hook[name("expiration_date")] == "2030-01-01T00:00:00.000Z"
    assert hook[name("content_type")] == "form"
    patched = client.patch(
        f"/v1/hooks/{hook['id']}", json={"rateLimit": 7, "logResponseBody": False}, headers=auth
    )
    assert (patched.json[name("rate_limit")], patched.json[name("log_response_body")]) == (7, False)
    for query in ("targetUrl", "target_url"):
        found = client.get(f"/v1/hooks?{query}=http://127.0.0.1:9/camel", headers=auth).json
        assert [h["id"] for h in found["subscriptions"]] == [hook["id"]]
    none = client.get("/v1/hooks?targetUrl=http://127.0.0.1:9/other", headers=auth).json
    assert none["subscriptions"] == []
    preview = client.post(
        "/v1/mappings/preview",
        json={"eventType": "session", "mapping": "{id: data.event_id}", "customValues": {"a_b": 2}},
        headers=auth,
    )
    assert preview.json == {"result": {"id": 1, "a_b": 2}}
    account = client.patch(
        "/v1/account", json={"notificationEmail": "ops@example.com"}, headers=auth
    )
    assert account.json[name("notification_email")] == "ops@example.com"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_both_spellings_must_agree(client, auth):
    """A body or query giving both spellings of one name with different values is a 422
    naming the field; the same value twice is fine, and target URL aliases keep their rule."""
    url = "http://127.0.0.1:9/both"
    conflicting = client.post(
        "/v1/hooks",
        json={"event": "session", "url": url, "rate_limit": 3, "rateLimit": 4},
        headers=auth,
    )
    assert conflicting.status_code == 422
    assert [e["path"] for e in conflicting.json["errors"]] == ["$.rate_limit"]
    assert "rateLimit" in conflicting.json["detail"]
    agreeing = client.post(
        "/v1/hooks",
        json={"event": "session", "url": url, "rate_limit": 3, "rateLimit": 3},
        headers=auth,
    )
    assert agreeing.status_code == 201 and agreeing.json["rate_limit"] == 3
    aliases = client.post(
        "/v1/hooks",
        json={"event": "session", "target_url": url, "targetUrl": "http://127.0.0.1:9/x"},
        headers=auth,
    )
    assert aliases.status_code == 422
    assert [e["path"] for e in aliases.json["errors"]] == ["$.targetUrl"]
    query = client.get(f"/v1/hooks?target_url={url}&targetUrl=http://127.0.0.1:9/x", headers=auth)
    assert query.status_code == 422
    assert [e["path"] for e in query.json["errors"]] == ["$.query.target_url"]
    same = client.get(f"/v1/hooks?target_url={url}&targetUrl={url}", headers=auth)
    assert same.status_code == 200 and len(same.json["subscriptions"]) == 1


def _settings(hook: dict[str, Any]) -> dict[str, Any]:
    """A hook's settings: what a PUT replaces (not its identity, target, counts or times)."""
    state = {"id", "target_url", "delivery_count", "failure_count", "last_delivery_at"}
    state |= {"last_delivery", "created_at", "updated_at", "secret"}
    return {name: value for name, value in hook.items() if name not in state}


def test_put_returns_every_absent_setting_to_its_default(client, auth):
    """PUT keeps what the body gives and resets everything else as on a fresh subscribe,
    while the secret stays the same."""
    url = "http://127.0.0.1:9/put"
    hook = subscribe(
        client,
        auth,
        url,
        events=["session", "share"],
        platform="make",
        description="Blog cards",
        method="GET",
        content_type="form",
        headers=HEADERS,
        custom_values=CUSTOM,
        mapping="{id: id}",
        filter="data",
        filters={"event_id": 1},
        log_response_body=True,
        rate_limit=3,
        expiration_date="2030-01-01T00:00:00Z",
        status="paused",
    )
    replaced = client.put(
        f"/v1/hooks/{hook['id']}", json={"event": "share", "hookUrl": url}, headers=auth
    )
    assert replaced.status_code == 200, replaced.json
    assert "secret" not in replaced.json  # answered like a PATCH
    fresh = subscribe(client, auth, "http://127.0.0.1:9/fresh", event="share")
    assert _settings(replaced.json) == _settings(fresh)
    assert replaced.json["status"] == "active" and replaced.json["events"] == ["share"]
    assert client.get(f"/v1/hooks/{hook['id']}", headers=auth).json == replaced.json
    again = client.post("/v1/hooks", json={"event": "share", "target_url": url}, headers=auth)
    assert again.status_code == 200 and again.json["id"] == hook["id"]
    assert again.json["secret"] == hook["secret"]
    kept = client.put(
        f"/v1/hooks/{hook['id']}",
        json={"event": "share", "url": url, "platform": "zapier", "customValues": {"k": 1}},
        headers=auth,
    )
    assert kept.json["rate_limit"] == 30 and kept.json["custom_values"] == {"k": 1}


def test_put_requires_event_and_target_like_subscribe(client, auth, other_auth):
    """A PUT without a target URL or an event is a 422 that changes nothing; another
    account's hook is a 404 like an unknown one."""
    hook = subscribe(client, auth, "http://127.0.0.1:9/keep", description="kept")
    path = f"/v1/hooks/{hook['id']}"
    no_target = client.put(path, json={"event": "session", "description": "x"}, headers=auth)
    assert no_target.status_code == 422
    assert [e["path"] for e in no_target.json["errors"]] == ["$.target_url"]
    no_event = client.put(path, json={"url": "http://127.0.0.1:9/keep"}, headers=auth)
    assert no_event.status_code == 422
    assert [e["path"] for e in no_event.json["errors"]] == ["$.event"]
    assert client.get(path, headers=auth).json["description"] == "kept"
    body = {"event": "session", "url": "http://127.0.0.1:9/keep"}
    foreign = client.put(path, json=body, headers=other_auth)
    assert foreign.status_code == 404 and foreign.json["code"] == "not_found"
    assert client.put("/v1/hooks/hook_nope", json=body, headers=auth).status_code == 404


def test_put_that_duplicates_another_live_hook_is_a_conflict(client, auth):
    """A PUT giving another live hook's events and URL is a 409 duplicate_subscription."""
    first = subscribe(client, auth, "http://127.0.0.1:9/one")
    second = subscribe(client, auth, "http://127.0.0.1:9/two", description="second")
    answer = client.put(
        f"/v1/hooks/{second['id']}",
        json={"event": "session", "target_url": "http://127.0.0.1:9/one"},
        headers=auth,
    )
    assert answer.status_code == 409 and answer.json["code"] == "duplicate_subscription"
    assert answer.json["duplicate_of"] == first["id"]
    shown = client.get(f"/v1/hooks/{second['id']}", headers=auth).json
    assert (shown["target_url"], shown["description"]) == ("http://127.0.0.1:9/two", "second")


def test_json_case_is_snake_or_camel(make_app):
    """Any other HOOKKIT_JSON_CASE stops the app from starting, naming the variable."""
    with pytest.raises(ValueError, match="HOOKKIT_JSON_CASE"):
        make_app(json_case="kebab")
