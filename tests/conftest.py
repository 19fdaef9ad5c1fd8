"""Fixtures: a service on a fresh SQLite file per test, API keys of two accounts, receivers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector import create_app
from connector.accounts import create_key, ensure_account
from connector.factory import service_of
from connector.testing import Receiver

FAST = {
    "allow_private_targets": True,  # receivers live on 127.0.0.1
    "retry_schedule": "200ms,200ms",
    "retry_jitter": 0.0,
    "poll_interval": "100ms",
    "connect_timeout": "2s",
    "read_timeout": "2s",
    "lease_seconds": "10s",
    "log_level": "WARNING",
}


@pytest.fixture
def make_app(tmp_path: Any) -> Iterator[Callable[..., Flask]]:
    """Build apps on this test's database; every one is closed at teardown."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        config = {"database_url": f"sqlite:///{tmp_path / 'hookkit.db'}", **FAST, **overrides}
        app = create_app(config)
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield make
    for app in made:
        service_of(app).close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _key(app: Flask, account: str) -> dict[str, str]:
    store = service_of(app).store
    return {"Authorization": f"Bearer {create_key(store, ensure_account(store, account))}"}


@pytest.fixture
def auth(app: Flask) -> dict[str, str]:
    """Headers authenticating as account `acme`."""
    return _key(app, "acme")


@pytest.fixture
def other_auth(app: Flask) -> dict[str, str]:
    """Headers authenticating as a second account, `globex`."""
    return _key(app, "globex")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, every: float = 0.05) -> Any:
    """Poll `predicate` until truthy; fail with a clear message after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


SESSION = {
    "event_id": 1,
    "session": {
        "id": "abc123xyz",
        "direct_url": "https://cdn.example.com/sessions/photo.jpg",
        "site_url": "https://photos.example.com/view/abc123xyz",
        "type": "still",
    },
}


def subscribe(client: FlaskClient, auth: dict[str, str], url: str, **fields: Any) -> dict[str, Any]:
    body = {"event": "session", "target_url": url, **fields}
    response = client.post("/v1/hooks", json=body, headers=auth)
    assert response.status_code == 201, response.json
    return response.json  # type: ignore[no-any-return]


def publish(client: FlaskClient, auth: dict[str, str], data: Any = None, **fields: Any) -> Any:
    body = {"type": "session", "data": SESSION if data is None else data, **fields}
    response = client.post("/v1/events", json=body, headers=auth)
    assert response.status_code in (200, 202), response.json
    return response.json


POSTGRES_URL = os.environ.get(
    "HOOKKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
