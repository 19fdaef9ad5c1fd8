"""Does claiming stay fast with a million old rows on PostgreSQL?

Retention keeps finished deliveries for 30 days (docs/operations.md), so a busy deployment's
`deliveries` table holds millions of delivered rows beside the few due ones, and pruning them
leaves dead tuples until (auto)vacuum. This script measures the claim of due work
(`connector.delivery.outbox.claim`, a worker's quota) in each of these states, as the median
of repeats, beside the same claim on an empty table:

1. empty: only the due deliveries (the baseline);
2. old rows: N delivered deliveries and their events (bulk SQL: generate_series), ANALYZEd;
3. finished since the last vacuum: as many deliveries as went from pending to delivered
   before PostgreSQL's default autovacuum would run (20 % of the table), so the claim
   path's `pending` index ranges hold that many dead entries older than the due work;
4. the same with as many as the table's own autovacuum settings allow
   (`tables.DELIVERIES_AUTOVACUUM`: 1,000 + 1 %);
5. the same while an older transaction holds its snapshot (dead rows cannot be cleaned up,
   not even by index scans marking entries dead: what a long `pg_dump` or a stuck session
   does);
6. after deleting 90 % of the old rows (retention), before any vacuum;
7. after VACUUM.

Each state prints the median, the ratio to the empty table, and the claim query's plan
(EXPLAIN ANALYZE, BUFFERS: the index it uses and the pages it touched). Autovacuum is off on
the bench's tables while it measures, so "before vacuum" means that; the schema is fresh
(`claimscale_<hex>` in database `test` at 127.0.0.1:5432) and dropped at the end.

    .venv/bin/python bench/claim_scale.py --quick     # 100,000 old rows, well under a minute
    .venv/bin/python bench/claim_scale.py             # 1,000,000 old rows

It never judges speed (no exit status for a slow claim): the figures are for the docs
(docs/operations.md "Retention and a large table"). Standalone: nothing else in bench/ is
imported.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import secrets
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from connector import create_app
from connector.delivery import outbox
from connector.hooks.accounts import create_key, ensure_account
from connector.service import Hookkit
from connector.store.database import Store
from connector.store.tables import DELIVERIES_AUTOVACUUM as _AUTOVACUUM

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DUE = 100  # due deliveries the claim should find, among the old rows
HOSTS = 10  # ... spread over this many target hosts (one hook each) of ACCOUNTS accounts
ACCOUNTS = 4
LEASE = 60.0
# What a worker with the default settings asks for: HOOKKIT_MAX_IN_FLIGHT=64 and
# HOOKKIT_MAX_PER_HOST=8, each doubled for claims held before sending (`worker.Worker`).
QUOTA = outbox.Quota(total=128, per_host=16, per_account=64)
DAY = 86400.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 old rows, fewer repeats")
    parser.add_argument("--rows", type=int, help="old rows (default 1,000,000; --quick 100,000)")
    parser.add_argument("--repeats", type=int, help="claims per state (median shown)")
    parser.add_argument("--url", default=SERVER, help="PostgreSQL server (database `test`)")
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    repeats = args.repeats or (15 if args.quick else 31)
    started = time.monotonic()
    schema = f"claimscale_{secrets.token_hex(4)}"
    admin = create_engine(args.url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    print(f"schema: {schema} (dropped at the end)")
    try:
        url = make_url(args.url).update_query_dict({"options": f"-csearch_path={schema}"})
        Bench(url.render_as_string(hide_password=False), rows, repeats).run()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    print(f"total time: {time.monotonic() - started:.1f} s")
    return 0


class Bench:
    def __init__(self, url: str, rows: int, repeats: int) -> None:
        self.url, self.rows, self.repeats = url, rows, repeats
        self.keys = Fernet.generate_key().decode()
        self.now = time.time()
        self.empty_ms: float | None = None
        self.empty_pages: int | None = None
        self.statements: list[tuple[str, Any]] = []

    # -- set-up ---------------------------------------------------------------------------

    def run(self) -> None:
        settings = {
            "database_url": self.url,
            "encryption_keys": self.keys,
            "embedded_worker": False,
            "allow_private_targets": True,
            "log_level": "WARNING",
        }
        app = create_app(settings)
        hookkit = Hookkit.of(app)
        try:
            self.hooks = self._hooks(app, hookkit)
        finally:
            hookkit.close()
        self.store = Store(self.url, encryption_keys=self.keys)
        self.engine: Engine = self.store.engine
        event.listen(self.engine, "before_cursor_execute", self._capture)
        try:
            self._measure_all()
        finally:
            self.store.dispose()

    def _hooks(self, app: Any, hookkit: Hookkit) -> list[tuple[str, str]]:
        """One hook per host, over a few accounts, made through the API: (hook id, account)."""
        client = app.test_client()
        made = []
        for i in range(HOSTS):
            account = ensure_account(hookkit.store, f"bench-{i % ACCOUNTS}", clock=hookkit.clock)
            key = create_key(hookkit.store, account, clock=hookkit.clock)
            response = client.post(
                "/v1/hooks",
                json={"event": "session", "target_url": f"https://h{i}.example.com/hook"},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert response.status_code == 201, response.json
            made.append((response.json["id"], account.id))
        return made

    def _sql(self, statement: str, **params: Any) -> Any:
        with self.engine.begin() as conn:
            return conn.execute(text(statement), params)

    def _vacuum(self, *tables: str, analyze: bool = False) -> None:
        """VACUUM each table (outside a transaction, as it must run)."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                conn.execute(text(f"VACUUM {'(ANALYZE) ' if analyze else ''}{table}"))

    def _insert(self, prefix: str, first: int, count: int, status: str, at: float) -> None:
        """`count` deliveries (ids `<prefix><n>`) and their events, in bulk, made (and due)
        over the day up to `at`, one per hook in turn."""
        params = {
            "first": first,
            "last": first + count - 1,
            "hooks": [hook for hook, _ in self.hooks],
            "accounts": [account for _, account in self.hooks],
            "start": at,
            "step": 1.0 / max(1, count) * DAY,
        }
        attempts, code = (0, "NULL") if status == "pending" else (1, "200")
        self._sql(
            f"""
            INSERT INTO events (id, account_id, type, data, created_at, is_test, delivery_count)
            SELECT 'evt_{prefix}' || g, (CAST(:accounts AS text[]))[1 + g % {HOSTS}], 'session',
                   '{{"event_id": 1, "session": {{"id": "x"}}}}'::json, :start - g * :step,
                   false, 1
            FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS g
            """,
            **params,
        )
        self._sql(
            f"""
            INSERT INTO deliveries (id, account_id, subscription_id, event_id, status,
                attempts, next_attempt_at, created_at, updated_at, last_response_code, is_test)
            SELECT 'msg_{prefix}' || g, (CAST(:accounts AS text[]))[1 + g % {HOSTS}],
                   (CAST(:hooks AS text[]))[1 + g % {HOSTS}], 'evt_{prefix}' || g, '{status}',
                   {attempts}, :start - g * :step, :start - g * :step, :start - g * :step,
                   {code}, false
            FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS g
            """,
            **params,
        )

    # -- measuring ------------------------------------------------------------------------

    def _measure_all(self) -> None:
        rows = self.rows
        print(
            f"claim_scale: {rows:,} old rows, {DUE} due deliveries on {HOSTS} hosts, "
            f"{self.repeats} claims per state, quota total={QUOTA.total} "
            f"per_host={QUOTA.per_host} per_account={QUOTA.per_account}"
        )
        self._sql(
            "ALTER TABLE deliveries SET (autovacuum_enabled = off);"
            "ALTER TABLE events SET (autovacuum_enabled = off)"
        )
        self._insert("due", 1, DUE, "pending", self.now - 60)
        self._sql("ANALYZE deliveries; ANALYZE events")
        self.state("empty")

        timer = time.monotonic()
        self._insert("old", 1, rows, "delivered", self.now - 20 * DAY)
        self._sql("ANALYZE deliveries; ANALYZE events")
        print(f"inserted {rows:,} old deliveries and events in {time.monotonic() - timer:.1f} s")
        self.state("old rows")

        # Deliveries finished since the last vacuum: pending (due before the live due work,
        # so a claim's scan meets them first), then delivered. As many as autovacuum lets
        # pile up before it runs: with PostgreSQL's defaults, then with hookkit's settings
        # for the table (`tables.DELIVERIES_AUTOVACUUM`).
        total = rows + DUE
        default = 50 + int(0.2 * total)
        ours = _AUTOVACUUM["autovacuum_vacuum_threshold"] + int(
            _AUTOVACUUM["autovacuum_vacuum_scale_factor"] * total
        )
        print(
            f"autovacuum runs after: {default:,} dead rows with PostgreSQL's defaults, "
            f"{ours:,} with the deliveries table's settings"
        )
        self._finish("default", default)
        self.state(f"{default:,} finished since the last vacuum (default autovacuum)")
        self._vacuum("deliveries")
        self._finish("ours", ours)
        self.state(f"{ours:,} finished since the last vacuum (the table's autovacuum)")
        self._vacuum("deliveries")
        with self._old_snapshot():
            self._finish("held", ours)
            self.state(f"{ours:,} finished, an older snapshot held open")
        self._vacuum("deliveries")

        timer = time.monotonic()
        deleted = self._sql(
            "DELETE FROM deliveries WHERE status = 'delivered' AND right(id, 1) <> '0'"
        ).rowcount
        self._sql(
            "DELETE FROM events e WHERE NOT EXISTS "
            "(SELECT 1 FROM deliveries d WHERE d.event_id = e.id)"
        )
        print(
            f"deleted {deleted:,} old deliveries and their events in "
            f"{time.monotonic() - timer:.1f} s"
        )
        self.state("90 % deleted, before vacuum")

        timer = time.monotonic()
        self._vacuum("deliveries", "events", analyze=True)
        print(f"vacuumed in {time.monotonic() - timer:.1f} s")
        self.state("after VACUUM")

    def _finish(self, prefix: str, count: int) -> None:
        """`count` deliveries become due before the live due work, and are then delivered."""
        self._insert(prefix, 1, count, "pending", self.now - 2 * DAY)
        self._sql(
            "UPDATE deliveries SET status = 'delivered', attempts = 1, "
            f"last_response_code = 200 WHERE id LIKE 'msg_{prefix}%'"
        )

    @contextlib.contextmanager
    def _old_snapshot(self) -> Iterator[None]:
        """A REPEATABLE READ transaction that took its snapshot before the rows changed and
        stays open: nothing it could still see may be cleaned up meanwhile."""
        conn = self.engine.connect()
        try:
            conn.execution_options(isolation_level="REPEATABLE READ")
            conn.execute(text("SELECT count(*) FROM subscriptions")).scalar()
            yield
        finally:
            conn.rollback()
            conn.close()

    def state(self, name: str) -> None:
        """Claim the due work `repeats` times; print the median and the plan."""
        times, claimed = [], []
        for _ in range(2):  # warm-up, not counted: statements compiled, pages cached
            self.now += LEASE + 1
            outbox.claim(self.store, "wrk_bench", self.now, LEASE, QUOTA)
        for _ in range(self.repeats):
            # The last claim's leases ran out: the same due work is claimable again, as if
            # its worker had died (claims need no reset, and write as real claims do).
            self.now += LEASE + 1
            self.statements.clear()
            start = time.perf_counter()
            jobs = outbox.claim(self.store, "wrk_bench", self.now, LEASE, QUOTA)
            times.append((time.perf_counter() - start) * 1000)
            claimed.append(len(jobs))
        median = statistics.median(times)
        if self.empty_ms is None:
            self.empty_ms = median
        ratio = median / self.empty_ms
        dead = self._sql(
            "SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables "
            "WHERE relname = 'deliveries' AND schemaname = current_schema()"
        ).one()
        print(
            f"state: {name}: median {median:.2f} ms (min {min(times):.2f}, max "
            f"{max(times):.2f}), claimed {min(claimed)}-{max(claimed)}, ratio to empty "
            f"{ratio:.2f}x, deliveries live {dead.n_live_tup:,} dead {dead.n_dead_tup:,}"
        )
        self._explain(name)

    def _capture(self, conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if "SKIP LOCKED" in statement and not statement.startswith("EXPLAIN"):
            self.statements.append((statement, params))

    def _explain(self, name: str) -> None:
        """EXPLAIN ANALYZE the claim's candidate scan as the server runs it for a worker.

        psycopg prepares a statement on its fifth execution on a connection, and the server
        may then settle on a generic plan for it (parameters unknown): so the plan shown is
        that of a prepared statement after six executions, as a worker's runs.
        """
        statement, params = self.statements[0]
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        prepared = _PARAM.sub(number, statement).replace("%%", "%")
        self.now += LEASE + 1
        values = {**params, "now": self.now}
        arguments = ", ".join(_literal(values[n]) for n in names)
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"PREPARE claim_scan AS {prepared}")
            for _ in range(6):
                conn.exec_driver_sql(f"EXECUTE claim_scan({arguments})").all()
            plan = [
                row[0]
                for row in conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) "
                    f"EXECUTE claim_scan({arguments})"
                )
            ]
            conn.exec_driver_sql("DEALLOCATE claim_scan")
            conn.rollback()  # the scan locked rows (FOR UPDATE): let them go
        indexes = sorted(
            {line.split(" using ")[1].split()[0] for line in plan if " using " in line}
            | {line.split(" on ")[1].split()[0] for line in plan if "Bitmap Index" in line}
        )
        scans = [line.strip() for line in plan if "Seq Scan" in line]
        first = next((line for line in plan if "Buffers:" in line), "")
        pages = sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", first))
        if self.empty_pages is None:
            self.empty_pages = pages
        generic = any("$" in line for line in plan)
        took = next((line.split(":")[1].strip() for line in plan if "Execution Time" in line), "?")
        print(
            f"plan: {name}: {'generic' if generic else 'custom'} plan, indexes "
            f"{', '.join(indexes) or 'none'}; seq scans {len(scans)}; scan {took}; pages read "
            f"{pages:,}, ratio to empty {pages / max(1, self.empty_pages):.1f}x"
        )
        for line in plan:
            print(f"    {line}")


_PARAM = re.compile(r"%\((\w+)\)s")


def _literal(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + "]::text[]"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(2)
