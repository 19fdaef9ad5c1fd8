"""The smaller API surfaces: one delivery by id, `hook_id` scoping of the catalog, the
caller's account and the health check, through the HTTP API."""

from __future__ import annotations

import pytest

from connector import __version__

from .conftest import publish, subscribe
from .test_errors import _problem
from .test_log import settled

OPS = "ops@example.com"


def _delivered(client, auth, receiver) -> dict:
    """Subscribe `receiver`, publish one event, return its settled delivery as the log shows it."""
    hook = subscribe(client, auth, receiver.url)
    publish(client, auth)
    (delivery,) = settled(client, auth, hook, 1)
    return delivery


def _email(client, headers) -> str | None:
    response = client.get("/v1/account", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["notification_email"]  # type: ignore[no-any-return]


# --- health and keys --------------------------------------------------------------------------


def test_healthz_answers_ok_and_the_version_without_a_key(client):
    """`GET /healthz` is 200 with status ok and the running version, and needs no API key."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "version": __version__}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/account"),
        ("PATCH", "/v1/account"),
        ("GET", "/v1/deliveries/msg_unknown"),
    ],
)
def test_account_and_delivery_calls_need_a_key(client, method, path):
    """Without an API key these calls answer 401 unauthorized, whatever the body."""
    response = client.open(path, method=method, json={"notification_email": OPS})
    _problem(response, 401, "unauthorized")


# --- one delivery -----------------------------------------------------------------------------


def test_get_delivery_returns_it_with_its_attempts(client, auth, receiver):
    """`GET /v1/deliveries/{id}` answers the delivery exactly as the hook's log shows it,
    attempts included."""
    logged = _delivered(client, auth, receiver)
    response = client.get(f"/v1/deliveries/{logged['id']}", headers=auth)
    assert response.status_code == 200
    assert response.json == logged
    assert response.json["status"] == "delivered"
    (attempt,) = response.json["attempts"]
    assert (attempt["attempt"], attempt["response_code"], attempt["outcome"]) == (
        1,
        200,
        "delivered",
    )


def test_another_accounts_delivery_answers_404_like_an_unknown_one(
    client, auth, other_auth, receiver
):
    """Another account's delivery id is a 404 not_found, indistinguishable from an unknown id."""
    delivery = _delivered(client, auth, receiver)
    theirs = client.get(f"/v1/deliveries/{delivery['id']}", headers=other_auth)
    unknown = client.get("/v1/deliveries/msg_doesnotexist", headers=auth)
    for response in (theirs, unknown):
        _problem(response, 404, "not_found")
    assert theirs.json["title"] == unknown.json["title"]


# --- hook_id on the catalog -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/event-types/session", "/v1/event-types/session/samples"])
def test_another_accounts_hook_id_answers_404(client, auth, other_auth, path):
    """`hook_id` of another account's hook is a 404 on the event type and its samples, just
    like an unknown hook; its owner gets 200."""
    hook = subscribe(client, auth, "http://127.0.0.1:9/hook", mapping="{event: id}")
    assert client.get(f"{path}?hook_id={hook['id']}", headers=auth).status_code == 200
    _problem(client.get(f"{path}?hook_id={hook['id']}", headers=other_auth), 404, "not_found")
    _problem(client.get(f"{path}?hook_id=hook_unknown", headers=other_auth), 404, "not_found")


# --- the account ------------------------------------------------------------------------------


def test_account_names_the_keys_owner(client, auth, other_auth):
    """`GET /v1/account` answers the key's own account: id, name and notification address."""
    mine = client.get("/v1/account", headers=auth).json
    theirs = client.get("/v1/account", headers=other_auth).json
    assert set(mine) == {"id", "name", "notification_email"}
    assert (mine["name"], theirs["name"]) == ("acme", "globex")
    assert mine["id"].startswith("acc_") and mine["id"] != theirs["id"]
    assert mine["notification_email"] is None


def test_notification_email_is_set_and_cleared(client, auth, other_auth):
    """`PATCH /v1/account` sets notification_email, GET shows it, null clears it; another
    account's address is untouched."""
    response = client.patch("/v1/account", json={"notification_email": OPS}, headers=auth)
    assert response.status_code == 200
    assert response.json["name"] == "acme" and response.json["notification_email"] == OPS
    assert _email(client, auth) == OPS
    assert _email(client, other_auth) is None

    response = client.patch("/v1/account", json={"notification_email": None}, headers=auth)
    assert response.status_code == 200 and response.json["notification_email"] is None
    assert _email(client, auth) is None


@pytest.mark.parametrize(
    "value",
    [
        "ops.example.com",
        "",
        42,
        True,
        [OPS],
        {"address": OPS},
        "o" * 320 + "@example.com",
        OPS + "\r\nBcc: attacker@example.net",
        OPS + "\n",
    ],
)
def test_bad_notification_emails_are_422_and_change_nothing(client, auth, value):
    """A notification_email that is not an e-mail address is a 422 at
    `$.notification_email`, and the stored address stays."""
    client.patch("/v1/account", json={"notification_email": OPS}, headers=auth)
    response = client.patch("/v1/account", json={"notification_email": value}, headers=auth)
    body = _problem(response, 422, "validation_failed")
    assert [error["path"] for error in body["errors"]] == ["$.notification_email"]
    assert _email(client, auth) == OPS


def test_a_patch_without_notification_email_keeps_it(client, auth):
    """A PATCH that does not mention notification_email leaves it as it was (PATCH semantics,
    as on hooks)."""
    client.patch("/v1/account", json={"notification_email": OPS}, headers=auth)
    response = client.patch("/v1/account", json={"name": "acme"}, headers=auth)
    assert response.status_code == 200
    assert _email(client, auth) == OPS
