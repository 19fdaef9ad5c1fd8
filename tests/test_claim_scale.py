"""Claiming with a large `deliveries` table on PostgreSQL: `bench/claim_scale.py --quick`
runs and prints every figure (never judged on speed), and the table's own autovacuum
settings, which keep dead rows from piling up in front of the claim, are on every database,
new or migrated. PostgreSQL only (HOOKKIT_TEST_BACKEND=postgres)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connector.store import migrate
from connector.store.database import Store
from connector.store.tables import DELIVERIES_AUTOVACUUM

from .conftest import POSTGRES_URL, TEST_ENCRYPTION_KEY, hermetic_env

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    os.environ.get("HOOKKIT_TEST_BACKEND", "sqlite") != "postgres",
    reason="PostgreSQL only (HOOKKIT_TEST_BACKEND=postgres)",
)

_MS = (
    r"median \d+\.\d+ ms \(min \d+\.\d+, max \d+\.\d+\), claimed 100-100, ratio to empty \d+\.\d+x"
)
_PLAN = (
    r"(custom|generic) plan, indexes [\w, ]+; seq scans \d+; scan \d+\.\d+ ms; "
    r"pages read [\d,]+, ratio to empty"
)
STATES = [
    "empty",
    "old rows",
    r"[\d,]+ finished since the last vacuum \(default autovacuum\)",
    r"[\d,]+ finished since the last vacuum \(the table's autovacuum\)",
    r"[\d,]+ finished, an older snapshot held open",
    "90 % deleted, before vacuum",
    "after VACUUM",
]


def test_the_quick_bench_prints_every_figure(pg_url):
    """`--quick` claims 100 due deliveries among 100,000 old rows in every state and prints,
    for each, the median, its ratio to the empty table and the plan with the pages it read;
    the schema it made is gone afterwards."""
    del pg_url  # only so the test skips (or fails under HOOKKIT_REQUIRE_POSTGRES) without one
    run = subprocess.run(
        [sys.executable, "bench/claim_scale.py", "--quick", "--url", POSTGRES_URL],
        cwd=ROOT,
        env=hermetic_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert re.search(r"^claim_scale: 100,000 old rows, 100 due deliveries", out, re.M)
    assert re.search(r"^inserted 100,000 old deliveries and events in \d+\.\d s$", out, re.M)
    assert re.search(
        r"^autovacuum runs after: [\d,]+ dead rows with PostgreSQL's defaults, [\d,]+ with",
        out,
        re.M,
    )
    for state in STATES:
        assert re.search(
            rf"^state: {state}: {_MS}, deliveries live [\d,]+ dead [\d,]+$", out, re.M
        ), state
        assert re.search(rf"^plan: {state}: {_PLAN} \d+\.\dx$", out, re.M), state
    assert re.search(r"^deleted [\d,]+ old deliveries and their events in \d+\.\d s$", out, re.M)
    assert re.search(r"^vacuumed in \d+\.\d s$", out, re.M)
    assert re.search(r"^total time: \d+\.\d s$", out, re.M)
    schema = re.search(r"^schema: (claimscale_[0-9a-f]+) \(dropped at the end\)$", out, re.M)
    assert schema
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM pg_namespace WHERE nspname = :name"),
                {"name": schema.group(1)},
            ).scalar_one()
    finally:
        engine.dispose()
    assert left == 0


def _reloptions(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT reloptions FROM pg_class WHERE relname = 'deliveries' "
                    "AND relnamespace = current_schema()::regnamespace"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return set(found or [])


@pytest.mark.parametrize("how", ["new database", "migration scripts"])
def test_deliveries_carry_their_autovacuum_settings(pg_url, how):
    """Both a new database (the declared schema) and one brought up by the migration
    scripts vacuum `deliveries` after 1,000 + 1 % dead rows, not PostgreSQL's 20 %."""
    store = Store(pg_url, encryption_keys=TEST_ENCRYPTION_KEY)
    try:
        if how == "new database":
            migrate.upgrade(store)
        else:
            from alembic import command

            with store.write() as conn:
                command.upgrade(migrate.alembic_config(conn), "head")
    finally:
        store.dispose()
    expected = {f"{name}={value}" for name, value in DELIVERIES_AUTOVACUUM.items()}
    assert _reloptions(pg_url) == expected
