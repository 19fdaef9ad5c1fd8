"""hookkit throughput, latency, fan-out and memory benchmark.

    .venv/bin/python bench/throughput.py [--quick] [--only NAME,...] [--json FILE]

Every figure is printed raw and as a ratio to a baseline measured in the same run (the
machine is shared and noisy): raw HTTP clients without storage or signing against the same
local receiver, a single-subscriber publish, the worker's own starting RSS. The targets are
those of shared/PRODUCT.md, "Numbers we hold ourselves to"; see bench/README.md.

All traffic goes to 127.0.0.1 (one receiver process, started here and killed on exit). Every
loop is bounded in count and in time; the whole run has a hard time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import logging
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import receiver  # noqa: E402  # bench/receiver.py: this script's directory is on sys.path
import requests  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from connector.config import Settings  # noqa: E402
from connector.delivery.worker import Worker  # noqa: E402
from connector.hooks.accounts import ensure_account  # noqa: E402
from connector.service import Hookkit  # noqa: E402
from connector.store.tables import attempts, deliveries  # noqa: E402

EVENT_TYPE = "binding.failed"  # a small event: ~250-byte body, like the raw clients send
SLOW_MS = 50
RECEIVER_PORTS = 10  # one per endpoint of the hanging-endpoints measurement
log = logging.getLogger("bench")
T = TypeVar("T")


# -- what to run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    raw_n: int  # requests per raw requests-client run, fast receiver
    raw_aio_n: int  # requests per raw aiohttp run, fast receiver (runs about as long)
    hook_n: int  # events in the hookkit backlog, fast receiver
    slow_n: int  # requests/events against the 50 ms receiver (aiohttp, hookkit)
    slow_threads_n: int  # requests against the 50 ms receiver with 16 requests threads
    naive_n: int  # events of the naive inline sender
    latency_seconds: float  # paced publishing at `latency_rate` events/s
    fanout_publishes: int  # events published to 1,000 subscriptions
    single_publishes: int  # events published to one subscription (fan-out baseline)
    memory_small: int  # backlog sizes of the two memory runs
    memory_large: int
    hang_events: int  # events to 10 hooks, one of them hanging
    warmup: int  # requests/events sent before each timed run
    repeats: int  # raw baselines are measured this often; the best run counts
    deadline: float  # seconds any one timed phase may take
    total_limit: int  # seconds the whole run may take
    latency_rate: float = 200.0
    fanout_hooks: int = 1000


QUICK = Plan(
    raw_n=800,
    raw_aio_n=2400,
    hook_n=1000,
    slow_n=640,
    slow_threads_n=160,
    naive_n=150,
    latency_seconds=2.0,
    fanout_publishes=1,
    single_publishes=20,
    memory_small=300,
    memory_large=1500,
    hang_events=60,
    warmup=100,
    repeats=1,
    deadline=30.0,
    total_limit=240,
)
FULL = Plan(
    raw_n=5000,
    raw_aio_n=15000,
    hook_n=5000,
    slow_n=4000,
    slow_threads_n=1000,
    naive_n=500,
    latency_seconds=10.0,
    fanout_publishes=5,
    single_publishes=50,
    memory_small=2000,
    memory_large=20000,
    hang_events=500,
    warmup=200,
    repeats=3,
    deadline=180.0,
    total_limit=1200,
)


@dataclass
class Row:
    """One line of the final table."""

    name: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    ok: bool | None = None  # None: informational, no target


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        mark = {True: "PASS", False: "FAIL", None: ""}[row.ok]
        extra = f"  ratio {row.ratio}" if row.ratio else ""
        print(f"  -> {row.name}: {row.value}{extra} {mark}".rstrip(), flush=True)


def rate_text(rate: float) -> str:
    return f"{rate:,.0f}/s"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def median_by(items: list[T], key: Callable[[T], float]) -> T:
    """The item whose key is the median (the lower middle one for an even count)."""
    ordered = sorted(items, key=key)
    return ordered[(len(ordered) - 1) // 2]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of `values` (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# -- the receiver process ---------------------------------------------------------------------


class Receiver:
    """bench/receiver.py in its own process; control calls over HTTP to 127.0.0.1."""

    def __init__(self, max_seconds: float, hang_seconds: float) -> None:
        # hookkit limits concurrency per host:port, so each port is "another host".
        self.proc, self.ports = receiver.start(
            max_seconds, hang_seconds=hang_seconds, ports=RECEIVER_PORTS
        )
        self.port = self.ports[0]
        self.base = f"http://127.0.0.1:{self.port}"
        self.control = requests.Session()
        self.control.trust_env = False

    def url(self, run: str, delay: int | str = 0, tail: str = "", host: int = 0) -> str:
        """A target URL; `host` picks one of the receiver's ports (a different "host")."""
        url = f"http://127.0.0.1:{self.ports[host]}/in/{run}/{delay}"
        return f"{url}/{tail}" if tail else url

    def stats(self, run: str) -> dict[str, Any]:
        response = self.control.get(f"{self.base}/stats/{run}", timeout=10)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def arrivals(self, run: str) -> tuple[list[str], list[float]]:
        response = self.control.get(f"{self.base}/arrivals/{run}", timeout=60)
        response.raise_for_status()
        data = response.json()
        return data["ids"], data["times"]

    def reset(self, run: str) -> None:
        self.control.post(f"{self.base}/reset/{run}", timeout=10).raise_for_status()

    def wait_count(self, run: str, count: int, timeout: float) -> dict[str, Any]:
        """Poll until `run` has seen `count` requests (or the time is up)."""
        end = time.monotonic() + timeout
        stats = self.stats(run)
        while stats["count"] < count and time.monotonic() < end:
            time.sleep(0.05)
            stats = self.stats(run)
        return stats

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                if self.proc.stdin:
                    self.proc.stdin.close()
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# -- raw clients (the baselines) --------------------------------------------------------------


def sample_body(sample: dict[str, Any], i: int, prefix: str) -> bytes:
    """What the raw clients post: the same envelope hookkit sends, unsigned, not stored."""
    envelope = {
        "id": f"{prefix}_{i}",
        "type": EVENT_TYPE,
        "timestamp": "2026-01-29T10:30:00.000Z",
        "data": sample,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def raw_requests(
    url: str, n: int, sample: dict[str, Any], *, threads: int, deadline: float, prefix: str
) -> dict[str, Any]:
    """`n` POSTs from `threads` threads, one requests.Session each (trust_env off)."""
    counter = itertools.count()
    errors: list[str] = []
    barrier = threading.Barrier(threads + 1, timeout=30)
    stop_at = [float("inf")]

    def work() -> None:
        with requests.Session() as session:
            session.trust_env = False
            headers = {"Content-Type": "application/json"}
            for _ in range(2):  # warm the connection
                session.post(url.replace("/in/", "/in/warm_"), data=b"{}", timeout=10)
            barrier.wait()
            while time.monotonic() < stop_at[0]:
                i = next(counter)
                if i >= n:
                    return
                try:
                    response = session.post(
                        url,
                        data=sample_body(sample, i, prefix),
                        headers={**headers, "webhook-id": f"{prefix}_{i}"},
                        timeout=10,
                    )
                    if response.status_code != 200:
                        errors.append(f"HTTP {response.status_code}")
                except requests.RequestException as exc:
                    errors.append(repr(exc))

    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    stop_at[0] = time.monotonic() + deadline
    barrier.wait()
    started, cpu = time.perf_counter(), time.process_time()
    for t in pool:
        t.join(deadline + 15)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    done = min(n, next(counter))
    return {
        "n": done,
        "seconds": elapsed,
        "rate": done / elapsed,
        "cpu_us": cpu / max(done, 1) * 1e6,
        "errors": len(errors),
    }


async def _raw_aiohttp(
    url: str, n: int, sample: dict[str, Any], concurrency: int, deadline: float, prefix: str
) -> dict[str, Any]:
    counter = itertools.count()
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm_url = url.replace("/in/", "/in/warm_")

        async def warm() -> None:
            async with session.post(warm_url, data=b"{}") as response:
                await response.read()

        await asyncio.gather(*(warm() for _ in range(concurrency)))
        stop_at = time.monotonic() + deadline

        async def work() -> None:
            nonlocal errors
            while time.monotonic() < stop_at:
                i = next(counter)
                if i >= n:
                    return
                headers = {"Content-Type": "application/json", "webhook-id": f"{prefix}_{i}"}
                try:
                    async with session.post(
                        url, data=sample_body(sample, i, prefix), headers=headers
                    ) as response:
                        await response.read()
                        if response.status != 200:
                            errors += 1
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(work() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    done = min(n, next(counter))
    return {
        "n": done,
        "seconds": elapsed,
        "rate": done / elapsed,
        "cpu_us": cpu / max(done, 1) * 1e6,
        "errors": errors,
    }


def raw_aiohttp(
    url: str, n: int, sample: dict[str, Any], *, concurrency: int, deadline: float, prefix: str
) -> dict[str, Any]:
    return asyncio.run(_raw_aiohttp(url, n, sample, concurrency, deadline, prefix))


async def _raw_paced(
    url: str, sample: dict[str, Any], rate: float, seconds: float, prefix: str
) -> dict[str, float]:
    """POST at a steady `rate`; returns id -> send time (time.time())."""
    sent: dict[str, float] = {}
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=10)
    ) as session:

        async def post(i: int) -> None:
            key = f"{prefix}_{i}"
            headers = {"Content-Type": "application/json", "webhook-id": key}
            sent[key] = time.time()
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.post(
                    url, data=sample_body(sample, i, prefix), headers=headers
                ) as response:
                    await response.read()

        for i in range(20):  # open a few connections first
            await post(-i - 1)
        sent.clear()
        tasks = []
        start = time.monotonic()
        for i in range(int(rate * seconds)):
            pause = start + i / rate - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            tasks.append(asyncio.create_task(post(i)))
        await asyncio.gather(*tasks)
    return sent


# -- hookkit helpers --------------------------------------------------------------------------


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


# -- the measurements -------------------------------------------------------------------------


class Bench:
    def __init__(self, plan: Plan, rcv: Receiver, tmp: Path, report: Report) -> None:
        self.plan, self.rcv, self.tmp, self.report = plan, rcv, tmp, report
        probe = new_service(tmp, "probe")
        self.sample: dict[str, Any] = dict(probe.catalog.get(EVENT_TYPE).sample)
        probe.close()
        self.fastest_raw: tuple[str, float] | None = None

    def title(self, text: str) -> None:
        print(f"\n== {text}", flush=True)

    def show(self, label: str, result: dict[str, Any]) -> dict[str, Any]:
        extra = ""
        if "publish_rate" in result:
            extra = f", published at {rate_text(result['publish_rate'])}"
            if not result["complete"]:
                extra += (
                    f", INCOMPLETE: {result['delivered']} delivered, "
                    f"{result['received_distinct']} received"
                )
        print(
            f"  {label}: {result['n']} in {result['seconds']:.2f}s = {rate_text(result['rate'])}"
            f", {result['cpu_us']:.0f} us CPU each ({result['errors']} errors{extra})",
            flush=True,
        )
        return result

    def hookkit_run(self, name: str, delay: int, n: int) -> dict[str, Any]:
        """A fresh service with one hook to the receiver; a backlog of `n` drained."""
        service = new_service(self.tmp, name)
        try:
            account = ensure_account(service.store, "bench")
            subscribe(service, account.id, self.rcv.url(name, delay))
            return drain(service, account.id, self.sample, n, self.plan, self.rcv, name)
        finally:
            service.close()

    def add_versus_raw(
        self,
        base: str,
        base_rate: float,
        raw: list[tuple[str, dict[str, Any]]],
        hookkit: tuple[str, dict[str, Any], float],
        *,
        target: float,
    ) -> None:
        """Rows against one raw baseline (`base`, its rate `base_rate`): each `(label, result)`
        of `raw` as information, then hookkit's `(label, result, ratio)`, which passes when
        its ratio reaches `target`."""
        for label, result in raw:
            self.report.add(
                Row(label, rate_text(result["rate"]), base, pct(result["rate"] / base_rate))
            )
        label, hook, ratio = hookkit
        self.report.add(
            Row(
                label,
                rate_text(hook["rate"]) + ("" if hook["complete"] else " INCOMPLETE"),
                base,
                pct(ratio),
                f">= {pct(target)}",
                ratio >= target,
            )
        )

    # 1-2. fast receiver: raw baselines and hookkit ----------------------------------------------

    def fast(self) -> None:
        """Raw clients and hookkit, interleaved in `repeats` rounds.

        Each round compares hookkit with the fastest raw client of the same round; the round
        with the median ratio is the one reported (a burst of load from a neighbour skews one
        round, not the result). Every round is printed.
        """
        self.title(
            "1-2. fast receiver: raw clients (nothing stored or signed) and hookkit, interleaved"
        )
        p, r = self.plan, self.rcv
        rounds = []
        for k in range(p.repeats):
            req = self.show(
                f"raw requests x16 threads, round {k + 1}",
                raw_requests(
                    r.url(f"rawreq{k}"),
                    p.raw_n,
                    self.sample,
                    threads=16,
                    deadline=p.deadline,
                    prefix=f"rq{k}",
                ),
            )
            aio = self.show(
                f"raw aiohttp x64 in flight, round {k + 1}",
                raw_aiohttp(
                    r.url(f"rawaio{k}"),
                    p.raw_aio_n,
                    self.sample,
                    concurrency=64,
                    deadline=p.deadline,
                    prefix=f"ra{k}",
                ),
            )
            hook = self.show(f"hookkit, round {k + 1}", self.hookkit_run(f"hk{k}", 0, p.hook_n))
            fastest = ("aiohttp x64", aio) if aio["rate"] >= req["rate"] else ("requests x16", req)
            ratio = hook["rate"] / fastest[1]["rate"] if hook["complete"] else 0.0
            rounds.append(
                {"req": req, "aio": aio, "hook": hook, "fastest": fastest, "ratio": ratio}
            )
            print(f"    round {k + 1}: hookkit / {fastest[0]} = {pct(ratio)}", flush=True)
        self.report.raw["fast"] = rounds
        mid = median_by(rounds, lambda x: x["ratio"])
        name, fastest = mid["fastest"]
        req, aio, hook = mid["req"], mid["aio"], mid["hook"]
        self.fastest_raw = (name, fastest["rate"])
        self.hookkit_rate = statistics.median(x["hook"]["rate"] for x in rounds)
        self.publish_rate = statistics.median(x["hook"]["publish_rate"] for x in rounds)
        base = f"{name} {rate_text(fastest['rate'])}"
        rnd = f" (round {rounds.index(mid) + 1})" if len(rounds) > 1 else ""
        self.add_versus_raw(
            base,
            fastest["rate"],
            [
                ("1a raw requests, 16 threads" + rnd, req),
                ("1b raw aiohttp, 64 in flight" + rnd, aio),
            ],
            ("2  hookkit delivery (SQLite, worker)" + rnd, hook, mid["ratio"]),
            target=0.5,
        )
        cpu = median_by(rounds, lambda x: x["hook"]["cpu_us"] / x["aio"]["cpu_us"])
        self.report.add(
            Row(
                "2  ... sender CPU per delivery (info)",
                f"{cpu['hook']['cpu_us']:.0f} us",
                f"aiohttp x64 {cpu['aio']['cpu_us']:.0f} us",
                f"{cpu['hook']['cpu_us'] / cpu['aio']['cpu_us']:.1f}x",
            )
        )
        self.report.add(
            Row(
                "2  hookkit publish (events accepted)" + rnd,
                rate_text(hook["publish_rate"]),
                base,
                pct(hook["publish_rate"] / fastest["rate"]),
            )
        )

    # 3. 50 ms receiver ------------------------------------------------------------------------

    def slow(self) -> None:
        self.title(f"3. receiver answering after {SLOW_MS} ms, concurrency 64")
        p, r = self.plan, self.rcv
        rounds = []
        for k in range(p.repeats):
            aio = self.show(
                f"raw aiohttp x64, 50 ms, round {k + 1}",
                raw_aiohttp(
                    r.url(f"slowaio{k}", SLOW_MS),
                    p.slow_n,
                    self.sample,
                    concurrency=64,
                    deadline=p.deadline,
                    prefix=f"sa{k}",
                ),
            )
            hook = self.show(
                f"hookkit, 50 ms, round {k + 1}", self.hookkit_run(f"hks{k}", SLOW_MS, p.slow_n)
            )
            ratio = hook["rate"] / aio["rate"] if hook["complete"] else 0.0
            rounds.append({"aio": aio, "hook": hook, "ratio": ratio})
            print(f"    round {k + 1}: hookkit / aiohttp = {pct(ratio)}", flush=True)
        req = self.show(
            "raw requests x16, 50 ms",
            raw_requests(
                r.url("slowreq", SLOW_MS),
                p.slow_threads_n,
                self.sample,
                threads=16,
                deadline=p.deadline,
                prefix="sq",
            ),
        )
        self.report.raw["slow"] = {"rounds": rounds, "requests": req}
        mid = median_by(rounds, lambda x: x["ratio"])
        aio, hook = mid["aio"], mid["hook"]
        base = f"aiohttp x64 {rate_text(aio['rate'])}"
        rnd = f" (round {rounds.index(mid) + 1})" if len(rounds) > 1 else ""
        self.add_versus_raw(
            base,
            aio["rate"],
            [("3  raw requests x16, 50 ms", req)],
            ("3  hookkit delivery, 50 ms receiver" + rnd, hook, mid["ratio"]),
            target=0.7,
        )

    # 4. naive inline sender -------------------------------------------------------------------

    def naive(self) -> None:
        self.title("4. naive inline sender: publish, then requests.post in the same thread")
        p, r = self.plan, self.rcv
        service = new_service(self.tmp, "naive")
        results: dict[str, list[dict[str, Any]]] = {"requests.post": [], "Session": []}
        try:
            account = ensure_account(service.store, "bench")
            subscribe(service, account.id, r.url("naive"))
            with requests.Session() as session:
                session.trust_env = False
                variants: list[tuple[str, Callable[..., requests.Response]]] = [
                    ("requests.post", requests.post),
                    ("Session", session.post),
                ]
                for k in range(p.repeats):
                    for label, post in variants:
                        for _ in range(5):  # warm
                            post(r.url("naive_warm"), data=b"{}", timeout=10)
                        end = time.monotonic() + p.deadline
                        started, cpu = time.perf_counter(), time.process_time()
                        done = 0
                        for _ in range(p.naive_n):
                            published = service.publisher.publish(
                                account.id, EVENT_TYPE, self.sample
                            )
                            post(
                                r.url("naive"),
                                data=sample_body(self.sample, done, published.id),
                                headers={
                                    "Content-Type": "application/json",
                                    "webhook-id": published.id,
                                },
                                timeout=10,
                            ).raise_for_status()
                            done += 1
                            if time.monotonic() > end:
                                break
                        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
                        results[label].append(
                            self.show(
                                f"naive, {label}, run {k + 1}",
                                {
                                    "n": done,
                                    "seconds": seconds,
                                    "rate": done / seconds,
                                    "cpu_us": cpu / done * 1e6,
                                    "errors": 0,
                                },
                            )
                        )
        finally:
            service.close()
        self.report.raw["naive"] = results
        plain = statistics.median(x["rate"] for x in results["requests.post"])
        session_rate = statistics.median(x["rate"] for x in results["Session"])
        hookkit = getattr(self, "hookkit_rate", None)
        if hookkit is None:
            self.report.add(Row("4  naive inline (requests.post)", rate_text(plain)))
            return
        self.report.add(
            Row(
                "4  hookkit delivery / naive inline",
                f"{hookkit / plain:.1f}x",
                f"naive {rate_text(plain)}",
                f"{hookkit / plain:.1f}x",
                ">= 10x",
                hookkit / plain >= 10,
            )
        )
        self.report.add(
            Row(
                "4  ... naive with a Session (info)",
                rate_text(session_rate),
                f"hookkit {rate_text(hookkit)}",
                f"{hookkit / session_rate:.1f}x",
            )
        )
        if self.fastest_raw is not None:
            name, base = self.fastest_raw
            self.report.add(
                Row(
                    "4  ... ceiling: fastest raw / naive (info)",
                    f"{base / plain:.1f}x",
                    f"{name} {rate_text(base)}",
                    f"{base / plain:.1f}x",
                )
            )
        publish = getattr(self, "publish_rate", None)
        if publish is not None:
            self.report.add(
                Row(
                    "4  hookkit publish / naive (info)",
                    rate_text(publish),
                    f"naive {rate_text(plain)}",
                    f"{publish / plain:.1f}x",
                )
            )

    # 5. latency --------------------------------------------------------------------------------

    def latency(self) -> None:
        p, r = self.plan, self.rcv
        self.title(
            f"5. publish-to-receipt latency at {p.latency_rate:g} events/s "
            f"for {p.latency_seconds:g}s"
        )
        r.reset("latraw")
        sent = asyncio.run(
            _raw_paced(r.url("latraw"), self.sample, p.latency_rate, p.latency_seconds, "lr")
        )
        r.wait_count("latraw", len(sent), 15)
        ids, times = r.arrivals("latraw")
        raw_lat = [t - sent[i] for i, t in zip(ids, times, strict=True) if i in sent]
        raw_p = {q: percentile(raw_lat, q) for q in (50, 95, 99)}
        print(
            "  raw aiohttp paced: " + ", ".join(f"p{q} {ms(v)}" for q, v in raw_p.items()),
            flush=True,
        )

        service = new_service(self.tmp, "latency")
        published: dict[str, tuple[float, float]] = {}
        try:
            account = ensure_account(service.store, "bench")
            subscribe(service, account.id, r.url("lat"))
            warm_up(service, account.id, self.sample, p.warmup, p.deadline)
            r.reset("lat")
            start_worker(service)
            try:
                total = int(p.latency_rate * p.latency_seconds)
                start = time.monotonic()
                behind = 0.0
                for i in range(total):
                    pause = start + i / p.latency_rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    else:
                        behind = max(behind, -pause)
                    at = time.time()
                    event_id = service.publisher.publish(account.id, EVENT_TYPE, self.sample).id
                    published[event_id] = (at, time.time())
                achieved = total / (time.monotonic() - start)
                stats = r.wait_count("lat", total, 30)
            finally:
                stop_worker(service)
            ids, times = r.arrivals("lat")
            timeline = delivery_timeline(service)
        finally:
            service.close()
        lat, stages = [], {"publish call": [], "queued until sent": [], "send to arrival": []}
        for delivery_id, arrived in zip(ids, times, strict=True):
            event_id, sent_at = timeline.get(delivery_id, ("", 0.0))
            if event_id not in published:
                continue
            called, returned = published[event_id]
            lat.append(arrived - called)
            stages["publish call"].append(returned - called)
            stages["queued until sent"].append(sent_at - returned)
            stages["send to arrival"].append(arrived - sent_at)
        for stage, values in stages.items():
            print(
                f"  {stage:>18}: "
                + ", ".join(f"p{q} {ms(percentile(values, q))}" for q in (50, 95, 99)),
                flush=True,
            )
        missing = total - stats["distinct"]
        print(
            f"  published {total} at {achieved:.0f}/s (max lag behind schedule {ms(behind)}); "
            f"received {stats['distinct']} distinct, {missing} missing",
            flush=True,
        )
        self.report.raw["latency"] = {
            "raw": raw_p,
            "hookkit": {q: percentile(lat, q) for q in (50, 95, 99)},
            "achieved_rate": achieved,
            "missing": missing,
            "stages": {k: {q: percentile(v, q) for q in (50, 95, 99)} for k, v in stages.items()},
        }
        for q, limit in ((50, 0.020), (95, 0.050), (99, 0.200)):
            value = percentile(lat, q)
            self.report.add(
                Row(
                    f"5  latency p{q} @{p.latency_rate:g}/s",
                    ms(value) + ("" if missing == 0 else f" ({missing} lost)"),
                    f"raw aiohttp {ms(raw_p[q])}",
                    f"{value / raw_p[q]:.1f}x" if raw_p[q] > 0 else "",
                    f"<= {limit * 1000:g} ms",
                    value <= limit and missing == 0,
                )
            )

    # 6. fan-out --------------------------------------------------------------------------------

    def fanout(self) -> None:
        p, r = self.plan, self.rcv
        self.title(f"6. one event fanned out to {p.fanout_hooks} subscriptions")
        service = new_service(self.tmp, "fanout")
        try:
            many = ensure_account(service.store, "fan")
            one = ensure_account(service.store, "single")
            started = time.perf_counter()
            for i in range(p.fanout_hooks):
                subscribe(service, many.id, r.url("fan", 0, f"h{i}"))
            subscribe_seconds = time.perf_counter() - started
            subscribe(service, one.id, r.url("fan1"))
            for _ in range(5):  # warm both paths
                service.publisher.publish(one.id, EVENT_TYPE, self.sample)
            service.publisher.publish(many.id, EVENT_TYPE, self.sample)

            def timed(account_id: str, n: int) -> list[float]:
                out = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    published = service.publisher.publish(account_id, EVENT_TYPE, self.sample)
                    out.append(time.perf_counter() - t0)
                    assert published.deliveries in (1, p.fanout_hooks), published
                return out

            single = timed(one.id, p.single_publishes)
            fan = timed(many.id, p.fanout_publishes)
            # Deliver everything that fan-out queued: many hooks, one host.
            queued = count_status(service, "pending")
            started_at = time.time()
            start_worker(service)
            try:
                seen = wait_delivered(service, queued, p.deadline)
                finished = last_recorded(service, started_at) or time.time()
            finally:
                stop_worker(service)
        finally:
            service.close()
        single_ms = statistics.median(single)
        fan_ms = statistics.median(fan)
        drain_rate = seen / (finished - started_at)
        print(
            f"  {p.fanout_hooks} subscribes took {subscribe_seconds:.2f}s; publish to 1 hook: "
            f"median {ms(single_ms)}; to {p.fanout_hooks}: median {ms(fan_ms)}, "
            f"max {ms(max(fan))} over {len(fan)}; drained {seen}/{queued} in "
            f"{finished - started_at:.2f}s",
            flush=True,
        )
        self.report.raw["fanout"] = {
            "single_publish_s": single,
            "fanout_publish_s": fan,
            "subscribe_s": subscribe_seconds,
            "drain_rate": drain_rate,
            "drained": seen,
            "queued": queued,
        }
        self.report.add(
            Row(
                f"6  publish to {p.fanout_hooks} subscriptions",
                ms(fan_ms),
                f"1 subscription {ms(single_ms)}",
                f"{fan_ms / single_ms:.0f}x",
                "<= 100 ms",
                max(fan) <= 0.100,
            )
        )
        if self.fastest_raw is not None:
            name, base_rate = self.fastest_raw
            self.report.add(
                Row(
                    f"6  ... delivering them ({p.fanout_hooks} hooks, info)",
                    rate_text(drain_rate) + ("" if seen == queued else " INCOMPLETE"),
                    f"{name} {rate_text(base_rate)}",
                    pct(drain_rate / base_rate),
                )
            )

    # 7. memory ---------------------------------------------------------------------------------

    def memory(self) -> None:
        p = self.plan
        self.title(
            f"7. worker memory draining backlogs of {p.memory_small:,} and {p.memory_large:,}, "
            "twice each, in a fresh process"
        )
        results = {}
        for n in (p.memory_small, p.memory_large):
            results[n] = run_memory_child(n, self.rcv.port, p.deadline * 3)
            for k, res in enumerate(results[n]):
                print(
                    f"  backlog {n:,} #{k + 1}: RSS {res['before'] / 2**20:.1f} MiB before, "
                    f"peak {res['peak'] / 2**20:.1f}, after {res['after'] / 2**20:.1f}; "
                    f"Python blocks {res['blocks_before']:,} -> {res['blocks_after']:,}; "
                    f"delivered {res['delivered']:,} in {res['seconds']:.1f}s",
                    flush=True,
                )
        self.report.raw["memory"] = results
        for n, (first, second) in results.items():
            growth = first["peak"] / first["before"] - 1
            self.report.add(
                Row(
                    f"7  RSS draining a backlog of {n:,}",
                    f"{first['peak'] / 2**20:.1f} MiB peak",
                    f"{first['before'] / 2**20:.1f} MiB before",
                    f"{growth * 100:+.1f}%",
                    "<= +10%",
                    growth <= 0.10 and first["delivered"] == n,
                )
            )
            soak = second["peak"] / first["peak"] - 1
            self.report.add(
                Row(
                    "7  ... the same backlog again (soak)",
                    f"{second['peak'] / 2**20:.1f} MiB peak",
                    f"1st drain {first['peak'] / 2**20:.1f} MiB",
                    f"{soak * 100:+.1f}%",
                    "<= +10%",
                    soak <= 0.10 and second["delivered"] == n,
                )
            )
        small, large = results[p.memory_small][0], results[p.memory_large][0]
        extra_small = small["peak"] - small["before"]
        extra_large = large["peak"] - large["before"]
        self.report.add(
            Row(
                f"7  growth, {p.memory_large:,} vs {p.memory_small:,} backlog",
                f"{extra_large / 2**20:+.1f} MiB",
                f"{extra_small / 2**20:+.1f} MiB",
                f"{(extra_large / extra_small) if extra_small > 0 else float('nan'):.1f}x",
                "diff <= 10% RSS",
                (extra_large - extra_small) <= 0.10 * large["before"],
            )
        )

    # 8. hanging endpoints ----------------------------------------------------------------------

    def hanging(self) -> None:
        """10 endpoints (hosts), one of which never answers: do the other nine keep up?

        Each hook targets its own receiver port: hookkit counts its per-host limit by host and
        port, so these are 10 different hosts, all on 127.0.0.1. Default concurrency settings
        (`max_in_flight` 64, `max_per_host` 8), a 2 s read timeout, no retries and no
        disabling of failing hooks, so the hanging hook keeps taking slots all along.
        """
        p, r = self.plan, self.rcv
        self.title("8. 1 of 10 endpoints hanging until the read timeout (default limits)")
        defaults = Settings()
        rates = {}
        for label, hang in (("all healthy", False), ("1 of 10 hanging", True)):
            service = new_service(
                self.tmp,
                f"hang{int(hang)}",
                max_in_flight=defaults.max_in_flight,
                max_per_host=defaults.max_per_host,
                read_timeout=2.0,
                retry_schedule=(),
                failure_threshold=0,
            )
            run = f"hang{int(hang)}"
            try:
                account = ensure_account(service.store, "bench")
                for i in range(9):
                    subscribe(service, account.id, r.url(run, 0, f"h{i}", host=i))
                warm_up(service, account.id, self.sample, 20, p.deadline, per_event=9)
                subscribe(service, account.id, r.url(run + "x", "hang" if hang else 0, host=9))
                r.reset(run)
                publish_many(service, account.id, self.sample, p.hang_events, p.deadline)
                healthy = 9 * p.hang_events
                started = time.time()
                start_worker(service)
                try:
                    stats = r.wait_count(run, healthy, p.deadline)
                finally:
                    # Stopping waits for in-flight sends (up to the read timeout).
                    stop_worker(service)
            finally:
                service.close()
            seconds = (stats["last"] or time.time()) - started
            rates[label] = stats["distinct"] / seconds
            print(
                f"  {label}: the 9 healthy hooks got {stats['distinct']}/{healthy} in "
                f"{seconds:.2f}s = {rate_text(rates[label])}",
                flush=True,
            )
        self.report.raw["hanging"] = rates
        ratio = rates["1 of 10 hanging"] / rates["all healthy"]
        self.report.add(
            Row(
                "8  healthy hooks, 1 of 10 hanging",
                rate_text(rates["1 of 10 hanging"]),
                f"none hanging {rate_text(rates['all healthy'])}",
                pct(ratio),
                ">= 80%",
                ratio >= 0.8,
            )
        )


# -- the memory child process -------------------------------------------------------------------


def run_memory_child(n: int, port: int, timeout: float) -> list[dict[str, Any]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--memory-child",
            str(n),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    lines = [line for line in out.splitlines() if line.startswith("[{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the memory run of {n} failed (exit {proc.returncode})")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def memory_child(n: int, port: int, rounds: int = 2) -> None:
    """In a fresh process: warm up, then `rounds` times publish a backlog of `n` (no worker)
    and drain it with a new worker, sampling RSS every 20 ms; prints the figures as JSON."""
    logging.basicConfig(level=logging.WARNING)
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hookkit-bench-mem-") as tmp:
        service = new_service(Path(tmp), "memory")
        url = f"http://127.0.0.1:{port}/in/mem{n}/0"
        try:
            account = ensure_account(service.store, "bench")
            subscribe(service, account.id, url)
            data = dict(service.catalog.get(EVENT_TYPE).sample)
            warm_up(service, account.id, data, 500, 120)
            for _ in range(rounds):
                publish_many(service, account.id, data, n, 600)
                already = count_status(service, "delivered")
                gc.collect()
                before, blocks = rss_bytes(), sys.getallocatedblocks()
                peak = [before]
                stop = threading.Event()

                def sample_rss(peak: list[int] = peak, stop: threading.Event = stop) -> None:
                    while not stop.wait(0.02):
                        peak[0] = max(peak[0], rss_bytes())

                sampler = threading.Thread(target=sample_rss, daemon=True)
                sampler.start()
                started = time.perf_counter()
                start_worker(service)
                try:
                    delivered = wait_delivered(service, already + n, 600) - already
                    seconds = time.perf_counter() - started
                finally:
                    stop_worker(service)
                    stop.set()
                    sampler.join(5)
                gc.collect()
                after = rss_bytes()
                out.append(
                    {
                        "n": n,
                        "before": before,
                        "after": after,
                        "peak": max(peak[0], after),
                        "blocks_before": blocks,
                        "blocks_after": sys.getallocatedblocks(),
                        "delivered": delivered,
                        "seconds": seconds,
                    }
                )
        finally:
            service.close()
    print(json.dumps(out), flush=True)


# -- the table ----------------------------------------------------------------------------------


def print_table(report: Report) -> None:
    headers = ("measurement", "value", "baseline", "ratio", "target", "result")
    lines = [
        (
            row.name,
            row.value,
            row.baseline,
            row.ratio,
            row.target,
            {True: "pass", False: "FAIL", None: "info"}[row.ok],
        )
        for row in report.rows
    ]
    widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(headers)]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    print()
    print(fmt(headers))
    print(fmt(tuple("-" * w for w in widths)))
    for line in lines:
        print(fmt(line))
    for note in report.notes:
        print(f"note: {note}")


MEASUREMENTS = ("fast", "slow", "naive", "latency", "fanout", "memory", "hanging")


class _Timeout(BaseException):
    """The run's time is up (or it was told to stop): not caught per measurement."""


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise in the main thread once the whole run took `seconds`."""

    def expire(_sig: int, _frame: object) -> None:
        raise _Timeout(f"the benchmark exceeded its {seconds}s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def main() -> int:
    parser = argparse.ArgumentParser(description="hookkit delivery benchmark (see bench/README.md)")
    parser.add_argument("--quick", action="store_true", help="small counts, < 60 s (smoke test)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(MEASUREMENTS)}"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        with time_limit(900):
            memory_child(args.memory_child, args.port)
        return 0

    def terminated(_sig: int, _frame: object) -> None:
        raise _Timeout("terminated by SIGTERM")

    signal.signal(signal.SIGTERM, terminated)  # so the `finally` below still cleans up
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    plan = QUICK if args.quick else FULL
    chosen = [m.strip() for m in args.only.split(",") if m.strip()] or list(MEASUREMENTS)
    unknown = set(chosen) - set(MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurement(s): {', '.join(sorted(unknown))}")
    if "naive" in chosen and "fast" not in chosen:
        chosen.insert(0, "fast")  # naive is compared with hookkit's delivery rate

    print(
        f"hookkit bench ({'quick' if args.quick else 'full'}), python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    report = Report()
    rcv: Receiver | None = None
    started = time.perf_counter()
    try:
        with (
            time_limit(plan.total_limit),
            tempfile.TemporaryDirectory(prefix="hookkit-bench-") as tmp,
        ):
            rcv = Receiver(max_seconds=plan.total_limit + 60, hang_seconds=30)
            bench = Bench(plan, rcv, Path(tmp), report)
            for name in [m for m in MEASUREMENTS if m in chosen]:
                try:
                    getattr(bench, name)()
                except Exception as exc:  # report it, go on with the next measurement
                    log.exception("measurement %s failed", name)
                    report.notes.append(f"{name} failed: {exc!r}")
    except (_Timeout, KeyboardInterrupt) as exc:
        report.notes.append(f"stopped early: {exc!r}")
    finally:
        if rcv is not None:
            rcv.close()
    print_table(report)
    print(f"\ntotal {time.perf_counter() - started:.0f}s, load {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"rows": [vars(r) for r in report.rows], "raw": report.raw}, indent=2, default=str
            )
        )
    return 0 if all(row.ok is not False for row in report.rows) and not report.notes else 1


if __name__ == "__main__":
    sys.exit(main())
