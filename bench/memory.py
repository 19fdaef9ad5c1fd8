"""Worker memory: in a fresh child process (`python bench/memory.py --memory-child N --port
P`), warm up, publish a backlog with no worker, drain it with a new worker while sampling RSS
every 20 ms; twice per backlog size (the second is the soak). The child is killed if it
overruns; it sends only to the receiver on 127.0.0.1.
"""

from __future__ import annotations

import gc
import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import EVENT_TYPE, Plan, Receiver, Report, Row, say, time_limit, title
from engine import (
    count_status,
    new_service,
    publish_many,
    rss_bytes,
    start_worker,
    stop_worker,
    subscribe,
    wait_delivered,
    warm_up,
)

from connector.hooks.accounts import ensure_account


def measure(plan: Plan, rcv: Receiver, report: Report) -> None:
    """Peak RSS of a fresh worker process draining two backlog sizes, twice each."""
    p = plan
    title(
        f"I7. worker memory draining backlogs of {p.memory_small:,} and {p.memory_large:,}, "
        "twice each, in a fresh process"
    )
    results = {}
    for n in (p.memory_small, p.memory_large):
        results[n] = run_memory_child(n, rcv.port, p.deadline * 3)
        for k, res in enumerate(results[n]):
            say(
                f"  backlog {n:,} #{k + 1}: RSS {res['before'] / 2**20:.1f} MiB before, "
                f"peak {res['peak'] / 2**20:.1f}, after {res['after'] / 2**20:.1f}; "
                f"Python blocks {res['blocks_before']:,} -> {res['blocks_after']:,}; "
                f"delivered {res['delivered']:,} in {res['seconds']:.1f}s",
            )
    report.raw["memory"] = results
    for n, (first, second) in results.items():
        growth = first["peak"] / first["before"] - 1
        report.add(
            Row(
                f"I7 RSS draining a backlog of {n:,}",
                f"{first['peak'] / 2**20:.1f} MiB peak",
                f"{first['before'] / 2**20:.1f} MiB before",
                f"{growth * 100:+.1f}%",
                "<= +10%",
                growth <= 0.10 and first["delivered"] == n,
            )
        )
        soak = second["peak"] / first["peak"] - 1
        report.add(
            Row(
                "I7 ... the same backlog again (soak)",
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
    report.add(
        Row(
            f"I7 growth, {p.memory_large:,} vs {p.memory_small:,} backlog",
            f"{extra_large / 2**20:+.1f} MiB",
            f"{extra_small / 2**20:+.1f} MiB",
            f"{(extra_large / extra_small) if extra_small > 0 else float('nan'):.1f}x",
            "diff <= 10% RSS",
            (extra_large - extra_small) <= 0.10 * large["before"],
        )
    )


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


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the memory measurement's child process")
    parser.add_argument("--memory-child", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with time_limit(900):
        memory_child(args.memory_child, args.port)
