"""How much does a dead endpoint delay deliveries to healthy ones?

    .venv/bin/python bench/isolation.py [--quick]

Two scenarios, each run twice in this process: once with every endpoint healthy (the
baseline) and once with one of ten endpoints hanging until the read timeout. Printed as
ratios to the baseline of the same run, so a noisy, shared machine affects both sides.

1. Steady traffic: events published at a fixed rate to 10 hooks; the publish-to-receipt
   latency (p50/p95/p99) of the 9 healthy hooks' deliveries.
2. Backlog: a worker starts to find a backlog queued while none ran, the dead host's part
   of it first; the time until every healthy delivery arrived.

Loopback only: two `bench/receiver.py` processes on 127.0.0.1 (healthy, hanging; started
with bench/common.py's `Receiver`, as every benchmark starts them), killed on exit; hookkit
runs in this process on a temporary SQLite file. Every phase is bounded.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/common.py, beside this script; importing it puts the repository on sys.path.
from common import EVENT_TYPE, Receiver
from engine import new_service, start_worker
from sqlalchemy import select as sql_select

from connector.hooks.accounts import ensure_account
from connector.service import Hookkit
from connector.store.tables import deliveries, events

READ_TIMEOUT = 2.0
DEADLINE = 60.0  # seconds any one phase may take


def service(tmp: Path, name: str, *, worker: bool) -> Hookkit:
    """A service on its own SQLite file (`engine.new_service`): one attempt per delivery,
    no hook disabled, the short read timeout; its worker running if `worker`."""
    hk = new_service(
        tmp,
        name,
        read_timeout=READ_TIMEOUT,
        retry_schedule=(),
        failure_threshold=0,
        poll_interval=0.2,
    )
    if worker:
        start_worker(hk)
    return hk


def hooks(hk: Hookkit, account: str, healthy: Receiver, other: str) -> None:
    for n in range(9):
        body = {"event": EVENT_TYPE, "target_url": healthy.url(account, "0", f"h{n}")}
        hk.subscriptions.subscribe(account, body)
    hk.subscriptions.subscribe(account, {"event": EVENT_TYPE, "target_url": other})


def latencies(hk: Hookkit, received: dict[str, float]) -> list[float]:
    """Publish-to-receipt seconds of every received delivery."""
    with hk.store.read() as conn:
        rows = conn.execute(
            sql_select(deliveries.c.id, events.c.created_at).join(
                events, events.c.id == deliveries.c.event_id
            )
        ).all()
    published = {row.id: row.created_at for row in rows}
    return [at - published[i] for i, at in received.items() if i in published]


def wait_for(receiver: Receiver, run: str, count: int) -> dict[str, float]:
    end = time.monotonic() + DEADLINE
    while True:
        got = receiver.first_arrivals(run)
        if len(got) >= count or time.monotonic() > end:
            return got
        time.sleep(0.1)


def steady(tmp: Path, healthy: Receiver, dead: Receiver, hang: bool, p: Any) -> Any:
    """Paced publishing to 9 healthy hooks and one more (hanging or not)."""
    run = f"steady{int(hang)}"
    hk = service(tmp, run, worker=True)
    try:
        account = ensure_account(hk.store, run).id
        hooks(hk, account, healthy, dead.url(run, "hang" if hang else "0", "x"))
        sample = hk.catalog.get(EVENT_TYPE).sample
        started = time.monotonic()
        for n in range(p.events):
            hk.publisher.publish(account, EVENT_TYPE, sample)
            pause = started + (n + 1) / p.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        received = wait_for(healthy, account, 9 * p.events)
        return latencies(hk, received), len(received)
    finally:
        hk.close()


def backlog(tmp: Path, healthy: Receiver, dead: Receiver, hang: bool, p: Any) -> Any:
    """A backlog, the other host's part first: seconds until every healthy delivery arrived."""
    run = f"backlog{int(hang)}"
    hk = service(tmp, run, worker=False)
    try:
        account = ensure_account(hk.store, run).id
        sample = hk.catalog.get(EVENT_TYPE).sample
        other = dead.url(run, "hang" if hang else "0", "x")
        hk.subscriptions.subscribe(account, {"event": EVENT_TYPE, "target_url": other})
        for _ in range(p.backlog):
            hk.publisher.publish(account, EVENT_TYPE, sample)
        hooks_only_healthy = [healthy.url(account, "0", f"h{n}") for n in range(9)]
        for url in hooks_only_healthy:
            hk.subscriptions.subscribe(account, {"event": EVENT_TYPE, "target_url": url})
        for _ in range(p.backlog // 9):
            hk.publisher.publish(account, EVENT_TYPE, sample)
        expected = 9 * (p.backlog // 9)
        started = time.time()
        start_worker(hk)
        received = wait_for(healthy, account, expected)
        return (max(received.values()) - started if received else float("inf")), len(received)
    finally:
        hk.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events (a smoke run)")
    parser.add_argument("--rate", type=float, default=20.0, help="events/s in scenario 1")
    args = parser.parse_args()
    # A notice per failed delivery would only clutter the output.
    logging.getLogger("hookkit.notify").setLevel(logging.ERROR)
    p = argparse.Namespace(
        events=int(args.rate * (3 if args.quick else 10)), rate=args.rate, backlog=270
    )
    healthy = Receiver(max_seconds=600, ports=1)
    try:
        dead = Receiver(max_seconds=600, ports=1)
    except BaseException:
        healthy.close()
        raise
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"read timeout {READ_TIMEOUT:g}s; 9 healthy hooks + 1 other; {p.rate:g} ev/s")
            print("1. steady traffic: publish-to-receipt latency of healthy deliveries (ms)")
            result = {}
            for hang in (False, True):
                lat, got = steady(Path(tmp), healthy, dead, hang, p)
                label = "1 of 10 hanging" if hang else "none hanging   "
                result[hang] = lat
                print(
                    f"   {label}: {got}/{9 * p.events} received, p50 {pct(lat, 0.5):.1f}"
                    f"  p95 {pct(lat, 0.95):.1f}  p99 {pct(lat, 0.99):.1f}"
                )
            for q in (0.5, 0.95, 0.99):
                ratio = pct(result[True], q) / max(pct(result[False], q), 1e-6)
                print(f"   ratio hanging/baseline p{int(q * 100)}: {ratio:.2f}")
            mean = statistics.mean(result[True]) / statistics.mean(result[False])
            print(f"   ratio of means: {mean:.2f}")

            print(f"2. backlog ({p.backlog} to the other host first, then {p.backlog} healthy)")
            times = {}
            for hang in (False, True):
                took, got = backlog(Path(tmp), healthy, dead, hang, p)
                times[hang] = took
                label = "1 of 10 hanging" if hang else "none hanging   "
                print(f"   {label}: all {got} healthy deliveries in {took * 1000:.0f} ms")
            print(f"   ratio hanging/baseline: {times[True] / times[False]:.2f}")
            print(f"   (one read timeout is {READ_TIMEOUT * 1000:.0f} ms)")
    finally:
        healthy.close()
        dead.close()


if __name__ == "__main__":
    main()
