"""Schema migrations: the scripts reproduce `tables`, a new database gets the same schema
faster, a database made before migrations is adopted with its data, the `db` commands,
HOOKKIT_AUTO_MIGRATE=false, and processes starting at once. Both backends (`database_url`)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import String, create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from connector import verify
from connector.cli import main
from connector.store import migrate
from connector.store.database import Store
from connector.store.tables import metadata
from connector.testing import Receiver

from .conftest import FAST, SESSION, wait_until

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
TRIGGERS = {"hookkit_deliveries_inserted", "hookkit_deliveries_requeued"}


# -- helpers -------------------------------------------------------------------------------


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sql(url: str, statement: str) -> list[Any]:
    """Run one statement on the database (committed) and return its rows."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


# The suite's encryption key (conftest), which its apps run with.
_KEYS = FAST["encryption_keys"]
_KEYS_ENV = {"HOOKKIT_ENCRYPTION_KEYS": _KEYS}


@contextmanager
def _store(url: str) -> Iterator[Store]:
    """A store on `url`, disposed of afterwards (nothing may hold the database open)."""
    store = Store(url, encryption_keys=_KEYS)
    try:
        yield store
    finally:
        store.dispose()


def _run_scripts(url: str) -> None:
    """Upgrade to head by running the migration scripts themselves (Alembic via env.py)."""
    with _store(url) as store, store.write() as conn:
        command.upgrade(migrate.alembic_config(conn), "head")


def _upgrade(url: str) -> migrate.Upgraded:
    with _store(url) as store:
        return migrate.upgrade(store)


def _status(url: str) -> migrate.Status:
    with _store(url) as store:
        return migrate.current(store)


def _reset(url: str) -> None:
    """Make the test's database empty again (nothing may hold it open)."""
    if _is_sqlite(url):
        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    [(schema,)] = _sql(url, "SELECT current_schema()")
    _sql(url, f"DROP SCHEMA {schema} CASCADE")
    _sql(url, f"CREATE SCHEMA {schema}")


def _load_legacy(url: str) -> dict[str, str]:
    """Load the database made before migrations (tests/data); returns its fixture line."""
    name = "legacy_sqlite.sql" if _is_sqlite(url) else "legacy_postgres.sql"
    script = (DATA / name).read_text()
    if _is_sqlite(url):
        with sqlite3.connect(url.split("///", 1)[1]) as conn:
            conn.executescript(script)
        conn.close()
    else:
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.connection.driver_connection.execute(script)  # type: ignore[union-attr]
        finally:
            engine.dispose()
    found = re.search(r"^-- fixture: (.+)$", script, re.MULTILINE)
    assert found, f"{name} has no fixture line"
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def _catalog(url: str) -> dict[str, Any]:
    """The schema as the database itself describes it, for exact comparisons."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = _sqlite_catalog(conn) if _is_sqlite(url) else _postgres_catalog(conn)
    finally:
        engine.dispose()
    return {
        key: [tuple(" ".join(v.split()) if isinstance(v, str) else v for v in row) for row in rows]
        for key, rows in found.items()
    }


def _sqlite_catalog(conn: Connection) -> dict[str, list[Any]]:
    def rows(sql: str) -> list[Any]:
        return [tuple(row) for row in conn.exec_driver_sql(sql)]

    found: dict[str, list[Any]] = {}
    for (table,) in rows("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        found[f"{table} columns"] = rows(f"PRAGMA table_xinfo('{table}')")
        found[f"{table} foreign keys"] = rows(f"PRAGMA foreign_key_list('{table}')")
        for _, index, unique, origin, partial in rows(f"PRAGMA index_list('{table}')"):
            definition = rows(f"SELECT sql FROM sqlite_master WHERE name = '{index}'")
            found[f"{table} index {index}"] = [
                (unique, origin, partial, definition[0][0]),
                *rows(f"PRAGMA index_xinfo('{index}')"),
            ]
    return found


def _postgres_catalog(conn: Connection) -> dict[str, list[Any]]:
    here = "current_schema()::regnamespace"
    queries = {
        "columns": "SELECT table_name, column_name, ordinal_position, data_type,"
        " character_maximum_length, is_nullable, column_default FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY 1, 3",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
        f" FROM pg_constraint WHERE connamespace = {here} ORDER BY 1, 2",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = current_schema() ORDER BY 1, 2",
        "sequences": "SELECT sequence_name, data_type, start_value, increment"
        " FROM information_schema.sequences WHERE sequence_schema = current_schema()",
        "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(t.oid)"
        f" FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        f" WHERE c.relnamespace = {here} AND NOT tgisinternal ORDER BY 1, 2",
        "functions": "SELECT proname, pg_get_functiondef(oid) FROM pg_proc"
        f" WHERE pronamespace = {here} ORDER BY 1",
    }
    return {key: [tuple(row) for row in conn.execute(text(sql))] for key, sql in queries.items()}


def _for_dialect(name: str) -> Callable[..., bool]:
    """Alembic's include_object: leave out what `ddl_if` keeps off this dialect (the
    per-dialect partial unique indexes), which autogenerate does not know about."""

    def include(obj: Any, _name: Any, _type: str, _reflected: bool, _compare_to: Any) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.dialect in (None, name)

    return include


def _differences(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_object": _for_dialect(conn.dialect.name)}
            )
            with warnings.catch_warnings():
                # SQLite: about the PostgreSQL-only digest index, which is left out anyway.
                warnings.filterwarnings("ignore", "autogenerate skipping .* expression-based")
                return compare_metadata(context, metadata)  # type: ignore[no-any-return]
    finally:
        engine.dispose()


# -- the migrations and the schema ---------------------------------------------------------


def test_migration_scripts_reproduce_the_declared_schema(database_url):
    """Running the migration scripts on an empty database gives exactly `tables.metadata`."""
    _run_scripts(database_url)
    assert _differences(database_url) == []
    assert _status(database_url).at_head
    if not _is_sqlite(database_url):
        names = _sql(
            database_url,
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'deliveries'::regclass"
            " AND NOT tgisinternal",
        )
        assert {name for (name,) in names} == TRIGGERS


def test_a_new_database_gets_the_schema_the_migrations_make(database_url):
    """`upgrade` on an empty database (create_all and a stamp) builds what the scripts build."""
    assert str(_upgrade(database_url)) == f"created the schema at {migrate.head()} (head)"
    assert _differences(database_url) == []
    created = _catalog(database_url)
    _reset(database_url)
    _run_scripts(database_url)
    assert _catalog(database_url) == created


def test_an_adopted_database_has_the_schema_of_a_new_one(database_url):
    """A database made before migrations, once upgraded, is described exactly like a new one."""
    _load_legacy(database_url)
    assert _status(database_url).made_before_migrations
    _upgrade(database_url)
    adopted = _catalog(database_url)
    _reset(database_url)
    _upgrade(database_url)
    assert adopted == _catalog(database_url)


def test_a_database_made_before_migrations_keeps_its_data_and_works(database_url, make_app):
    """The pre-migration database is stamped and upgraded in place, and the API works on it."""
    legacy = _load_legacy(database_url)
    auth = {"Authorization": f"Bearer {legacy['key']}"}
    hook = f"/v1/hooks/{legacy['hook_id']}"
    client = make_app().test_client()  # auto_migrate: adopts it at start-up
    assert _status(database_url).at_head

    listed = client.get("/v1/hooks", headers=auth).json["subscriptions"]
    assert [found["id"] for found in listed] == [legacy["hook_id"]]
    old_log = client.get(f"{hook}/deliveries", headers=auth).json["deliveries"]
    assert [500, 200] in [[a["response_code"] for a in d["attempts"]] for d in old_log]
    replay = client.post(
        "/v1/events", json={"type": "session", "data": SESSION, "id": "legacy-1"}, headers=auth
    )
    assert replay.status_code == 200  # the idempotency key stored before migrations

    with Receiver() as receiver:
        moved = client.patch(hook, json={"target_url": receiver.url}, headers=auth)
        assert moved.status_code == 200, moved.json
        event = client.post("/v1/events", json={"type": "session", "data": SESSION}, headers=auth)
        assert event.json["deliveries"] == 1
        [request] = receiver.wait_for(1)
    verify(request.body, request.headers, legacy["secret"])  # the secret stored before
    assert request.json() == {  # its mapping and custom values, stored before
        "id": event.json["id"],
        "session": SESSION["session"]["id"],
        "source": "legacy",
    }

    def recorded() -> bool:
        log = client.get(f"{hook}/deliveries", headers=auth).json["deliveries"]
        return any(d["event_id"] == event.json["id"] and d["status"] == "delivered" for d in log)

    wait_until(recorded)


def test_a_database_with_only_some_of_the_tables_is_left_alone(database_url):
    """Tables that hookkit did not make are refused, and nothing is created beside them."""
    _sql(database_url, "CREATE TABLE accounts (id VARCHAR(40) PRIMARY KEY)")
    with pytest.raises(migrate.SchemaNotCurrent, match="hookkit did not make it"):
        _upgrade(database_url)
    assert _status(database_url).tables == {"accounts"}
    assert _status(database_url).revision is None


def test_a_migration_may_rebuild_a_referenced_table_and_keep_its_rows(database_url):
    """A batch rebuild of `subscriptions` (SQLite's way to alter a column) keeps every row
    and reference; a schema change that breaks a reference is rolled back instead."""
    _load_legacy(database_url)
    _upgrade(database_url)
    counts = "SELECT (SELECT count(*) FROM subscriptions), (SELECT count(*) FROM deliveries)"
    before = _sql(database_url, counts)
    store = Store(database_url)
    try:
        for width in (40, 32):  # widen, then back to what `tables` declares
            with store.schema_write() as conn:
                operations = Operations(MigrationContext.configure(conn))
                with operations.batch_alter_table("subscriptions") as batch:
                    batch.alter_column("platform", type_=String(width), existing_nullable=False)
        with pytest.raises((RuntimeError, IntegrityError)), store.schema_write() as conn:
            conn.execute(text("UPDATE deliveries SET subscription_id = 'hook_none'"))
    finally:
        store.dispose()
    assert _sql(database_url, counts) == before
    assert _sql(
        database_url, "SELECT count(*) FROM deliveries WHERE subscription_id = 'hook_none'"
    ) == [(0,)]
    assert _differences(database_url) == []


# -- the CLI -------------------------------------------------------------------------------


def _cli(database_url: str, *args: str, **env: str) -> Any:
    environ = {
        "HOOKKIT_DATABASE_URL": database_url,
        "HOOKKIT_LOG_LEVEL": "WARNING",
        **_KEYS_ENV,
        **env,
    }
    return CliRunner().invoke(main, list(args), env=environ)


def test_db_commands_upgrade_and_report_the_revision(database_url):
    """`db history`, `db current [--check]` and `db upgrade` say and do what they should."""
    head = migrate.head()
    history = _cli(database_url, "db", "history")
    assert history.exit_code == 0, history.output
    assert history.stdout.splitlines()[0].startswith(f"{head}  ")
    assert "(head" in history.stdout and "baseline" in history.stdout

    before = _cli(database_url, "db", "current", "--check")
    assert before.exit_code == 1 and "empty" in before.stdout

    upgraded = _cli(database_url, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.stdout.strip() == f"created the schema at {head} (head)"
    again = _cli(database_url, "db", "upgrade")
    assert again.stdout.strip() == f"already at {head} (head)"

    after = _cli(database_url, "db", "current", "--check")
    assert after.exit_code == 0, after.output
    assert after.stdout.strip() == f"{head} (head)"


def test_db_upgrade_adopts_a_database_made_before_migrations(database_url):
    """`db upgrade` stamps a pre-migration database at the baseline, then it is at head."""
    _load_legacy(database_url)
    assert "made before migrations" in _cli(database_url, "db", "current").stdout
    upgraded = _cli(database_url, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "adopted a database made before migrations" in upgraded.stdout
    assert _status(database_url).at_head
    assert _sql(database_url, "SELECT count(*) FROM attempts") == [(3,)]


# -- start-up ------------------------------------------------------------------------------


def test_without_auto_migrate_a_database_behind_head_stops_start_up(database_url, make_app):
    """HOOKKIT_AUTO_MIGRATE=false refuses an empty or pre-migration database, naming the
    upgrade command, and changes nothing; after `db upgrade` the service starts."""
    with pytest.raises(migrate.SchemaNotCurrent, match=re.escape(migrate.UPGRADE_COMMAND)):
        make_app(auto_migrate=False)
    assert _status(database_url).empty

    _load_legacy(database_url)
    refused = _cli(database_url, "keys", "list", "acme", HOOKKIT_AUTO_MIGRATE="false")
    assert refused.exit_code == 1
    assert migrate.UPGRADE_COMMAND in refused.output
    assert _status(database_url).made_before_migrations

    assert _cli(database_url, "db", "upgrade").exit_code == 0
    assert make_app(auto_migrate=False).test_client().get("/healthz").status_code == 200


def test_without_auto_migrate_an_older_revision_is_refused(database_url, make_app, monkeypatch):
    """A database stamped at a revision older than the code's head is refused, naming both
    revisions and the upgrade command."""
    _upgrade(database_url)
    stamped = migrate.head()
    monkeypatch.setattr(migrate, "_head", lambda: "9999")  # as if a newer migration shipped
    with pytest.raises(migrate.SchemaNotCurrent) as refused:
        make_app(auto_migrate=False)
    message = str(refused.value)
    assert f"{stamped}, behind head 9999" in message
    assert migrate.UPGRADE_COMMAND in message


def test_a_revision_the_code_does_not_know_is_refused(database_url, make_app):
    """A database upgraded by a newer hookkit is refused, automatic migration or not."""
    _upgrade(database_url)
    _sql(database_url, "UPDATE alembic_version SET version_num = '9999'")
    for auto in (True, False):
        with pytest.raises(migrate.SchemaNotCurrent, match="does not know"):
            make_app(auto_migrate=auto)
    assert _status(database_url).revision == "9999"


def test_two_stores_of_one_process_upgrading_at_once_take_turns(database_url):
    """Two stores of one process upgrading one empty database at once: one creates the
    schema, the other then finds it at head (apps in threads: the processes test below)."""
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            results.append(str(_upgrade(database_url)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    head = migrate.head()
    assert errors == []
    assert sorted(results) == [f"already at {head} (head)", f"created the schema at {head} (head)"]
    assert _sql(database_url, "SELECT version_num FROM alembic_version") == [(head,)]


_CHILD = """
import os, sys, time
from connector import create_app
from connector.service import Hookkit
go, ready = sys.argv[1:]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
app = create_app({
    "database_url": os.environ["HOOKKIT_DATABASE_URL"],
    "encryption_keys": os.environ.get("HOOKKIT_ENCRYPTION_KEYS", ""),
    "embedded_worker": False,
})
Hookkit.of(app).close()
print("up")
"""


def test_two_processes_starting_at_once_on_a_new_database_both_come_up(database_url, tmp_path):
    """Two service processes, released at the same instant on one empty database, both start."""
    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKKIT_")}
    env["HOOKKIT_DATABASE_URL"] = database_url
    env.update(_KEYS_ENV)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(go), str(tmp_path / f"ready-{n}")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    try:
        wait_until(lambda: all((tmp_path / f"ready-{n}").exists() for n in range(2)), 30)
        go.touch()  # both have imported hookkit and wait: release them together
        outputs = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0 and out.strip() == "up", err
    assert _sql(database_url, "SELECT version_num FROM alembic_version") == [(migrate.head(),)]
