"""Structured logs of real served processes: one line per request and per delivery attempt,
as JSON with HOOKKIT_LOG_FORMAT=json or readable text by default, and never a key, a
secret, a link token, an `Authorization` value or a body; gunicorn's access log (with the
logger class hookkit ships) masks link tokens, query values and credentials too."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from connector.testing import Receiver

from .conftest import SESSION, free_port, hermetic_env, wait_until

ROOT = Path(__file__).resolve().parent.parent
LINK_TOKEN = "eyJsaW5rIjoidG9rZW4ifQ.c2lnbmF0dXJlLXBhcnQ"


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def serving(tmp_path: Path, database_url: str, **env: str) -> Iterator[tuple[str, Path]]:
    """`python -m connector serve` with stderr in a file; yields its URL and that file.
    The process is stopped (SIGTERM) before the block's end returns."""
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    variables = hermetic_env(
        HOOKKIT_DATABASE_URL=database_url,
        HOOKKIT_ALLOW_PRIVATE_TARGETS="true",
        HOOKKIT_PORT=str(port),
        **env,
    )
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "connector", "serve"],
            cwd=ROOT,
            env=variables,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(base + "/healthz"), timeout=60)
        yield base, log_path
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def _exercise(base: str, key: str) -> dict[str, Any]:
    """Subscribe a receiver, publish, wait for the delivery, follow fake link tokens."""
    headers = {"Authorization": f"Bearer {key}"}
    with Receiver() as receiver:
        hook = requests.post(
            base + "/v1/hooks",
            json={"event": "session", "target_url": receiver.url + "/in?token=receiver-secret"},
            headers=headers,
            timeout=10,
        ).json()
        event = requests.post(
            base + "/v1/events",
            json={"type": "session", "data": SESSION},
            headers=headers,
            timeout=10,
        ).json()
        (request,) = receiver.wait_for(1, timeout=30)
    requests.get(f"{base}/actions/{LINK_TOKEN}", timeout=10)
    requests.get(f"{base}/portal/{LINK_TOKEN}?theme=dark", timeout=10)
    requests.get(base + "/v1/account", headers={"X-API-Key": key}, timeout=10)
    return {"hook": hook, "event": event, "webhook_id": request.header("webhook-id")}


def _never_logged(text: str, key: str, seen: dict[str, Any]) -> None:
    for secret in (
        key,
        seen["hook"]["secret"],
        LINK_TOKEN,
        "receiver-secret",
        "Bearer",
        SESSION["session"]["direct_url"],  # a body value
    ):
        assert secret not in text, secret


def test_json_logs_have_one_line_per_request_and_per_attempt(cli, database_url, tmp_path):
    """HOOKKIT_LOG_FORMAT=json: every line is a JSON object; requests carry method, masked
    path, status, duration and account; the attempt carries hook, event, webhook-id, host,
    status, duration, attempt and account; no key, secret, token or body appears."""
    key = cli("keys", "create", "acme").stdout.strip().splitlines()[-1]
    with serving(tmp_path, database_url, HOOKKIT_LOG_FORMAT="json") as (base, log_path):
        seen = _exercise(base, key)

        def attempt_logged() -> list[dict[str, Any]] | None:
            lines = [json.loads(line) for line in log_path.read_text().splitlines() if line]
            found = [line for line in lines if line.get("logger") == "hookkit.delivery"]
            return lines if found else None

        lines = wait_until(attempt_logged, timeout=20)
    text = log_path.read_text()
    _never_logged(text, key, seen)
    requests_logged = [line for line in lines if line.get("logger") == "hookkit.request"]
    by_path = {(line["method"], line["path"]): line for line in requests_logged}
    published = by_path[("POST", "/v1/events")]
    assert published["status"] == 202 and published["duration_ms"] >= 0
    assert published["account"].startswith("acc")
    assert by_path[("GET", "/actions/***")]["status"] == 404
    assert ("GET", "/portal/***") in by_path
    assert by_path[("GET", "/healthz")]["account"] is None
    (attempt,) = [line for line in lines if line.get("logger") == "hookkit.delivery"]
    assert attempt["hook_id"] == seen["hook"]["id"]
    assert attempt["event_id"] == seen["event"]["id"]
    assert attempt["webhook_id"] == seen["webhook_id"]
    assert attempt["host"].startswith("127.0.0.1:")
    assert (attempt["status"], attempt["outcome"], attempt["attempt"]) == (200, "delivered", 1)
    assert attempt["duration_ms"] >= 0 and attempt["account"] == published["account"]
    assert {"time", "level", "message"} <= set(attempt)


def test_text_logs_are_readable_lines(cli, database_url, tmp_path):
    """By default a line reads `time LEVEL logger message [key=value ...]`, masked alike."""
    key = cli("keys", "create", "acme").stdout.strip().splitlines()[-1]
    with serving(tmp_path, database_url) as (base, log_path):
        seen = _exercise(base, key)
        wait_until(lambda: "hookkit.delivery attempt 1 of" in log_path.read_text(), timeout=20)
    text = log_path.read_text()
    _never_logged(text, key, seen)
    (line,) = [line for line in text.splitlines() if "hookkit.delivery" in line]
    assert f"INFO hookkit.delivery attempt 1 of {seen['webhook_id']} to 127.0.0.1:" in line
    assert f"hook_id={seen['hook']['id']}" in line and "status=200" in line
    assert "GET /actions/*** 404" in text
    assert not text.lstrip().startswith("{")


def test_gunicorns_access_log_masks_tokens_and_credentials(database_url, tmp_path):
    """`gunicorn app:app --access-logfile -` with hookkit's logger class shows link tokens,
    query values, the basic-auth user and credential headers as ***."""
    port = free_port()
    env = hermetic_env(HOOKKIT_DATABASE_URL=database_url, HOOKKIT_PORT=str(port))
    log_path = tmp_path / "gunicorn.log"
    fmt = '%(h)s %(u)s "%(r)s" %(s)s %(U)s %(q)s "%({authorization}i)s" "%({x-api-key}i)s"'
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-b",
                f"127.0.0.1:{port}",
                "--access-logfile",
                "-",
                "--access-logformat",
                fmt,
                "--logger-class",
                "connector.cli.logformat.GunicornLogger",
                "app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _up(base + "/healthz"), timeout=60)
        basic = base64.b64encode(b"someone:pa55word").decode()
        requests.get(
            f"{base}/actions/{LINK_TOKEN}?confirm=yes",
            headers={"Authorization": f"Basic {basic}", "X-API-Key": "hk_live_key_value"},
            timeout=10,
        )
        wait_until(lambda: "/actions/" in log_path.read_text(), timeout=20)
    finally:
        server.terminate()
        server.wait(timeout=60)
    text = log_path.read_text()
    for secret in (LINK_TOKEN, "someone", basic, "hk_live_key_value", "yes"):
        assert secret not in text, secret
    (line,) = [line for line in text.splitlines() if "/actions/" in line and "HTTP/1.1" in line]
    assert "GET /actions/*** 404" in text  # hookkit's own request line, too
    assert '"GET /actions/***?confirm=*** HTTP/1.1" 404 /actions/*** confirm=***' in line
    assert '"***" "***"' in line
