"""PostgreSQL scale-out, black box: the API (`connector serve` with
HOOKKIT_EMBEDDED_WORKER=false) on a fresh schema of 127.0.0.1:5432/test, then 1 and 2
`python -m connector worker` processes with HOOKKIT_MAX_IN_FLIGHT=16 delivering to a 50 ms
receiver on 4 hosts; the rate of 2 workers against 1, and exactly-once delivery (distinct
webhook-ids = requests received = deliveries).

Every process is stopped and the schema dropped in a `finally`.
"""

from __future__ import annotations

import time
from pathlib import Path

from client import drive
from common import SLOW_MS, Plan, Receiver, Report, Row, median_by, rate_text, say, times, title
from service import Service, batch_bodies, event_bodies, postgres_schema, settings_of

PG_HOSTS = 4  # hooks on 4 receiver ports: 16 in flight per worker binds, not one host's limit
PG_IN_FLIGHT = 16


def measure(plan: Plan, rcv: Receiver, tmp: Path, report: Report) -> None:
    """PostgreSQL scale-out: the API without its embedded worker, then 1 and 2 worker
    processes (16 in flight each) delivering to a 50 ms receiver; exactly once."""
    p, r = plan, rcv
    deliveries = p.pg_n * PG_HOSTS
    title(
        f"B6. PostgreSQL, 1 vs 2 `connector worker` processes, {PG_IN_FLIGHT} in flight "
        f"each, {SLOW_MS} ms receiver on {PG_HOSTS} hosts, {p.pg_n} events x "
        f"{PG_HOSTS} hooks = {deliveries} deliveries"
    )
    from cryptography.fernet import Fernet

    with postgres_schema() as url:
        svc = Service(
            tmp,
            "pg",
            url,
            HOOKKIT_EMBEDDED_WORKER="false",
            HOOKKIT_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        )
        rounds = []
        report.raw["pg_settings"] = {
            **settings_of(svc),
            "HOOKKIT_MAX_IN_FLIGHT (workers)": str(PG_IN_FLIGHT),
        }
        try:
            sample = svc.sample()
            for host in range(PG_HOSTS):
                svc.subscribe(r.url("bb_pg", SLOW_MS, f"h{host}", host=host))
            bodies = batch_bodies(sample, p.pg_n, p.batch_size)
            for k in range(p.repeats):
                rates = {}
                for count in (1, 2):
                    for _ in range(count):
                        svc.start_worker(HOOKKIT_MAX_IN_FLIGHT=str(PG_IN_FLIGHT))
                    try:
                        warm = max(4, p.warmup // 10)
                        r.reset("bb_pg")
                        drive(
                            svc.base + "/v1/events",
                            event_bodies(sample, warm),
                            headers=svc.headers,
                            deadline=p.deadline,
                        )
                        r.wait_count("bb_pg", warm * PG_HOSTS, p.deadline, distinct=True)
                        r.reset("bb_pg")
                        sent = drive(
                            svc.base + "/v1/events/batch",
                            bodies,
                            headers=svc.headers,
                            threads=p.client_threads,
                            deadline=p.deadline,
                        )
                        stats = r.wait_count("bb_pg", deliveries, p.deadline, distinct=True)
                        time.sleep(0.5)  # a duplicate would arrive now
                        stats = r.stats("bb_pg")
                    finally:
                        svc.stop_workers()
                    seconds = (stats["last"] or time.time()) - sent["first"]
                    rates[count] = {
                        "rate": stats["distinct"] / seconds if seconds > 0 else 0.0,
                        "seconds": seconds,
                        "distinct": stats["distinct"],
                        "received": stats["count"],
                        "expected": deliveries,
                        "exactly_once": stats["distinct"] == deliveries == stats["count"],
                        "statuses": sent["statuses"],
                        "publish_seconds": sent["seconds"],
                    }
                    say(
                        f"  {count} worker(s), round {k + 1}: {stats['distinct']} distinct "
                        f"of {deliveries}, {stats['count']} received in {seconds:.2f}s = "
                        f"{rate_text(rates[count]['rate'])} (publishing took "
                        f"{sent['seconds']:.2f}s)"
                    )
                ratio = rates[2]["rate"] / rates[1]["rate"] if rates[1]["rate"] else 0.0
                rounds.append({"one": rates[1], "two": rates[2], "ratio": ratio})
        finally:
            svc.close()
    report.raw["blackbox_pg"] = rounds
    mid = median_by(rounds, lambda x: x["ratio"])
    rnd = f" (round {rounds.index(mid) + 1})" if len(rounds) > 1 else ""
    once = all(x[w]["exactly_once"] for x in rounds for w in ("one", "two"))
    report.add(
        Row(
            "B6 PostgreSQL, 2 workers vs 1, 50 ms" + rnd,
            rate_text(mid["two"]["rate"]),
            f"1 worker {rate_text(mid['one']['rate'])}",
            times(mid["ratio"]),
            ">= 1.8x",
            mid["ratio"] >= 1.8,
        )
    )
    # Little's law: requests in flight at the receiver = rate x its 50 ms; against the
    # workers' cap (16 each) it shows whether the slots are used or the claiming lags.
    report.add(
        Row(
            "B6 ... mean in flight, 1 / 2 workers (info)",
            f"{mid['one']['rate'] * SLOW_MS / 1000:.1f} / "
            f"{mid['two']['rate'] * SLOW_MS / 1000:.1f}",
            f"cap {PG_IN_FLIGHT} / {2 * PG_IN_FLIGHT}",
            "",
        )
    )
    received = sum(x[w]["received"] for x in rounds for w in ("one", "two"))
    distinct = sum(x[w]["distinct"] for x in rounds for w in ("one", "two"))
    expected = sum(x[w]["expected"] for x in rounds for w in ("one", "two"))
    report.add(
        Row(
            "B6 ... exactly once (distinct/received)",
            f"{distinct}/{received}",
            f"{expected} deliveries",
            "",
            "distinct = received = all",
            once,
        )
    )
