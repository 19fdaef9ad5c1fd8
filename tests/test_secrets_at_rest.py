"""Secrets at rest: hook secrets, basic-auth passwords and sensitive header values are stored
sealed (`connector.store.secrets`), never in plain text, and still sign and send.

Each test reads the database itself (the raw SQLite files, or the PostgreSQL rows) next to
what the API and the receivers see.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from connector import verify
from connector.errors import ConfigError
from connector.service import Hookkit
from connector.store.secrets import key_file, key_id
from connector.testing import Receiver

from .conftest import FAST, SESSION, publish, subscribe, verify_both
from .test_migrations import _load_legacy, _status, _upgrade

OWN_SECRET = "own-secret-PLAINTEXT-0123456789"
PASSWORD = "basic-PLAINTEXT-password"
API_KEY = "apikey-PLAINTEXT-value"
BEARER = "Bearer token-PLAINTEXT-value"
PLAINTEXTS = (OWN_SECRET, PASSWORD, API_KEY, BEARER)

KEY_OLD = Fernet.generate_key().decode()
KEY_NEW = Fernet.generate_key().decode()


def _kid(key: str) -> str:
    return key_id(key.encode())


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _rows(url: str, sql: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def _stored_text(url: str) -> bytes:
    """Everything the database holds: on SQLite the raw bytes of the database file and its
    WAL (free pages included); on PostgreSQL every subscription row as text."""
    if _is_sqlite(url):
        path = Path(url.split("///", 1)[1])
        files = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    rows = _rows(url, "SELECT s::text FROM subscriptions s")
    return "\n".join(row[0] for row in rows).encode()


def _secrets_of(url: str) -> list[Any]:
    return _rows(url, "SELECT id, secret, previous_secret FROM subscriptions ORDER BY id")


def _sealed_with(value: str) -> str:
    assert value.startswith("hk1:"), "not sealed"
    return value.split(":")[1]


def _start(make_app: Any, **settings: Any) -> Any:
    """An app with these settings (the suite's test key replaced, not added to)."""
    return make_app(**{"encryption_keys": FAST["encryption_keys"], **settings})


def test_nothing_secret_is_stored_in_plain_text_and_deliveries_still_verify(make_app, database_url):
    """A hook's own secret, its rotated-out secret, a basic-auth password, an ed25519 private
    key and sensitive header values appear nowhere in the database; receivers still get the
    password and headers, and the signatures verify."""
    app = make_app()
    client = app.test_client()
    store = Hookkit.of(app).store
    from connector.hooks.accounts import create_key, ensure_account

    auth = {"Authorization": f"Bearer {create_key(store, ensure_account(store, 'acme'))}"}
    with Receiver() as first, Receiver() as second:
        basic = {"type": "basic", "username": "user", "password": PASSWORD}
        body = {
            "event": "session",
            "target_url": first.url + "/a",
            "secret": OWN_SECRET,
            "auth": basic,
            "headers": {"X-Api-Key": API_KEY, "X-Plain": "not-secret"},
        }
        made = client.post("/v1/hooks", json=body, headers=auth)
        assert made.status_code == 201, made.json
        hook = made.json
        assert hook["secret"] == OWN_SECRET  # shown to its owner, as before
        other = subscribe(client, auth, second.url + "/b", headers={"Authorization": BEARER})
        keyed = subscribe(
            client, auth, second.url + "/c", event="share", signature={"scheme": "ed25519"}
        )
        rotated = client.post(f"/v1/hooks/{hook['id']}/rotate-secret", headers=auth).json
        # A masked header sent back keeps the stored (sealed) value: no double sealing.
        shown = client.get(f"/v1/hooks/{hook['id']}", headers=auth).json
        assert shown["headers"]["X-Api-Key"] == "********"
        patched = client.patch(
            f"/v1/hooks/{hook['id']}", json={"headers": shown["headers"]}, headers=auth
        )
        assert patched.status_code == 200, patched.json

        stored = _stored_text(database_url)
        for plaintext in (*PLAINTEXTS, rotated["secret"], other["secret"]):
            assert plaintext.encode() not in stored, plaintext
        for _, secret, previous in _secrets_of(database_url):
            assert secret.startswith("hk1:")
            assert previous is None or previous.startswith("hk1:")
        assert keyed["public_key"].startswith("whpk_")

        publish(client, auth)
        [request] = first.wait_for(1)
        [other_request] = second.wait_for(1)
    body = request.body.decode()
    verify_both(rotated["secret"], body, request)  # the new secret…
    verify(request.body, request.headers, OWN_SECRET)  # …and, in its grace period, the old
    sent = base64.b64decode(request.headers["Authorization"].split()[1]).decode()
    assert sent == f"user:{PASSWORD}"
    assert request.headers["X-Api-Key"] == API_KEY
    assert request.headers["X-Plain"] == "not-secret"
    assert other_request.headers["Authorization"] == BEARER
    verify_both(other["secret"], other_request.body.decode(), other_request)


def test_keys_rotate_old_rows_open_and_new_rows_use_the_first_key(make_app, database_url, cli):
    """With two keys the first seals and both open: a hook sealed with the old key still
    delivers, a new one is sealed with the new key; dropping a key still in use stops
    start-up, naming the key id, until `db reseal` moved everything to the new key."""
    old_app = _start(make_app, encryption_keys=KEY_OLD, embedded_worker=False)
    old_client = old_app.test_client()
    store = Hookkit.of(old_app).store
    from connector.hooks.accounts import create_key, ensure_account

    auth = {"Authorization": f"Bearer {create_key(store, ensure_account(store, 'acme'))}"}
    with Receiver() as receiver:
        before = subscribe(old_client, auth, receiver.url + "/old", secret=OWN_SECRET)
        Hookkit.of(old_app).close()

        client = _start(make_app, encryption_keys=f"{KEY_NEW}, {KEY_OLD}").test_client()
        after = subscribe(client, auth, receiver.url + "/new")
        sealed = {row[0]: row[1] for row in _secrets_of(database_url)}
        assert _sealed_with(sealed[before["id"]]) == _kid(KEY_OLD)
        assert _sealed_with(sealed[after["id"]]) == _kid(KEY_NEW)
        assert client.get(f"/v1/hooks/{before['id']}", headers=auth).status_code == 200

        publish(client, auth)
        requests = {r.path: r for r in receiver.wait_for(2)}
    verify(requests["/old"].body, requests["/old"].headers, OWN_SECRET)
    verify_both(after["secret"], requests["/new"].body.decode(), requests["/new"])

    with pytest.raises(ConfigError, match=_kid(KEY_OLD)):
        _start(make_app, encryption_keys=KEY_NEW)
    # `db reseal` moves every value to the first key; then the old key can go.
    resealed = cli("db", "reseal", env={"HOOKKIT_ENCRYPTION_KEYS": f"{KEY_NEW},{KEY_OLD}"})
    assert resealed.exit_code == 0, resealed.output
    assert f"key {_kid(KEY_NEW)}" in resealed.output
    assert {_sealed_with(row[1]) for row in _secrets_of(database_url)} == {_kid(KEY_NEW)}
    client = _start(make_app, encryption_keys=KEY_NEW).test_client()
    assert client.get(f"/v1/hooks/{before['id']}", headers=auth).status_code == 200


def test_a_wrong_or_missing_key_stops_start_up_not_a_send(make_app, database_url, cli):
    """A database sealed with one key refuses to start with another, with a message naming
    the variable and the key id (the app, and the CLI as one clear line)."""
    app = _start(make_app, encryption_keys=KEY_OLD)
    client = app.test_client()
    store = Hookkit.of(app).store
    from connector.hooks.accounts import create_key, ensure_account

    auth = {"Authorization": f"Bearer {create_key(store, ensure_account(store, 'acme'))}"}
    subscribe(client, auth, "http://127.0.0.1:9/x", secret=OWN_SECRET)
    Hookkit.of(app).close()

    with pytest.raises(ConfigError, match="HOOKKIT_ENCRYPTION_KEYS") as refused:
        _start(make_app, encryption_keys=KEY_NEW)
    assert _kid(KEY_OLD) in str(refused.value)
    for key in (KEY_OLD, KEY_NEW):
        assert key not in str(refused.value)  # never a key in a message
    result = cli("worker", env={"HOOKKIT_ENCRYPTION_KEYS": KEY_NEW})
    assert result.exit_code != 0 and _kid(KEY_OLD) in result.output
    with pytest.raises(ConfigError, match="not a Fernet key"):
        _start(make_app, encryption_keys="not-a-key")


def test_sqlite_without_keys_uses_a_private_key_file_beside_the_database(make_app, database_url):
    """SQLite with no keys: `<database>.key`, 0600, made once and reused; deleting it stops
    the next start-up instead of failing sends."""
    if not _is_sqlite(database_url):
        pytest.skip("SQLite's key file")
    app = make_app(encryption_keys="")
    client = app.test_client()
    store = Hookkit.of(app).store
    from connector.hooks.accounts import create_key, ensure_account

    auth = {"Authorization": f"Bearer {create_key(store, ensure_account(store, 'acme'))}"}
    subscribe(client, auth, "http://127.0.0.1:9/x")
    path = key_file(database_url)
    assert path is not None and path == Path(database_url.split("///", 1)[1] + ".key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = path.read_bytes()
    Hookkit.of(app).close()
    make_app(encryption_keys="")  # reuses it
    assert path.read_bytes() == key

    path.unlink()
    with pytest.raises(ConfigError, match="key file"):
        make_app(encryption_keys="")


def test_postgresql_without_keys_refuses_to_start(pg_url):
    """PostgreSQL has no place for a key file every process shares: no keys, no start."""
    from connector import create_app

    with pytest.raises(ConfigError, match="HOOKKIT_ENCRYPTION_KEYS is not set"):
        create_app({"database_url": pg_url, "embedded_worker": False})


def test_migration_0003_seals_the_legacy_database(make_app, database_url):
    """Upgrading the database made before migrations (with a password, sensitive headers
    and a previous secret added to its hook) seals every one of them; the hook still sends
    them and signs with its old secret."""
    legacy = _load_legacy(database_url)
    _rows_change(
        database_url,
        "UPDATE subscriptions SET "
        f"""auth = '{{"type": "basic", "username": "u", "password": "{PASSWORD}"}}', """
        f"""headers = '{{"X-Api-Key": "{API_KEY}", "X-Plain": "visible"}}', """
        f"previous_secret = '{OWN_SECRET}', previous_secret_expires_at = 1e10 "
        f"WHERE id = '{legacy['hook_id']}'",
    )
    _upgrade(database_url)
    assert _status(database_url).at_head
    rows = _rows(database_url, "SELECT secret, previous_secret, auth, headers FROM subscriptions")
    assert len(rows) == 2
    for secret, previous, _auth, _headers in rows:
        assert secret.startswith("hk1:")
        assert previous is None or previous.startswith("hk1:")
    text_rows = str(rows)
    for plaintext in (PASSWORD, API_KEY, OWN_SECRET, legacy["secret"]):
        assert plaintext not in text_rows
    assert "visible" in text_rows  # a header that is not sensitive stays readable
    if _is_sqlite(database_url):  # nor in the file's free pages or its WAL
        _rows_change(database_url, "PRAGMA wal_checkpoint(TRUNCATE)")
        raw = _stored_text(database_url)
        for plaintext in (PASSWORD, API_KEY, OWN_SECRET, legacy["secret"]):
            assert plaintext.encode() not in raw, plaintext

    auth = {"Authorization": f"Bearer {legacy['key']}"}
    client = make_app().test_client()
    with Receiver() as receiver:
        hook = f"/v1/hooks/{legacy['hook_id']}"
        moved = client.patch(hook, json={"target_url": receiver.url}, headers=auth)
        assert moved.status_code == 200, moved.json
        publish(client, auth, SESSION)
        [request] = receiver.wait_for(1)
    verify(request.body, request.headers, legacy["secret"])
    verify(request.body, request.headers, OWN_SECRET)
    assert request.headers["X-Api-Key"] == API_KEY
    sent = base64.b64decode(request.headers["Authorization"].split()[1]).decode()
    assert sent == f"u:{PASSWORD}"


def _rows_change(url: str, sql: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()
