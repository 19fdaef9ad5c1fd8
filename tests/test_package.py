"""The package's face: `create_app` is configured by its argument alone, entry points read
the environment, and a receiver importing `connector.verify` stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from connector import create_app
from connector.cli.serve import wsgi_app
from connector.config import Settings
from connector.service import Hookkit

from .conftest import FAST, SESSION, _key, hermetic_env

ROOT = Path(__file__).resolve().parent.parent

# Settings an app must not pick up from the environment, and the CLI must.
ENVIRONMENT = {
    "HOOKKIT_MAX_BODY_BYTES": "50",
    "HOOKKIT_RETRY_SCHEDULE": "1h",
    "HOOKKIT_EMBEDDED_WORKER": "false",
}
BIG_EVENT = {"type": "session", "data": {**SESSION, "note": "x" * 200}}  # well over 50 bytes


def _set_environment(monkeypatch, variables: dict[str, str]) -> None:
    """Exactly `variables` as the HOOKKIT_* environment (the shell's are hidden meanwhile)."""
    for name in [name for name in os.environ if name.startswith("HOOKKIT_")]:
        monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_create_app_ignores_the_environment(monkeypatch, database_url, tmp_path):
    """With HOOKKIT_* variables set, `create_app(mapping)` runs on its mapping over the
    defaults: their body limit, retry schedule and catalog directory change nothing."""
    _set_environment(monkeypatch, {**ENVIRONMENT, "HOOKKIT_SCHEMAS_DIR": str(tmp_path / "none")})
    keys = FAST["encryption_keys"]  # PostgreSQL needs one (SQLite: a key file otherwise)
    app = create_app(
        {"database_url": database_url, "embedded_worker": False, "encryption_keys": keys}
    )
    service = Hookkit.of(app)
    try:
        assert service.settings == Settings(
            database_url=database_url, embedded_worker=False, encryption_keys=keys
        )
        assert "session" in service.catalog  # the shipped catalog, not HOOKKIT_SCHEMAS_DIR
        client = app.test_client()
        accepted = client.post("/v1/events", json=BIG_EVENT, headers=_key(app, "acme"))
        assert accepted.status_code == 202, accepted.json
    finally:
        service.close()


def test_the_cli_reads_the_environment(cli, monkeypatch, database_url, tmp_path):
    """The entry points do read HOOKKIT_* variables: `check` looks for the catalog where
    HOOKKIT_SCHEMAS_DIR says, and the app `serve` runs takes HOOKKIT_RETRY_SCHEDULE and
    refuses bodies over HOOKKIT_MAX_BODY_BYTES."""
    missing = tmp_path / "none"
    checked = cli("check", env={**ENVIRONMENT, "HOOKKIT_SCHEMAS_DIR": str(missing)})
    assert checked.exit_code != 0
    assert str(missing) in checked.stderr and "not a directory" in checked.stderr

    keys = {"HOOKKIT_ENCRYPTION_KEYS": FAST["encryption_keys"]}
    _set_environment(monkeypatch, {**ENVIRONMENT, "HOOKKIT_DATABASE_URL": database_url, **keys})
    app = wsgi_app()  # what `serve` (and `gunicorn app:app`) runs, settings from the env
    service = Hookkit.of(app)
    try:
        assert service.settings.max_body_bytes == 50
        assert service.settings.retry_schedule == (3600.0,)
        refused = app.test_client().post("/v1/events", json=BIG_EVENT, headers=_key(app, "acme"))
        assert (refused.status_code, refused.json["code"]) == (413, "payload_too_large")
    finally:
        service.close()


LIGHT_RECEIVER = """
import base64, hashlib, hmac, json, sys, time
import connector

secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
payload = b'{"type": "session", "data": {"event_id": 1}}'
msg_id, stamp = "msg_light", int(time.time())
signed = b"%s.%d.%s" % (msg_id.encode(), stamp, payload)
digest = hmac.new(b"k" * 24, signed, hashlib.sha256).digest()
headers = {
    "webhook-id": msg_id,
    "webhook-timestamp": str(stamp),
    "webhook-signature": "v1," + base64.b64encode(digest).decode(),
}
connector.verify(payload, headers, secret)
try:
    connector.verify(payload + b" ", headers, secret)
except connector.SignatureError:
    tampered = "refused"
else:
    tampered = "accepted"
loaded = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"tampered": tampered, "loaded": loaded}))
"""
HEAVY = {"flask", "sqlalchemy", "aiohttp", "jsonschema", "jmespath"}


def test_verifying_a_delivery_imports_none_of_the_service():
    """A receiver that imports `connector` and verifies a signed payload with
    `connector.verify` loads none of Flask, SQLAlchemy, aiohttp, jsonschema or jmespath."""
    done = subprocess.run(
        [sys.executable, "-c", LIGHT_RECEIVER],
        cwd=ROOT,
        env=hermetic_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tampered"] == "refused"
    assert HEAVY.isdisjoint(report["loaded"]), HEAVY & set(report["loaded"])
