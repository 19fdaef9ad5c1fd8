"""Verified API keys are remembered for HOOKKIT_API_KEY_CACHE seconds: a revoked key stops
working within that time, in every process; with 0 at once."""

from __future__ import annotations

from connector.hooks.accounts import revoke_key
from connector.service import Hookkit

from .conftest import _key


def test_a_revoked_key_stops_working_within_the_cache_time(make_app, clock) -> None:
    app = make_app(clock=clock, api_key_cache="5s")
    client, auth = app.test_client(), _key(app, "acme")
    assert client.get("/v1/hooks", headers=auth).status_code == 200
    assert revoke_key(Hookkit.of(app).store, auth["Authorization"].removeprefix("Bearer "))
    assert client.get("/v1/hooks", headers=auth).status_code == 200  # still trusted
    clock.advance(5)
    assert client.get("/v1/hooks", headers=auth).status_code == 401


def test_without_a_cache_a_revoked_key_stops_at_once(make_app, clock) -> None:
    app = make_app(clock=clock, api_key_cache="0")
    client, auth = app.test_client(), _key(app, "acme")
    assert client.get("/v1/hooks", headers=auth).status_code == 200
    assert revoke_key(Hookkit.of(app).store, auth["Authorization"].removeprefix("Bearer "))
    assert client.get("/v1/hooks", headers=auth).status_code == 401
