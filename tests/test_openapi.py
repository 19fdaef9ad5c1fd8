"""The API description: OpenAPI 3.1 and Swagger 2.0 generated from the routes and the
catalog, valid, complete, and true to what the API answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from connector.platforms.openapi import UNDOCUMENTED
from connector.testing import Receiver

from .conftest import SESSION, publish, subscribe, wait_until


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json  # type: ignore[no-any-return]


def conforms(document: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """Validate `value` against `schema`, whose `$ref`s point into the document."""
    root = {"components": document["components"], **schema}
    errors = sorted(Draft202012Validator(root).iter_errors(value), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def answer_schema(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    response = document["paths"][path][method]["responses"][str(status)]
    content = response["content"]
    media = "application/json" if "application/json" in content else next(iter(content))
    return content[media]["schema"]


def test_both_documents_validate(client, document):
    """/openapi.json is valid OpenAPI 3.1 and /swagger.json valid Swagger 2.0 under 1 MB."""
    validate(document)
    swagger = client.get("/swagger.json")
    assert swagger.status_code == 200
    validate(swagger.json)
    assert len(swagger.data) < 1_000_000
    assert document["openapi"] == "3.1.0" and swagger.json["swagger"] == "2.0"


def test_every_route_is_documented_and_every_operation_exists(app, document):
    """The document lists exactly the app's routes and methods, in both directions."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED:
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented == routes
    adapter = app.url_map.bind("localhost")
    for path, method in documented:
        concrete = path.replace("{", "x").replace("}", "")
        adapter.match(concrete, method=method.upper())  # raises if no route answers it
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_errors_and_security_are_described(document):
    """Authenticated operations name both key schemes and answer 401; bodies may give 422."""
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["apiKey"]["name"] == "X-API-Key"
    create = document["paths"]["/v1/hooks"]["post"]
    assert "security" not in create  # the document's default: an API key
    assert {"400", "401", "413", "415", "422"} <= set(create["responses"])
    assert "unsafe_target_url" in create["responses"]["422"]["description"]
    assert "application/problem+json" in create["responses"]["401"]["content"]
    retry = document["paths"]["/v1/deliveries/{delivery_id}/retry"]["post"]
    assert "delivery_in_flight" in retry["responses"]["409"]["description"]
    assert document["paths"]["/healthz"]["get"]["security"] == []


def test_metrics_names_its_own_token_and_connectors_offer_only_api_calls(make_app):
    """/metrics wants HOOKKIT_METRICS_TOKEN, not an API key and not nothing: the document
    says so, and the real endpoint agrees. The Swagger document (Power Automate's connector)
    leaves out what a flow never calls: health, readiness, metrics, the documents, e-mail
    links."""
    client = make_app(metrics_token="scrape-me").test_client()
    document = client.get("/openapi.json").json
    scrape = document["paths"]["/metrics"]["get"]
    assert scrape["security"] == [{"metricsToken": []}]
    scheme = document["components"]["securitySchemes"]["metricsToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert client.get("/metrics").status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert ok.status_code == 200 and b"hookkit_" in ok.data
    paths = client.get("/swagger.json").json["paths"]
    left_out = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/swagger.json"]
    assert not set(left_out) & set(paths), sorted(paths)
    assert not [path for path in paths if path.startswith("/actions")], sorted(paths)
    assert {"/v1/hooks", "/v1/events", "/v1/hooks/{hook_id}"} <= set(paths)


def test_retry_and_rate_limit_headers_are_described(client, auth, document):
    """The headers the API sends on 429/503 and on every authenticated answer are in both
    documents, and really sent."""
    create = document["paths"]["/v1/hooks"]["post"]["responses"]
    for status in ("201", "429", "503"):
        assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(
            create[status]["headers"]
        ), status
    assert "Retry-After" in create["429"]["headers"] and "Retry-After" in create["503"]["headers"]
    assert "Retry-After" not in create.get("422", {}).get("headers", {})
    health = document["paths"]["/healthz"]["get"]["responses"]
    assert all("RateLimit-Limit" not in r.get("headers", {}) for r in health.values())
    swagger = client.get("/swagger.json").json
    assert "Retry-After" in swagger["paths"]["/v1/hooks"]["post"]["responses"]["429"]["headers"]
    sent = client.get("/v1/hooks", headers=auth)
    listed = document["paths"]["/v1/hooks"]["get"]["responses"]["200"]["headers"]
    assert {name for name in listed if name.startswith("RateLimit")} <= set(sent.headers.keys())


def test_answers_match_their_documented_schemas(client, auth, document):
    """Real answers of the main operations validate against the schemas the document gives."""
    with Receiver() as receiver:
        hook = subscribe(client, auth, receiver.url)
        conforms(document, answer_schema(document, "/v1/hooks", "post", 201), hook)
        again = client.post(
            "/v1/hooks", json={"event": "session", "target_url": receiver.url}, headers=auth
        )
        conforms(document, answer_schema(document, "/v1/hooks", "post", 200), again.json)
        published = publish(client, auth)
        conforms(document, answer_schema(document, "/v1/events", "post", 202), published)
        wait_until(lambda: receiver.requests)
        checks = [
            ("/v1/hooks", "/v1/hooks?event=session", "get", 200),
            ("/v1/hooks/{hook_id}", f"/v1/hooks/{hook['id']}", "get", 200),
            ("/v1/hooks/{hook_id}/deliveries", f"/v1/hooks/{hook['id']}/deliveries", "get", 200),
            ("/v1/events", "/v1/events", "get", 200),
            ("/v1/events", "/v1/events?format=ifttt", "get", 200),
            ("/v1/event-types", "/v1/event-types", "get", 200),
            ("/v1/event-types/{name}", "/v1/event-types/session", "get", 200),
            ("/v1/event-types/{name}/samples", "/v1/event-types/session/samples", "get", 200),
            ("/v1/account", "/v1/account", "get", 200),
            ("/healthz", "/healthz", "get", 200),
        ]
        for path, url, method, status in checks:
            response = client.open(url, method=method.upper(), headers=auth)
            assert response.status_code == status, (url, response.json)
            conforms(document, answer_schema(document, path, method, status), response.json)
        test = client.post(f"/v1/hooks/{hook['id']}/test", headers=auth)
        conforms(
            document, answer_schema(document, "/v1/hooks/{hook_id}/test", "post", 200), test.json
        )
        delivery_id = test.json["id"]
        one = client.get(f"/v1/deliveries/{delivery_id}", headers=auth)
        path = "/v1/deliveries/{delivery_id}"
        conforms(document, answer_schema(document, path, "get", 200), one.json)
        patched = client.patch(f"/v1/hooks/{hook['id']}", json={"status": "paused"}, headers=auth)
        conforms(
            document, answer_schema(document, "/v1/hooks/{hook_id}", "patch", 200), patched.json
        )
        rotated = client.post(f"/v1/hooks/{hook['id']}/rotate-secret", headers=auth)
        path = "/v1/hooks/{hook_id}/rotate-secret"
        conforms(document, answer_schema(document, path, "post", 200), rotated.json)
        preview = client.post(
            "/v1/mappings/preview", json={"event_type": "session", "mapping": "data"}, headers=auth
        )
        conforms(
            document, answer_schema(document, "/v1/mappings/preview", "post", 200), preview.json
        )
        missing = client.get("/v1/hooks/hook_nope", headers=auth)
        conforms(document, answer_schema(document, "/v1/hooks/{hook_id}", "get", 404), missing.json)


def test_webhooks_describe_what_receivers_get(client, auth, document):
    """One webhook per event type; a real delivery's body and headers match its entry."""
    names = [t["name"] for t in client.get("/v1/event-types", headers=auth).json["event_types"]]
    assert sorted(document["webhooks"]) == sorted(names)
    entry = document["webhooks"]["session"]["post"]
    headers = {p["name"] for p in entry["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    body_schema = entry["requestBody"]["content"]["application/json"]["schema"]
    with Receiver() as receiver:
        subscribe(client, auth, receiver.url)
        publish(client, auth, SESSION)
        (delivered,) = wait_until(lambda: receiver.requests)
    conforms(document, body_schema, delivered.json())
    assert headers <= {name.lower() for name in delivered.headers}
    wrong = {**delivered.json(), "data": {"event_id": "not a number"}}
    with pytest.raises(AssertionError):
        conforms(document, body_schema, wrong)


def test_swagger_subscribe_is_a_power_automate_trigger(client):
    """The subscribe operation is a webhook trigger whose callback URL Power Automate fills."""
    swagger = client.get("/swagger.json").json
    create = swagger["paths"]["/v1/hooks"]["post"]
    assert create["x-ms-trigger"] == "single"
    (body,) = [p for p in create["parameters"] if p["in"] == "body"]
    target = body["schema"]["properties"]["target_url"]
    assert target["x-ms-notification-url"] is True and target["x-ms-visibility"] == "internal"
    assert "session" in body["schema"]["properties"]["event"]["enum"]
    assert "hookUrl" not in body["schema"]["properties"]
    assert "Location" in create["responses"]["201"]["headers"]
    notification = swagger["paths"]["/v1/hooks"]["x-ms-notification-content"]
    assert notification["schema"]["properties"]["data"]
    assert "delete" in swagger["paths"]["/v1/hooks/{hook_id}"]


def test_documents_are_deterministic(client):
    """The same app and catalog give the same bytes every time."""
    first = json.dumps(client.get("/openapi.json").json, sort_keys=True)
    assert first == json.dumps(client.get("/openapi.json").json, sort_keys=True)
    second = json.dumps(client.get("/swagger.json").json, sort_keys=True)
    assert second == json.dumps(client.get("/swagger.json").json, sort_keys=True)


def test_reference_page_is_served_from_local_assets(client):
    """/docs renders Swagger UI from assets this server sends itself, never from a CDN."""
    page = client.get("/docs/")
    assert page.status_code == 200 and b"swagger-ui" in page.data
    assert b"https://" not in page.data and b"http://" not in page.data.replace(
        b"http://localhost", b""
    )
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        response = client.get(f"/docs/{asset}")
        assert response.status_code == 200 and len(response.data) > 10_000
