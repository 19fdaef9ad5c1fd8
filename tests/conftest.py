"""Fixtures: a service on a fresh SQLite file per test, API keys of two accounts, receivers,
a clock the test moves, and the CLI run in-process.

Nothing here reads a `HOOKKIT_*` setting from the environment: apps get their settings as a
mapping (`create_app` never reads the environment) and the `cli` fixture hides every
`HOOKKIT_*` variable of the shell from the command, so the suite runs the same whatever the
developer's shell exports. Only HOOKKIT_TEST_BACKEND, HOOKKIT_TEST_POSTGRES_URL and
HOOKKIT_REQUIRE_POSTGRES, which choose the test database, are read.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from connector import create_app
from connector.catalog import Catalog
from connector.clock import Clock, ManualClock, system_clock
from connector.config import Settings
from connector.hooks.accounts import create_key, ensure_account
from connector.service import Hookkit
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

# PostgreSQL needs HOOKKIT_ENCRYPTION_KEYS (SQLite without it uses a key file next to the
# database, tests/test_secrets_at_rest.py): every app, CLI call, worker and subprocess of the
# suite gets this fixed test key, whichever database it uses.
TEST_ENCRYPTION_KEY = "aG9va2tpdC10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDA="
FAST["encryption_keys"] = TEST_ENCRYPTION_KEY


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """This test's database: a fresh SQLite file, or with HOOKKIT_TEST_BACKEND=postgres a
    fresh schema on the test PostgreSQL server (CI runs the suite both ways)."""
    if os.environ.get("HOOKKIT_TEST_BACKEND", "sqlite") == "postgres":
        return request.getfixturevalue("pg_url")  # type: ignore[no-any-return]
    return f"sqlite:///{tmp_path / 'hookkit.db'}"


@functools.cache
def shipped_catalog() -> Catalog:
    """The shipped event catalog (`schemas/`, `samples/`), loaded once per test session.

    It is read-only after loading, so every app of the session shares it; tests that need a
    broken or different catalog load their own.
    """
    defaults = Settings()
    return Catalog.load(defaults.schemas_dir, defaults.samples_dir)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped event catalog, loaded once per session (see `shipped_catalog`)."""
    return shipped_catalog()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when told (`clock.advance(seconds)`): `make_app(clock=clock)`.

    Due times, leases, rate limits, expiry and links follow it; the worker's sleeps stay real,
    so with it a retry is sent only after the test moves the clock past its due time.
    """
    return ManualClock()


@pytest.fixture
def make_app(database_url: str, catalog: Catalog) -> Iterator[Callable[..., Flask]]:
    """Build apps on this test's database and the session's catalog; every one is closed at
    teardown. `clock=` injects a clock (e.g. the `clock` fixture); other keywords override
    settings (an app given its own schemas or samples directory loads its own catalog)."""
    made: list[Flask] = []

    def make(*, clock: Clock = system_clock, **overrides: Any) -> Flask:
        config = {"database_url": database_url, **FAST, **overrides}
        own = "schemas_dir" in overrides or "samples_dir" in overrides
        app = create_app(config, clock=clock, catalog=None if own else catalog)
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield make
    for app in made:
        Hookkit.of(app).close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _key(app: Flask, account: str) -> dict[str, str]:
    """A new key of `account` (made on the service's clock, like everything it stores)."""
    hk = Hookkit.of(app)
    key = create_key(hk.store, ensure_account(hk.store, account, clock=hk.clock), clock=hk.clock)
    return {"Authorization": f"Bearer {key}"}


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # type: ignore[no-any-return]


def deliveries_of(client: FlaskClient, auth: dict[str, str], hook_id: str, query: str = "") -> Any:
    """A hook's delivery log page, as the API answers it (asserting a 200)."""
    response = client.get(f"/v1/hooks/{hook_id}/deliveries{query}", headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def all_delivered(client: FlaskClient, auth: dict[str, str], hook_id: str, count: int) -> Any:
    """The hook's deliveries once exactly `count` exist and all are delivered, else False."""
    found = deliveries_of(client, auth, hook_id, "?limit=100")["deliveries"]
    return len(found) == count and all(d["status"] == "delivered" for d in found) and found


def caught_up(client: FlaskClient, auth: dict[str, str]) -> None:
    """A fence for "nothing happened": publish a `share` event to a hook of its own and wait
    until its delivery is recorded as delivered.

    Claims go oldest due time first, so anything that was due when the fence was published
    was claimed (and sent) no later than the fence. With a `ManualClock`, move the clock past
    what must not happen first; then everything that was due has had its turn.
    """
    data = shipped_catalog().get("share").sample
    with Receiver() as fence:
        hook = subscribe(client, auth, fence.url + "/fence", event="share")
        publish(client, auth, data, type="share")
        fence.wait_for(1)
        wait_until(lambda: all_delivered(client, auth, hook["id"], 1))
    assert client.delete(f"/v1/hooks/{hook['id']}", headers=auth).status_code == 204


def verify_both(secret: str, payload: str, request: Any) -> None:
    """Verify with both receiver libraries, as a user's server would (raises if it fails)."""
    import standardwebhooks
    import svix.webhooks

    headers = {k.lower(): v for k, v in request.headers.items()}
    standardwebhooks.Webhook(secret).verify(payload, headers, json_parse=False)
    svix.webhooks.Webhook(secret).verify(payload, headers)


# -- the CLI, in-process --------------------------------------------------------------------


@pytest.fixture
def cli(database_url: str) -> Callable[..., Result]:
    """Run `python -m connector ARGS` in-process with click's CliRunner, on this test's
    database: `cli("keys", "create", "acme", env={"HOOKKIT_...": "..."})`.

    The command sees HOOKKIT_DATABASE_URL, HOOKKIT_ALLOW_PRIVATE_TARGETS=true and what `env`
    adds, and no other HOOKKIT_* variable: those of the shell are hidden during the call.
    """
    from connector.cli import main

    runner = CliRunner()

    def run(*args: str, env: Mapping[str, str] | None = None) -> Result:
        variables: dict[str, str | None] = {
            name: None for name in os.environ if name.startswith("HOOKKIT_")
        }
        variables.update(
            {"HOOKKIT_DATABASE_URL": database_url, "HOOKKIT_ALLOW_PRIVATE_TARGETS": "true"}
        )
        variables["HOOKKIT_ENCRYPTION_KEYS"] = TEST_ENCRYPTION_KEY
        variables.update(env or {})
        return runner.invoke(main, list(args), env=variables, catch_exceptions=False)

    return run


def hermetic_env(**variables: str) -> dict[str, str]:
    """This process's environment without its HOOKKIT_* variables, plus `variables`: for
    subprocesses, which must not inherit the settings of the developer's shell. The
    test encryption key (HOOKKIT_ENCRYPTION_KEYS) is added, as for apps."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKKIT_")}
    env["HOOKKIT_ENCRYPTION_KEYS"] = TEST_ENCRYPTION_KEY
    return {**env, **variables}


POSTGRES_URL = os.environ.get(
    "HOOKKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


# -- PostgreSQL and worker subprocesses (isolation, crash and PostgreSQL tests) --------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL of the test PostgreSQL whose tables live in a fresh schema, dropped at teardown.

    Skips when the server is unreachable, unless HOOKKIT_REQUIRE_POSTGRES=1 (CI), which fails.
    """
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    schema = f"hk_{secrets.token_hex(6)}"
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError as exc:
        engine.dispose()
        reason = f"PostgreSQL unreachable at {POSTGRES_URL} ({exc.orig})"
        if os.environ.get("HOOKKIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}; HOOKKIT_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(reason)
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '20s'"))
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


class Workers:
    """`python -m connector worker` subprocesses; every one is killed at teardown."""

    def __init__(self, tmp_path: Any) -> None:
        self.tmp_path = tmp_path
        self.procs: list[Any] = []

    def start(self, database_url: str, **settings: Any) -> Any:
        """Start a worker; `settings` are Settings field names (strings parsed as the env's)."""
        import subprocess
        import sys
        from dataclasses import fields
        from pathlib import Path

        names = {spec.name: spec.metadata["env"] for spec in fields(Settings)}
        merged = {**FAST, "log_level": "INFO", **settings, "database_url": database_url}
        env = hermetic_env(
            **{
                names[name]: str(value).lower() if isinstance(value, bool) else str(value)
                for name, value in merged.items()
            }
        )
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "w+b")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "connector", "worker"],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc.log_file = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    @staticmethod
    def output(proc: Any) -> str:
        proc.log_file.seek(0)
        return proc.log_file.read().decode(errors="replace")  # type: ignore[no-any-return]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            proc.log_file.close()


@pytest.fixture
def workers(tmp_path: Any) -> Iterator[Workers]:
    """Start worker subprocesses; all are killed (SIGKILL) at teardown, whatever happened."""
    pool = Workers(tmp_path)
    try:
        yield pool
    finally:
        pool.close()
