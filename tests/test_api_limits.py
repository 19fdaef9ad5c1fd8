"""Per-API-key rate limits (HOOKKIT_API_RATE_LIMIT): 429 problem+json with Retry-After, the
RateLimit headers, and one budget per key however many processes and machines serve it."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import requests

from connector.config import parse_rate

from .conftest import _key, free_port, hermetic_env, wait_until
from .live import served
from .test_cli import ROOT, _answers, _last_line


def _hooks(client: Any, headers: dict[str, str]) -> Any:
    return client.get("/v1/hooks", headers=headers)


def test_a_key_over_its_limit_gets_429_until_its_window_moves_on(make_app, clock) -> None:
    app = make_app(clock=clock, api_rate_limit="5/m")
    client, auth, other = app.test_client(), _key(app, "acme"), _key(app, "globex")
    remaining = []
    for _ in range(5):
        answer = _hooks(client, auth)
        assert answer.status_code == 200
        assert answer.headers["RateLimit-Limit"] == "5"
        assert answer.headers["RateLimit-Policy"] == "5;w=60"
        remaining.append(int(answer.headers["RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]

    refused = _hooks(client, auth)
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.json["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == "12"  # one request per 60 s / 5
    assert refused.headers["RateLimit-Remaining"] == "0"
    # Another key has its own budget, and writes are limited like reads.
    assert _hooks(client, other).status_code == 200
    assert client.post("/v1/events", json={}, headers=auth).status_code == 429

    clock.advance(11)
    assert _hooks(client, auth).status_code == 429
    clock.advance(1)
    assert _hooks(client, auth).status_code == 200
    assert _hooks(client, auth).status_code == 429


def test_off_means_no_limit_and_no_headers(make_app) -> None:
    app = make_app(api_rate_limit="off")
    client, auth = app.test_client(), _key(app, "acme")
    for _ in range(30):
        answer = _hooks(client, auth)
        assert answer.status_code == 200
    assert "RateLimit-Limit" not in answer.headers


def test_unauthenticated_routes_are_not_counted(make_app) -> None:
    """Health checks and unknown keys spend no key's budget; the key's one request still
    goes through, and only then is it over its limit."""
    app = make_app(api_rate_limit="1/m")
    client, auth = app.test_client(), _key(app, "acme")
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
        assert _hooks(client, {"Authorization": "Bearer hk_nonsense"}).status_code == 401
    assert _hooks(client, auth).status_code == 200
    assert _hooks(client, auth).status_code == 429


def test_two_services_on_one_database_share_a_keys_budget(make_app) -> None:
    """Two services (two machines behind a load balancer) on the same database: the key's
    budget is the database's, so exactly the limit gets through, alternating between them."""
    first, second = make_app(api_rate_limit="6/m"), make_app(api_rate_limit="6/m")
    auth = _key(first, "acme")
    answers = []
    with served(first) as one, served(second) as two:
        for n in range(14):
            base = (one, two)[n % 2]
            answers.append(requests.get(base + "/v1/hooks", headers=auth, timeout=10).status_code)
    assert answers.count(200) == 6
    assert answers[:6] == [200] * 6 and set(answers[6:]) == {429}


def test_gunicorn_with_two_worker_processes_holds_the_limit(cli, database_url) -> None:
    """`serve --workers 2`: requests on fresh connections land on both processes, and the
    key still gets exactly its limit."""
    port = free_port()
    key = _last_line(cli("keys", "create", "acme"))
    env = hermetic_env(
        HOOKKIT_DATABASE_URL=database_url,
        HOOKKIT_PORT=str(port),
        HOOKKIT_API_RATE_LIMIT="7/m",
        HOOKKIT_EMBEDDED_WORKER="false",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base + "/healthz"), timeout=30)
        codes = [
            requests.get(
                base + "/v1/hooks",
                headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                timeout=10,
            ).status_code
            for _ in range(20)
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert codes.count(200) == 7 and codes.count(429) == 13


@pytest.mark.parametrize(
    ("text", "rate"),
    [("1000/s", (1000, 1.0)), ("600/m", (600, 60.0)), ("10/5s", (10, 5.0)), ("off", (0, 1.0))],
)
def test_rate_forms(text: str, rate: tuple[int, float]) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "10", "0/s", "-1/s", "10/0s", "10/x"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        parse_rate(text)
