"""Text that cannot be sent is refused at the door, and what is accepted can be sent.

A JSON `\\ud800` escape decodes to a lone surrogate, which no UTF-8 writer takes: anywhere
in a body it is a 422 naming its path (it used to be a 500, or an event accepted with 202
that then failed every attempt). Header values must be RFC 9110 field values (visible
ASCII, spaces and tabs inside only) and basic-auth credentials Latin-1 text without control
characters, since both go into a request header.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connector.errors import ConfigError
from connector.testing import Receiver

from .conftest import SESSION, deliveries_of, subscribe

LONE = "\\ud800"  # a lone surrogate, as a JSON escape in the raw body


def send(client: FlaskClient, auth: dict[str, str], method: str, path: str, raw: str) -> Any:
    """Send `raw` (JSON text, escapes kept as written) as the body."""
    headers = {**auth, "Content-Type": "application/json"}
    return client.open(path, method=method, data=raw.encode(), headers=headers)


def hook_body(**fields: str) -> str:
    """A subscribe body whose `fields` are JSON fragments spliced in as written."""
    members = {"event": '"session"', "target_url": '"http://127.0.0.1:9/hook"', **fields}
    return "{" + ", ".join(f'"{name}": {value}' for name, value in members.items()) + "}"


def assert_refused(response: Any, path: str) -> None:
    assert response.status_code == 422, (response.status_code, response.get_data()[:300])
    problem = response.json
    assert problem["code"] == "validation_failed"
    assert [error["path"] for error in problem["errors"]] == [path], problem


EVENT = json.dumps(SESSION)
BASIC = f'{{"type": "basic", "username": "u", "password": "{LONE}"}}'
EMAIL = f'{{"notification_email": "a{LONE}@example.com"}}'
EVENT_ID = f'{{"type": "session", "id": "{LONE}", "data": {EVENT}}}'
IN_DATA = '{"type": "session", "data": ' + EVENT.replace("abc123xyz", LONE) + "}"
CUSTOM = f'{{"a": ["{LONE}"]}}'


@pytest.mark.parametrize(
    ("method", "path", "raw", "where"),
    [
        ("POST", "/v1/hooks", hook_body(description=f'"a{LONE}b"'), "$.description"),
        ("POST", "/v1/hooks", hook_body(target_url=f'"http://127.0.0.1:9/{LONE}"'), "$.target_url"),
        ("POST", "/v1/hooks", hook_body(hookUrl=f'"http://127.0.0.1:9/{LONE}"'), "$.hookUrl"),
        ("POST", "/v1/hooks", hook_body(headers=f'{{"X-Tag": "{LONE}"}}'), "$.headers.X-Tag"),
        ("POST", "/v1/hooks", hook_body(custom_values=CUSTOM), "$.custom_values.a[0]"),
        ("POST", "/v1/hooks", hook_body(custom_values=f'{{"{LONE}": 1}}'), "$.custom_values"),
        ("POST", "/v1/hooks", hook_body(mapping=f"\"{{x: '{LONE}'}}\""), "$.mapping"),
        ("POST", "/v1/hooks", hook_body(auth=BASIC), "$.auth.password"),
        ("PATCH", "/v1/account", EMAIL, "$.notification_email"),
        ("POST", "/v1/events", EVENT_ID, "$.id"),
        ("POST", "/v1/events", IN_DATA, "$.data.session.id"),
        ("POST", "/v1/events", f'{{"type": "{LONE}", "data": {{}}}}', "$.type"),
        ("POST", "/v1/events", '{"type": "session", "data": {"\\udfff": 1}}', "$.data"),
    ],
)  # fmt: skip
def test_lone_surrogates_are_refused_with_their_path(
    client: FlaskClient, auth: dict[str, str], method: str, path: str, raw: str, where: str
) -> None:
    assert_refused(send(client, auth, method, path, raw), where)


def test_a_patch_with_a_lone_surrogate_is_refused(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    hook = subscribe(client, auth, "http://127.0.0.1:9/hook")
    raw = f'{{"description": "{LONE}", "headers": {{"X-A": "b"}}}}'
    assert_refused(send(client, auth, "PATCH", f"/v1/hooks/{hook['id']}", raw), "$.description")


def test_a_nul_in_a_query_parameter_name_is_refused_without_echoing_it(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    assert_refused(client.get("/v1/hooks?ev%00ent=x", headers=auth), "$.query.event")


def test_invalid_utf8_in_the_url_is_never_a_500(client: FlaskClient, auth: dict[str, str]) -> None:
    # Percent-encoded surrogate bytes decode to U+FFFD (Werkzeug), never to a surrogate.
    for url in (
        "/v1/hooks?event=%ED%A0%80",
        "/v1/hooks/hook_%ED%A0%80",
        "/v1/events?type=%ED%A0%80",
    ):
        assert client.get(url, headers=auth).status_code < 500, url


@pytest.mark.parametrize(
    "value",
    [
        "a\vb",
        "a\fb",
        "a\x7fb",
        "a\x1bb",
        "\ttabbed",
        "trailing ",
        " leading",
        "caf\u00e9",
        "\u2603",
    ],
)
def test_header_values_must_be_field_values(
    client: FlaskClient, auth: dict[str, str], value: str
) -> None:
    body = {"event": "session", "target_url": "http://127.0.0.1:9/hook", "headers": {"X-A": value}}
    assert_refused(client.post("/v1/hooks", json=body, headers=auth), "$.headers.X-A")


def test_field_values_with_inner_spaces_and_tabs_are_sent(
    client: FlaskClient, auth: dict[str, str], receiver: Receiver
) -> None:
    headers = {"X-A": "a b\tc ~!", "X-Empty": ""}
    subscribe(client, auth, receiver.url, headers=headers)
    client.post("/v1/events", json={"type": "session", "data": SESSION}, headers=auth)
    (request,) = receiver.wait_for(1)
    assert request.header("X-A") == "a b\tc ~!"
    assert request.header("X-Empty") == ""


@pytest.mark.parametrize(
    ("field", "value"),
    [("username", "a\x01"), ("password", "p\x7f"), ("password", "p\x85"), ("username", "\u2603")],
)
def test_basic_auth_must_fit_a_header(
    client: FlaskClient, auth: dict[str, str], field: str, value: str
) -> None:
    credentials = {"type": "basic", "username": "u", "password": "p", field: value}
    body = {"event": "session", "target_url": "http://127.0.0.1:9/hook", "auth": credentials}
    assert_refused(client.post("/v1/hooks", json=body, headers=auth), f"$.auth.{field}")


def test_basic_auth_in_latin1_is_sent(
    client: FlaskClient, auth: dict[str, str], receiver: Receiver
) -> None:
    credentials = {"type": "basic", "username": "j\u00fcrgen", "password": "p \u00e4ss"}
    body = {"event": "session", "target_url": receiver.url, "auth": credentials}
    assert client.post("/v1/hooks", json=body, headers=auth).status_code == 201
    client.post("/v1/events", json={"type": "session", "data": SESSION}, headers=auth)
    (request,) = receiver.wait_for(1)
    assert (request.header("Authorization") or "").startswith("Basic ")


@pytest.mark.parametrize("header", ["X-Sig\n", "X-Sig ", "X-S\u00efg"])
def test_signature_headers_must_be_tokens(
    client: FlaskClient, auth: dict[str, str], header: str
) -> None:
    body = {
        "event": "session",
        "target_url": "http://127.0.0.1:9/hook",
        "signature": {"scheme": "hex", "header": header},
    }
    assert_refused(client.post("/v1/hooks", json=body, headers=auth), "$.signature.header")


def test_a_header_name_with_a_trailing_newline_is_refused(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    body = {"event": "session", "target_url": "http://127.0.0.1:9/hook", "headers": {"X-A\n": "b"}}
    response = client.post("/v1/hooks", json=body, headers=auth)
    assert response.status_code == 422
    assert response.json["errors"][0]["message"] == "not a valid HTTP header name"


@pytest.mark.parametrize("header", ["X-Sig\n", "X Sig", "X-S\u00efg"])
def test_the_deployment_signature_header_must_be_a_token(make_app: Any, header: str) -> None:
    with pytest.raises((ValueError, ConfigError), match="HOOKKIT_SIGNATURE_HEADER"):
        make_app(signature_scheme="hex", signature_header=header)


# --- every accepted event can be sent -----------------------------------------------------

TEXT = st.one_of(
    st.text(max_size=30),  # any code point, surrogates and control characters included
    st.text(st.characters(codec="utf-8"), min_size=200, max_size=2000),  # long unicode
    st.sampled_from(["\ud800", "a\udfffb", "\0", "\v", "\f", "\x7f", "\r\n", " x ", "\u0085"]),
)
# Mostly text that should pass, so that most examples get as far as a delivery.
VALID = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=300)


def mostly(good: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`good` three times in four, else anything of `TEXT`."""
    return st.tuples(st.integers(0, 3), good, TEXT).map(lambda t: t[2] if t[0] == 0 else t[1])


HEADER = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60).map(str.strip)


def _raw(value: Any) -> bytes:
    """`value` as JSON text, lone surrogates kept as `\\udXXX` escapes (as a client sends)."""
    return json.dumps(value).encode()


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    description=mostly(VALID),
    header=mostly(HEADER),
    custom=mostly(VALID),
    session_id=mostly(VALID),
    device_name=mostly(VALID),
)
def test_every_accepted_event_is_delivered(
    client: FlaskClient,
    auth: dict[str, str],
    receiver: Receiver,
    description: str,
    header: str,
    custom: str,
    session_id: str,
    device_name: str,
) -> None:
    headers = {**auth, "Content-Type": "application/json"}
    hook = {
        "event": "session",
        "target_url": receiver.url,
        "description": description,
        "headers": {"X-Custom": header},
        "custom_values": {"note": custom, custom[:50]: [custom]},
    }
    subscribed = client.post("/v1/hooks", data=_raw(hook), headers=headers)
    assert subscribed.status_code in (200, 201, 422), subscribed.get_data()[:300]
    if subscribed.status_code == 422:
        event(f"subscribe refused at {subscribed.json['errors'][0]['path']}")
        return
    hook_id = subscribed.json["id"]
    data = {**SESSION, "session": {**SESSION["session"], "id": session_id}}
    data["session"]["device"] = {"id": 1, "name": device_name}
    published = client.post(
        "/v1/events", data=_raw({"type": "session", "data": data}), headers=headers
    )
    assert published.status_code in (202, 422), published.get_data()[:300]
    event("publish accepted" if published.status_code == 202 else "publish refused")
    try:
        if published.status_code == 202:
            deadline = time.monotonic() + 10
            while True:
                found = deliveries_of(client, auth, hook_id, "?limit=100")["deliveries"]
                if found and all(d["status"] != "pending" for d in found):
                    break
                assert time.monotonic() < deadline, found
                time.sleep(0.02)
            assert [d["status"] for d in found] == ["delivered"], found
    finally:
        assert client.delete(f"/v1/hooks/{hook_id}", headers=auth).status_code in (200, 204)
