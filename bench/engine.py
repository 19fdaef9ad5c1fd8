"""hookkit's delivery engine driven in this process, for the in-process measurements: a
service on a SQLite file of the run's temporary directory, a worker started and stopped at
will, publishing, waiting for deliveries and reading when they were recorded.

Nothing here opens a network connection of its own; the worker sends to the benchmark's
receiver on 127.0.0.1. Every wait is bounded by its `timeout` or `deadline`.
"""

from __future__ import annotations

import contextlib
import gc
import resource
import time
from pathlib import Path
from typing import Any

from common import EVENT_TYPE, Plan, Receiver, progress
from sqlalchemy import func, select

from connector.config import Settings
from connector.delivery.worker import Worker
from connector.service import Hookkit
from connector.store.tables import attempts, deliveries


def new_service(tmp: Path, name: str, **overrides: Any) -> Hookkit:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp / name}.db",
        "allow_private_targets": True,
        "max_in_flight": 64,
        "max_per_host": 64,
        "log_level": "WARNING",
        "embedded_worker": False,
    }
    return Hookkit(Settings(**{**values, **overrides}), start_worker=False)


def start_worker(service: Hookkit) -> Worker:
    worker = service.new_worker()  # publishing wakes it from now on (the queue signal)
    service.worker = worker
    worker.start()
    return worker


def stop_worker(service: Hookkit) -> None:
    if service.worker is not None:
        service.worker.stop()
        # A stopped worker stays a listener of the queue signal until it is forgotten: every
        # publish would still call it (and the worker would outlive its drain).
        service.signal.forget(service.worker.wake)
        service.worker = None


def count_status(service: Hookkit, status: str) -> int:
    with service.store.read() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(deliveries).where(deliveries.c.status == status)
            ).scalar_one()
        )


def wait_delivered(service: Hookkit, count: int, timeout: float, interval: float = 0.05) -> int:
    """Poll the database until `count` deliveries are `delivered` (or the time is up)."""
    end = time.monotonic() + timeout
    seen = count_status(service, "delivered")
    while seen < count and time.monotonic() < end:
        progress.update(seen, count)
        time.sleep(interval)
        seen = count_status(service, "delivered")
    return seen


def last_recorded(service: Hookkit, since: float) -> float | None:
    """When the last delivery was written back (`updated_at`), among those after `since`."""
    with service.store.read() as conn:
        return conn.execute(
            select(func.max(deliveries.c.updated_at)).where(
                deliveries.c.status == "delivered", deliveries.c.updated_at >= since
            )
        ).scalar()


def delivery_timeline(service: Hookkit) -> dict[str, tuple[str, float]]:
    """webhook-id (delivery id) -> (event id, when its first attempt started)."""
    with service.store.read() as conn:
        rows = conn.execute(
            select(deliveries.c.id, deliveries.c.event_id, func.min(attempts.c.at))
            .join(attempts, attempts.c.delivery_id == deliveries.c.id)
            .group_by(deliveries.c.id, deliveries.c.event_id)
        ).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def subscribe(service: Hookkit, account_id: str, url: str) -> str:
    created = service.subscriptions.subscribe(account_id, {"event": EVENT_TYPE, "target_url": url})
    return str(created.subscription["id"])


def publish_many(service: Hookkit, account_id: str, data: Any, n: int, deadline: float) -> float:
    """Publish `n` events one by one; returns the seconds it took."""
    end = time.monotonic() + deadline
    started = time.perf_counter()
    for _ in range(n):
        service.publisher.publish(account_id, EVENT_TYPE, data)
        if time.monotonic() > end:
            raise TimeoutError(f"publishing {n} events took longer than {deadline:g}s")
    return time.perf_counter() - started


def warm_up(
    service: Hookkit, account_id: str, data: Any, n: int, timeout: float, per_event: int = 1
) -> None:
    """Run a worker over `n` events first: connections, compiled SQL, imports are warm."""
    expected = count_status(service, "delivered") + n * per_event
    start_worker(service)
    try:
        publish_many(service, account_id, data, n, timeout)
        if wait_delivered(service, expected, timeout) < expected:
            raise RuntimeError("the warm-up events were not delivered")
    finally:
        stop_worker(service)


def drain(
    service: Hookkit, account_id: str, data: Any, n: int, plan: Plan, rcv: Receiver, run: str
) -> dict[str, Any]:
    """Publish a backlog of `n` with no worker, then time a fresh worker draining it."""
    warm_up(service, account_id, data, plan.warmup, plan.deadline)
    rcv.reset(run)
    already = count_status(service, "delivered")
    publish_seconds = publish_many(service, account_id, data, n, plan.deadline)
    gc.collect()
    started, cpu = time.time(), time.process_time()
    start_worker(service)
    try:
        seen = wait_delivered(service, already + n, plan.deadline) - already
        cpu = time.process_time() - cpu
        finished = last_recorded(service, started) or time.time()
    finally:
        stop_worker(service)
    stats = rcv.stats(run)
    seconds = finished - started
    return {
        "cpu_us": cpu / max(seen, 1) * 1e6,
        "errors": n - seen,
        "n": n,
        "delivered": seen,
        "received": stats["count"],
        "received_distinct": stats["distinct"],
        "seconds": seconds,
        "rate": seen / seconds if seconds > 0 else 0.0,
        "publish_seconds": publish_seconds,
        "publish_rate": n / publish_seconds,
        "complete": seen == n and stats["distinct"] == n,
    }


def rss_bytes() -> int:
    """Resident set size of this process now."""
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
