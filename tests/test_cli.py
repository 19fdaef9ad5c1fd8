"""The newcomer's path: the CLI creates a key, `serve` answers real HTTP, a delivery arrives.

Commands run in-process through the `cli` fixture (click's CliRunner); one smoke test starts
the real `serve` process and talks HTTP to it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests
import standardwebhooks

from connector.testing import Receiver

from .conftest import SESSION, free_port, hermetic_env, wait_until

ROOT = Path(__file__).resolve().parent.parent


def _last_line(result) -> str:
    return result.stdout.strip().splitlines()[-1]  # type: ignore[no-any-return]


def test_keys_create_prints_the_key_last(cli):
    """`keys create ACCOUNT` prints a new key on its last line; each call makes another."""
    first = cli("keys", "create", "acme")
    second = cli("keys", "create", "acme")
    assert first.exit_code == 0, first.stderr
    key = _last_line(first)
    assert key.startswith("hk_") and len(key) > 30
    assert _last_line(second) != key


def test_broken_catalog_stops_start_up_naming_the_file(cli, tmp_path):
    """A sample that does not match its schema stops `serve` with the file and path."""
    schemas, samples = tmp_path / "schemas", tmp_path / "samples"
    schemas.mkdir()
    samples.mkdir()
    (schemas / "ping.json").write_text(
        '{"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}'
    )
    (samples / "ping.json").write_text('{"n": "one"}')
    env = {"HOOKKIT_SCHEMAS_DIR": str(schemas), "HOOKKIT_SAMPLES_DIR": str(samples)}
    result = cli("serve", env=env)
    assert result.exit_code != 0
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
def test_bad_configuration_is_named(cli, variable, value):
    """A malformed or out-of-range HOOKKIT_* value stops the CLI naming the variable."""
    result = cli("check", env={variable: value})
    assert result.exit_code != 0
    assert variable in result.stderr


def test_serve_delivers_a_signed_webhook_over_real_http(cli, database_url):
    """`serve` + curl-style calls: subscribe a receiver, publish, a verified delivery arrives."""
    port = free_port()
    key = _last_line(cli("keys", "create", "acme"))
    env = hermetic_env(
        HOOKKIT_DATABASE_URL=database_url,
        HOOKKIT_ALLOW_PRIVATE_TARGETS="true",
        HOOKKIT_PORT=str(port),
        HOOKKIT_RETRY_SCHEDULE="1s",
    )
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


def test_revoked_keys_stop_working(cli, make_app):
    """`keys revoke` (by id or by key) makes the key answer 401; `keys list` shows it revoked."""
    created = [cli("keys", "create", "acme") for _ in range(2)]
    first, second = (_last_line(c) for c in created)
    first_id = created[0].stderr.split("key ", 1)[1].split(";", 1)[0]
    assert cli("keys", "revoke", first_id).exit_code == 0
    assert cli("keys", "revoke", second).exit_code == 0
    assert cli("keys", "revoke", second).exit_code != 0  # nothing left to revoke
    listing = cli("keys", "list", "acme").stdout
    assert listing.count("revoked") == 2 and first_id in listing
    assert first not in listing and second not in listing
    client = make_app().test_client()
    for key in (first, second):
        assert client.get("/v1/account", headers={"X-API-Key": key}).status_code == 401
