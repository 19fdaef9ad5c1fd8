"""What every benchmark script shares: the plan (counts and time limits), the receiver
process, the publishing of results (progress bar on stderr, lines and the final table on
stdout, `--json`), percentiles and the hard time limit.

Nothing here talks to anything but 127.0.0.1, and nothing here may leave a process behind:
whoever starts one kills it in a `finally` (`stop`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import receiver  # noqa: E402  # bench/receiver.py: this script's directory is on sys.path
import requests  # noqa: E402

EVENT_TYPE = "binding.failed"  # a small event: ~250-byte body, like the raw clients send
SLOW_MS = 50
RECEIVER_PORTS = 10  # one per endpoint of the hanging-endpoints measurement
T = TypeVar("T")


# -- what to run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Counts and time limits of one run (`QUICK` or `FULL`)."""

    raw_n: int  # requests per raw requests-client run, fast receiver
    raw_aio_n: int  # requests per raw aiohttp run, fast receiver (runs about as long)
    hook_n: int  # events in the in-process hookkit backlog, fast receiver
    slow_n: int  # requests/events against the 50 ms receiver (aiohttp, hookkit in-process)
    slow_threads_n: int  # requests against the 50 ms receiver with 16 requests threads
    naive_n: int  # events of the naive inline sender
    latency_seconds: float  # paced publishing at `latency_rate` events/s
    fanout_publishes: int  # events published to 1,000 subscriptions
    single_publishes: int  # events published to one subscription (fan-out baseline)
    memory_small: int  # backlog sizes of the two memory runs
    memory_large: int
    hang_events: int  # events to 10 hooks, one of them hanging
    api_n: int  # black box: requests of the publish API and of the bare Flask endpoint
    single_n: int  # black box: single-event publishes, 0 ms receiver
    single_slow_n: int  # black box: single-event publishes, 50 ms receiver
    batch_n: int  # black box: events published in batches of `batch_size`
    batch_slow_n: int  # black box: events in batches of `batch_size`, 50 ms receiver
    pg_n: int  # PostgreSQL: events per worker-count round (4 deliveries each)
    warmup: int  # requests/events sent before each timed run
    repeats: int  # rounds of the in-process comparisons; the median ratio counts
    deadline: float  # seconds any one timed phase may take
    total_limit: int  # seconds the whole run may take
    latency_rate: float = 200.0
    fanout_hooks: int = 1000
    batch_size: int = 100
    client_threads: int = 4


QUICK = Plan(
    raw_n=600,
    raw_aio_n=2000,
    hook_n=800,
    slow_n=480,
    slow_threads_n=160,
    naive_n=120,
    latency_seconds=2.0,
    fanout_publishes=1,
    single_publishes=20,
    memory_small=200,
    memory_large=600,
    hang_events=60,
    api_n=300,
    single_n=300,
    single_slow_n=160,
    batch_n=1000,
    batch_slow_n=400,
    pg_n=150,
    warmup=50,
    repeats=1,
    deadline=30.0,
    total_limit=240,  # below tests/test_bench.py's timeout: the run stops and cleans up first
    fanout_hooks=300,  # the target is for 1,000; --quick only checks that it runs
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
    api_n=3000,
    single_n=3000,
    single_slow_n=1200,
    batch_n=10000,
    batch_slow_n=4000,
    pg_n=1200,
    warmup=200,
    repeats=3,
    deadline=180.0,
    total_limit=1800,
)


# -- output: lines, progress bar, table, JSON -------------------------------------------------


class Progress:
    """A plain-text progress bar on stderr: which measurement of how many, and the count of
    the phase under way. Redrawn in place on a terminal; elsewhere (CI logs) one line per
    measurement and at most one count line every few seconds."""

    WIDTH = 24

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = 0
        self.index = 0
        self.label = ""
        self.started = time.monotonic()
        self.drawn = False
        self.last_line = 0.0

    def begin(self, total: int) -> None:
        self.total, self.index, self.started = total, 0, time.monotonic()

    def step(self, label: str) -> None:
        self.index += 1
        self.label = label
        self.draw("", force=True)

    def update(self, done: int, total: int) -> None:
        self.draw(f" {done:,}/{total:,}")

    def draw(self, count: str, *, force: bool = False) -> None:
        if not self.total:
            return
        filled = round(self.WIDTH * max(self.index - 1, 0) / self.total)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        elapsed = time.monotonic() - self.started
        text = f"[{bar}] {self.index}/{self.total} {self.label}{count} {elapsed:.0f}s"
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
            self.drawn = True
        elif force or time.monotonic() - self.last_line >= 5:
            self.stream.write(text + "\n")
            self.last_line = time.monotonic()
        self.stream.flush()

    def clear(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False


progress = Progress()


def say(text: str = "") -> None:
    """A line on stdout, without tearing the progress bar on a terminal."""
    progress.clear()
    print(text, flush=True)


@dataclass
class Row:
    """One line of the final table."""

    name: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    ok: bool | None = None  # None: informational, no target
    measurement: str = ""  # which measurement (`--only` name) made it; set by Report.add


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # measurements that crashed
    current: str = ""  # the measurement under way

    def add(self, row: Row) -> None:
        row.measurement = row.measurement or self.current
        self.rows.append(row)
        mark = {True: "PASS", False: "FAIL", None: ""}[row.ok]
        extra = f"  ratio {row.ratio}" if row.ratio else ""
        say(f"  -> {row.name}: {row.value}{extra} {mark}".rstrip())


def title(text: str) -> None:
    say(f"\n== {text}")


def print_table(report: Report) -> None:
    headers = ("measurement", "hookkit", "baseline", "ratio", "target", "result")
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

    say()
    say(fmt(headers))
    say(fmt(tuple("-" * w for w in widths)))
    for line in lines:
        say(fmt(line))
    for note in report.notes:
        say(f"note: {note}")


def write_json(path: str, report: Report, meta: dict[str, Any]) -> None:
    document = {
        "meta": meta,
        "rows": [asdict(row) for row in report.rows],
        "raw": report.raw,
        "notes": report.notes,
        "failed": report.failed,
    }
    Path(path).write_text(json.dumps(document, indent=2, default=str))


def rate_text(rate: float) -> str:
    return f"{rate:,.0f}/s"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def times(x: float) -> str:
    return f"{x:.2f}x"


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


def sample_body(sample: dict[str, Any], i: int, prefix: str) -> bytes:
    """What the raw clients post: the same envelope hookkit sends, unsigned, not stored."""
    envelope = {
        "id": f"{prefix}_{i}",
        "type": EVENT_TYPE,
        "timestamp": "2026-01-29T10:30:00.000Z",
        "data": sample,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


# -- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    """A port of 127.0.0.1 free right now (for a server started next)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(proc: subprocess.Popen[Any] | None, grace: float = 10.0) -> None:
    """End a process we started: SIGTERM, `grace` seconds, then SIGKILL."""
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            if proc.stdin:
                proc.stdin.close()
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def session() -> requests.Session:
    """A keep-alive requests session that ignores proxy variables (loopback only)."""
    s = requests.Session()
    s.trust_env = False
    return s


class Receiver:
    """bench/receiver.py in its own process; control calls over HTTP to 127.0.0.1."""

    def __init__(
        self, max_seconds: float, hang_seconds: float = 30.0, ports: int = RECEIVER_PORTS
    ) -> None:
        # hookkit limits concurrency per host:port, so each port is "another host".
        self.proc, self.ports = receiver.start(max_seconds, hang_seconds=hang_seconds, ports=ports)
        self.port = self.ports[0]
        self.base = f"http://127.0.0.1:{self.port}"
        self.control = session()

    def url(self, run: str, delay: int | str = 0, tail: str = "", host: int = 0) -> str:
        """A target URL; `host` picks one of the receiver's ports (a different "host")."""
        url = f"http://127.0.0.1:{self.ports[host]}/in/{run}/{delay}"
        return f"{url}/{tail}" if tail else url

    def stats(self, run: str) -> dict[str, Any]:
        response = self.control.get(f"{self.base}/stats/{run}", timeout=10)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def arrivals(self, run: str) -> tuple[list[str], list[float]]:
        """webhook-ids and arrival times (`time.time()`), in arrival order."""
        data = self.arrival_data(run)
        return data["ids"], data["times"]

    def arrival_data(self, run: str) -> dict[str, list[Any]]:
        """`{"ids", "times", "events"}`: `events` holds the delivered envelope's `id` for
        targets with `?record=event`, else ""."""
        response = self.control.get(f"{self.base}/arrivals/{run}", timeout=60)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def first_arrivals(self, run: str) -> dict[str, float]:
        """webhook-id -> when it first arrived."""
        first: dict[str, float] = {}
        for webhook_id, at in zip(*self.arrivals(run), strict=True):
            first.setdefault(webhook_id, at)
        return first

    def reset(self, run: str) -> None:
        self.control.post(f"{self.base}/reset/{run}", timeout=10).raise_for_status()

    def wait_count(
        self, run: str, count: int, timeout: float, *, distinct: bool = False
    ) -> dict[str, Any]:
        """Poll until `run` has seen `count` requests (distinct webhook-ids if `distinct`),
        or the time is up; the progress bar shows the count."""
        key = "distinct" if distinct else "count"
        end = time.monotonic() + timeout
        stats = self.stats(run)
        while stats[key] < count and time.monotonic() < end:
            progress.update(stats[key], count)
            time.sleep(0.05)
            stats = self.stats(run)
        return stats

    def close(self) -> None:
        stop(self.proc, grace=5)


# -- time limits --------------------------------------------------------------------------------


class Stopped(BaseException):
    """The run's time is up (or it was told to stop): not caught per measurement."""


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise `Stopped` in the main thread once the whole run took `seconds`, or on SIGTERM
    (so every `finally` still stops the processes it started)."""

    def expire(_sig: int, _frame: object) -> None:
        raise Stopped(f"the benchmark exceeded its {seconds}s limit")

    def terminated(_sig: int, _frame: object) -> None:
        raise Stopped("terminated by SIGTERM")

    previous = signal.signal(signal.SIGALRM, expire)
    previous_term = signal.signal(signal.SIGTERM, terminated)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        signal.signal(signal.SIGTERM, previous_term)


def machine() -> dict[str, Any]:
    """What the figures were measured on (for the table's caption and the JSON)."""
    return {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
