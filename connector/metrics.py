"""Prometheus metrics: what publishing, delivery and notification count, and the text a
scrape of `GET /metrics` returns.

Two kinds, chosen per metric so each is right with several API and worker processes
(docs/operations.md lists them all):

- **Counted where it happens** (events accepted, attempt outcomes, latencies, claims,
  e-mails, pruned rows, per-host limits): prometheus-client instruments in this process.
  With HOOKKIT_METRICS_DIR the entry points switch prometheus-client to its multiprocess
  mode (`use_directory`, before anything counts), so every gunicorn process and every
  worker on the machine writes its values there and any process's scrape adds them up.
- **Read at scrape time** (backlog, oldest due delivery, hooks by status, expired leases):
  the caller computes them from the database and passes them to `render` as `Reading`s, so
  they are the same whichever process answers and whatever other processes did.

prometheus-client is imported on first use, never at import time, so `import connector`
stays light and the multiprocess mode can still be chosen. Latencies are measured with
`time.perf_counter` (`Timer`): they describe this machine, not the service's clock.
This module never labels a metric with an id, a URL path, a secret or anything unbounded
but target hosts that asked to slow down.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Seconds: receivers answer in milliseconds to the read timeout; publishing in milliseconds.
_ATTEMPT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)
_PUBLISH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# What `attempts_recorded` counts, by the outcome a result records (`delivery.jobs.Result`).
OUTCOMES = ("delivered", "failed_attempt", "exhausted", "gone", "not_sent")

_lock = threading.Lock()
_instruments: _Instruments | None = None
_directory: str | None = None


@dataclass(frozen=True)
class Reading:
    """One gauge value read at scrape time (e.g. from the database)."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


def use_directory(path: str) -> None:
    """Count in prometheus-client's multiprocess mode, in `path` (entry points only).

    prometheus-client reads PROMETHEUS_MULTIPROC_DIR once, when it is first imported; so
    this must run before anything counts, and every process sharing `path` must call it.
    """
    global _directory
    os.makedirs(path, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    _directory = path


def process_exited(pid: int | None = None) -> None:
    """Forget the live gauges of process `pid` (default: this one) in multiprocess mode."""
    if _directory is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid() if pid is None else pid, _directory)


class _Instruments:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.events = Counter(
            "hookkit_events_accepted", "Events accepted, by type", ["type"], registry=registry
        )
        self.deliveries = Counter(
            "hookkit_deliveries",
            "Delivery attempts recorded, by outcome (delivered, failed_attempt: will be "
            "retried, exhausted: failed for good, gone: 410 unsubscribed, not_sent)",
            ["outcome"],
            registry=registry,
        )
        self.attempt_seconds = Histogram(
            "hookkit_attempt_duration_seconds",
            "How long one delivery attempt took (request and answer)",
            buckets=_ATTEMPT_BUCKETS,
            registry=registry,
        )
        self.publish_seconds = Histogram(
            "hookkit_publish_duration_seconds",
            "How long accepting one event took (validation, event and deliveries stored)",
            buckets=_PUBLISH_BUCKETS,
            registry=registry,
        )
        self.claims = Counter(
            "hookkit_worker_claims", "Deliveries claimed by workers", registry=registry
        )
        self.released = Counter(
            "hookkit_worker_released",
            "Claims handed back unsent by a stopping worker",
            registry=registry,
        )
        self.emails = Counter(
            "hookkit_emails",
            "Notification e-mails, by result (sent, failed)",
            ["result"],
            registry=registry,
        )
        self.pruned = Counter(
            "hookkit_pruned_rows",
            "Rows removed by retention, by table",
            ["table"],
            registry=registry,
        )
        for outcome in OUTCOMES:  # every series from the start: dashboards see zeros
            self.deliveries.labels(outcome=outcome)
        for result in ("sent", "failed"):
            self.emails.labels(result=result)
        self.host_limit = Gauge(
            "hookkit_host_concurrency_limit",
            "Requests at once a worker allows a host that asked to slow down (429/503 "
            "Retry-After); in force until hookkit_host_concurrency_limit_until_seconds",
            ["host"],
            multiprocess_mode="livemin",
            registry=registry,
        )
        self.host_limit_until = Gauge(
            "hookkit_host_concurrency_limit_until_seconds",
            "Unix time until which hookkit_host_concurrency_limit holds for the host",
            ["host"],
            multiprocess_mode="livemax",
            registry=registry,
        )


def _get() -> _Instruments:
    global _instruments
    if _instruments is None:
        with _lock:
            if _instruments is None:
                _instruments = _Instruments()
    return _instruments


# -- counting: cheap calls from the code that does the work -----------------------------------


def event_accepted(event_type: str) -> None:
    _get().events.labels(type=event_type).inc()


def attempts_recorded(outcomes: Mapping[str, int], seconds: Iterable[float]) -> None:
    """A batch of recorded attempts: how many ended with each outcome of `OUTCOMES`, and the
    durations of those that were sent (one counter step per outcome, not per attempt)."""
    instruments = _get()
    for outcome, count in outcomes.items():
        instruments.deliveries.labels(outcome=outcome).inc(count)
    for duration in seconds:
        instruments.attempt_seconds.observe(max(duration, 0.0))


def published(seconds: float) -> None:
    _get().publish_seconds.observe(max(seconds, 0.0))


def claimed(count: int) -> None:
    if count:
        _get().claims.inc(count)


def released(count: int) -> None:
    if count:
        _get().released.inc(count)


def emails(result: str, count: int = 1) -> None:
    """`result`: sent or failed."""
    if count:
        _get().emails.labels(result=result).inc(count)


def pruned(table: str, count: int) -> None:
    if count:
        _get().pruned.labels(table=table).inc(count)


def host_limited(host: str, limit: int, until: float) -> None:
    """A worker allows `host` only `limit` requests at once until `until` (unix time)."""
    instruments = _get()
    instruments.host_limit.labels(host=host).set(limit)
    instruments.host_limit_until.labels(host=host).set(until)


class Timer:
    """`timer = Timer()`, later `timer.seconds`: wall time elapsed on this machine."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self._start


# -- scraping ----------------------------------------------------------------------------------


def render(readings: Iterable[Reading]) -> tuple[bytes, str]:
    """The Prometheus text exposition of every counted metric plus `readings`, and its
    content type. In multiprocess mode the counted ones are every process's, summed."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    if _directory is not None:
        from prometheus_client.multiprocess import MultiProcessCollector

        _get()  # this process's values exist (at zero) before its first count
        MultiProcessCollector(registry, path=_directory)
    else:
        registry.register(_Collect(_get().registry.collect))
    registry.register(_Collect(lambda: _families(readings)))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Collect:
    """A collector made of a function (prometheus-client calls `collect()` per scrape)."""

    def __init__(self, collect: Any) -> None:
        self.collect = collect


def _families(readings: Iterable[Reading]) -> list[Any]:
    from prometheus_client.core import GaugeMetricFamily

    families: dict[str, Any] = {}
    for reading in readings:
        family = families.get(reading.name)
        if family is None:
            family = families[reading.name] = GaugeMetricFamily(
                reading.name, reading.help, labels=sorted(reading.labels)
            )
        family.add_metric([reading.labels[k] for k in sorted(reading.labels)], reading.value)
    return list(families.values())
