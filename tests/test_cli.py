"""The newcomer's path: the CLI creates a key, `serve` answers real HTTP, a delivery arrives."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import requests
import standardwebhooks

from connector.testing import Receiver

from .conftest import SESSION, wait_until

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def test_bad_configuration_is_named(tmp_path):
    """A malformed HOOKKIT_* value stops the CLI with the variable's name."""
    result = _cli(_env(tmp_path, HOOKKIT_RETRY_SCHEDULE="soon"), "check")
    assert result.returncode != 0
    assert "HOOKKIT_RETRY_SCHEDULE" in result.stderr


def test_serve_delivers_a_signed_webhook_over_real_http(tmp_path):
    """`serve` + curl-style calls: subscribe a receiver, publish, a verified delivery arrives."""
    port = _free_port()
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
