"""The newcomer's path: the CLI creates a key, `serve` answers real HTTP, a delivery arrives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import standardwebhooks

from connector.testing import Receiver

from .conftest import SESSION, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HOOKKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "HOOKKIT_ALLOW_PRIVATE_TARGETS": "true",
        **extra,
    }


def test_keys_create_prints_the_key_last(tmp_path):
    """`keys create ACCOUNT` prints a new key on its last line; each call makes another."""
    env = _env(tmp_path)
    first = _cli(env, "keys", "create", "acme")
    second = _cli(env, "keys", "create", "acme")
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip().splitlines()[-1]
    assert key.startswith("hk_") and len(key) > 30
    assert second.stdout.strip().splitlines()[-1] != key


def test_broken_catalog_stops_start_up_naming_the_file(tmp_path):
    """A sample that does not match its schema stops `serve` with the file and path."""
    schemas, samples = tmp_path / "schemas", tmp_path / "samples"
    schemas.mkdir()
    samples.mkdir()
    (schemas / "ping.json").write_text(
        '{"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}'
    )
    (samples / "ping.json").write_text('{"n": "one"}')
    env = _env(tmp_path, HOOKKIT_SCHEMAS_DIR=str(schemas), HOOKKIT_SAMPLES_DIR=str(samples))
    result = _cli(env, "serve")
    assert result.returncode != 0
    assert "ping.json" in result.stderr and "$.n" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HOOKKIT_RETRY_SCHEDULE", "soon"),
        ("HOOKKIT_MAX_IN_FLIGHT", "0"),
        ("HOOKKIT_RETRY_JITTER", "1.5"),
        ("HOOKKIT_PORT", "70000"),
        ("HOOKKIT_ALLOW_PRIVATE_TARGETS", "maybe"),
    ],
)
def test_bad_configuration_is_named(tmp_path, variable, value):
    """A malformed or out-of-range HOOKKIT_* value stops the CLI naming the variable."""
    result = _cli(_env(tmp_path, **{variable: value}), "check")
    assert result.returncode != 0
    assert variable in result.stderr


def test_serve_delivers_a_signed_webhook_over_real_http(tmp_path):
    """`serve` + curl-style calls: subscribe a receiver, publish, a verified delivery arrives."""
    port = free_port()
    env = _env(tmp_path, HOOKKIT_PORT=str(port), HOOKKIT_RETRY_SCHEDULE="1s")
    key = _cli(env, "keys", "create", "acme").stdout.strip().splitlines()[-1]
    server = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        wait_until(lambda: _answers(base + "/healthz"), timeout=30)
        with Receiver() as receiver:
            hook = requests.post(
                base + "/v1/hooks",
                json={"event": "session", "hookUrl": receiver.url + "/zap"},
                headers=headers,
                timeout=10,
            )
            assert hook.status_code == 201
            published = requests.post(
                base + "/v1/events",
                json={"type": "session", "data": SESSION},
                headers=headers,
                timeout=10,
            )
            assert published.status_code == 202
            (request,) = receiver.wait_for(1, timeout=20)
        lowered = {k.lower(): v for k, v in request.headers.items()}
        standardwebhooks.Webhook(hook.json()["secret"]).verify(request.body.decode(), lowered)
        assert request.json()["id"] == published.json()["id"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_revoked_keys_stop_working(tmp_path, make_app):
    """`keys revoke` (by id or by key) makes the key answer 401; `keys list` shows it revoked."""
    env = _env(tmp_path)
    env["HOOKKIT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'keys.db'}"
    created = [_cli(env, "keys", "create", "acme") for _ in range(2)]
    first, second = (c.stdout.strip().splitlines()[-1] for c in created)
    first_id = created[0].stderr.split("key ", 1)[1].split(";", 1)[0]
    assert _cli(env, "keys", "revoke", first_id).returncode == 0
    assert _cli(env, "keys", "revoke", second).returncode == 0
    assert _cli(env, "keys", "revoke", second).returncode != 0  # nothing left to revoke
    listing = _cli(env, "keys", "list", "acme").stdout
    assert listing.count("revoked") == 2 and first_id in listing
    assert first not in listing and second not in listing
    client = make_app(database_url=env["HOOKKIT_DATABASE_URL"]).test_client()
    for key in (first, second):
        assert client.get("/v1/account", headers={"X-API-Key": key}).status_code == 401
