"""Bad input gets problem+json with a stable code and a path, never a 500."""

from __future__ import annotations

import pytest
from flask import Response

from connector import errors
from connector.api.problems import with_retry_after
from connector.errors import (
    DatabaseUnavailable,
    HookkitError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
)

from .conftest import SESSION, _key


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["code"] == code and body["status"] == status
    assert body["title"] and body["detail"]
    return body


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer hk_wrong"}, {"X-API-Key": "nope"}, {"Authorization": "Basic x"}],
)
def test_missing_or_bad_keys_are_401(client, headers):
    """Every /v1 call needs a valid key, as Bearer or X-API-Key."""
    _problem(client.get("/v1/hooks", headers=headers), 401, "unauthorized")


def test_x_api_key_header_authenticates(client, auth):
    """`X-API-Key: KEY` is accepted like `Authorization: Bearer KEY`."""
    key = auth["Authorization"].split(" ", 1)[1]
    assert client.get("/v1/hooks", headers={"X-API-Key": key}).status_code == 200


def test_malformed_json_is_400(client, auth):
    """A body that is not JSON names the parser's complaint."""
    response = client.post(
        "/v1/events", data="{not json", headers={**auth, "Content-Type": "application/json"}
    )
    assert "not valid JSON" in _problem(response, 400, "malformed_json")["detail"]


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "session", "data": NaN}',
        '{"a": Infinity}',
        '{"type": "session", "data": {"event_id": 1e400}}',
        "[" * 5000 + "]" * 5000,
    ],
)
def test_non_json_constants_and_deep_nesting_are_400(client, auth, raw):
    """NaN, Infinity and pathological nesting are malformed JSON, not a crash."""
    headers = {**auth, "Content-Type": "application/json"}
    _problem(client.post("/v1/events", data=raw, headers=headers), 400, "malformed_json")


def test_wrong_content_type_is_415(client, auth):
    """Only JSON bodies are accepted."""
    response = client.post(
        "/v1/hooks", data="event=session", headers={**auth, "Content-Type": "text/plain"}
    )
    _problem(response, 415, "unsupported_media_type")


def test_non_object_body_is_422(client, auth):
    """A JSON array where an object belongs fails at path `$`."""
    body = _problem(client.post("/v1/events", json=[1, 2], headers=auth), 422, "validation_failed")
    assert body["errors"][0]["path"] == "$"


def _subclasses(cls: type[HookkitError]) -> list[type[HookkitError]]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def test_every_error_class_has_its_own_code():
    """Each `HookkitError` subclass in connector.errors has a code no other class has."""
    tree = [cls for cls in _subclasses(HookkitError) if cls.__module__ == errors.__name__]
    assert {NotFound, errors.MalformedJSON, errors.FilterTooLarge} <= set(tree)  # nested too
    codes = [cls.code for cls in [HookkitError, *tree]]
    assert len(codes) == len(set(codes)), sorted(code for code in codes if codes.count(code) > 1)


def test_oversize_body_is_413(make_app):
    """Bodies above HOOKKIT_MAX_BODY_BYTES are refused before parsing, as PayloadTooLarge."""
    app = make_app(max_body_bytes=1000)
    client = app.test_client()
    big = {"type": "session", "data": {**SESSION, "padding": "x" * 5000}}
    response = client.post("/v1/events", json=big, headers=_key(app, "acme"))
    _problem(response, PayloadTooLarge.status, PayloadTooLarge.code)
    assert (PayloadTooLarge.status, PayloadTooLarge.code) == (413, "payload_too_large")


def test_unknown_route_and_method(client, auth):
    """Unknown paths are NotFound (404) and wrong methods MethodNotAllowed (405), both as
    problem+json with the code of their class in the error tree."""
    _problem(client.get("/v1/nothing-here", headers=auth), NotFound.status, NotFound.code)
    response = client.put("/v1/hooks", json={}, headers=auth)
    _problem(response, MethodNotAllowed.status, MethodNotAllowed.code)
    assert "POST" in response.headers["Allow"]
    assert (NotFound.code, MethodNotAllowed.code) == ("not_found", "method_not_allowed")


def test_event_data_errors_list_every_path(client, auth):
    """Publishing bad data lists every failing JSON path at once."""
    data = {"event_id": "one", "session": {"direct_url": "not a url", "type": "polaroid"}}
    response = client.post("/v1/events", json={"type": "session", "data": data}, headers=auth)
    body = _problem(response, 422, "validation_failed")
    paths = {e["path"] for e in body["errors"]}
    assert {"$.data.event_id", "$.data.session.id", "$.data.session.type"} <= paths


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"type": "nope", "data": {}}, "$.type"),
        ({"data": SESSION}, "$.type"),
        ({"type": "session"}, "$.data"),
        ({"type": "session", "data": SESSION, "id": 5}, "$.id"),
    ],
)
def test_publish_refuses_bad_envelopes(client, auth, body, path):
    """Unknown types, missing data and non-string ids are 422 at their path."""
    body = _problem(client.post("/v1/events", json=body, headers=auth), 422, "validation_failed")
    assert path in [e["path"] for e in body["errors"]]


@pytest.mark.parametrize(
    "query", ["page=0", "page=x", "limit=1000", "limit=-1", "status=gone", "platform=nope"]
)
def test_bad_list_parameters_are_422(client, auth, query):
    """Paging and filter parameters are validated, with the parameter as the path."""
    body = _problem(client.get(f"/v1/hooks?{query}", headers=auth), 422, "validation_failed")
    assert body["errors"][0]["path"] == f"$.query.{query.split('=')[0]}"


def test_unknown_event_type_is_404(client, auth):
    """An event type that is not in the catalog is 404 on its resource."""
    _problem(client.get("/v1/event-types/nope", headers=auth), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/v1/hooks/hook_%00", None, 404),
        ("get", "/v1/events?since_id=%00", None, 422),
        ("get", "/v1/hooks?target_url=a%00b", None, 422),
        (
            "post",
            "/v1/hooks",
            {"event": "session", "url": "http://127.0.0.1:9/x", "description": "a\0"},
            422,
        ),
        ("post", "/v1/events", {"type": "session", "data": {"event_id": 1, "s\0": 1}}, 422),
    ],
)
def test_nul_characters_are_refused_cleanly(client, auth, method, path, body, status):
    """NUL cannot be stored by PostgreSQL: it is refused as input, never a 500."""
    response = getattr(client, method)(path, json=body, headers=auth)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


def test_retry_after_is_added_for_errors_that_ask_to_retry_later() -> None:
    """`with_retry_after`, which the API's and the screens' error handlers share: whole
    seconds for a 429 or 503, and no header for other errors."""
    slow = with_retry_after(Response("x"), RateLimited("slow down", retry_after=2.2))
    assert slow.headers["Retry-After"] == "3"
    assert with_retry_after(Response("x"), DatabaseUnavailable("down")).headers["Retry-After"]
    assert "Retry-After" not in with_retry_after(Response("x"), NotFound("gone")).headers
