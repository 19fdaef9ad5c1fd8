"""The baselines every hookkit figure is divided by, measured in the same run:

- raw HTTP clients posting the envelope hookkit would send (unsigned, nothing stored) to
  the same receiver: `requests` threads, `aiohttp` with 64 in flight, and aiohttp at a pace;
- a bare Flask endpoint that only parses the JSON body and answers 202, served by gunicorn
  with the settings `python -m connector serve` uses (`BareFlask`), for the publishing
  client to drive exactly as it drives hookkit's publish API.

    python bench/baselines.py --bare-flask PORT     # what `BareFlask` runs in a process

Loopback only; the gunicorn process is stopped by whoever started it, in a `finally`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import requests
from common import ROOT, free_port, progress, sample_body, session, stop

# The bare endpoint runs with what `serve` runs with: its click defaults (workers, threads),
# and the worker class and settings it sets in connector/cli/serve.py (`load_config`).
SERVE_WORKER_CLASS = "gthread"


def serve_defaults() -> dict[str, int]:
    """`python -m connector serve`'s defaults (gunicorn workers and threads)."""
    from connector.cli.serve import serve

    return {str(p.name): int(p.default) for p in serve.params if p.name in ("workers", "threads")}


# -- raw clients ---------------------------------------------------------------------------


def raw_requests(
    url: str, n: int, sample: dict[str, Any], *, threads: int, deadline: float, prefix: str
) -> dict[str, Any]:
    """`n` POSTs from `threads` threads, one requests.Session each (trust_env off)."""
    counter = itertools.count()
    errors: list[str] = []
    barrier = threading.Barrier(threads + 1, timeout=30)
    stop_at = [float("inf")]

    def work() -> None:
        with session() as http:
            headers = {"Content-Type": "application/json"}
            for _ in range(2):  # warm the connection
                http.post(url.replace("/in/", "/in/warm_"), data=b"{}", timeout=10)
            barrier.wait()
            while time.monotonic() < stop_at[0]:
                i = next(counter)
                if i >= n:
                    return
                try:
                    response = http.post(
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
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        warm_url = url.replace("/in/", "/in/warm_")

        async def warm() -> None:
            async with http.post(warm_url, data=b"{}") as response:
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
                    async with http.post(
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
    url: str,
    n: int,
    sample: dict[str, Any],
    *,
    concurrency: int = 64,
    deadline: float,
    prefix: str,
) -> dict[str, Any]:
    """`n` POSTs of the envelope with `concurrency` in flight from one aiohttp session."""
    return asyncio.run(_raw_aiohttp(url, n, sample, concurrency, deadline, prefix))


async def _raw_paced(
    url: str, sample: dict[str, Any], rate: float, seconds: float, prefix: str
) -> dict[str, float]:
    sent: dict[str, float] = {}
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=10)
    ) as http:

        async def post(i: int) -> None:
            key = f"{prefix}_{i}"
            headers = {"Content-Type": "application/json", "webhook-id": key}
            sent[key] = time.time()
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.post(
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


def raw_paced(
    url: str, sample: dict[str, Any], rate: float, seconds: float, prefix: str
) -> dict[str, float]:
    """POST at a steady `rate` for `seconds`; returns webhook-id -> send time (time.time())."""
    return asyncio.run(_raw_paced(url, sample, rate, seconds, prefix))


# -- the bare Flask endpoint ---------------------------------------------------------------


def bare_app() -> Any:
    """A Flask app whose `POST /v1/events` only parses the JSON body and answers 202."""
    from flask import Flask, jsonify, request

    app = Flask("bare")

    @app.post("/v1/events")
    def accept() -> Any:
        body = request.get_json()
        return jsonify({"id": "evt_bare", "type": body.get("type"), "deliveries": 0}), 202

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"ok": True})

    return app


def serve_bare(port: int) -> None:
    """Serve `bare_app()` on 127.0.0.1:`port` with `serve`'s gunicorn settings."""
    from gunicorn.app.base import BaseApplication

    defaults = serve_defaults()

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"127.0.0.1:{port}")
            self.cfg.set("workers", str(defaults["workers"]))
            self.cfg.set("threads", str(defaults["threads"]))
            self.cfg.set("worker_class", SERVE_WORKER_CLASS)
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", "true")

        def load(self) -> Any:
            return bare_app()

    _App().run()


class BareFlask:
    """`serve_bare` in a process of its own; `url` is its publish endpoint."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/v1/events"
        self.log = log_path.open("w+b")
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--bare-flask", str(self.port)],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(self.base, self.proc, 60)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        stop(self.proc)
        self.proc = None
        self.log.close()


def wait_healthy(base: str, proc: subprocess.Popen[Any], timeout: float) -> None:
    """Poll `GET base/healthz` until it answers 200; fail if `proc` exits first."""
    end = time.monotonic() + timeout
    with session() as http:
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"the server at {base} exited ({proc.returncode})")
            with contextlib.suppress(requests.RequestException):
                if http.get(f"{base}/healthz", timeout=2).status_code == 200:
                    return
            progress.draw(" starting a server")
            time.sleep(0.1)
    raise RuntimeError(f"the server at {base} did not answer within {timeout:g}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the bare Flask endpoint, served by gunicorn")
    parser.add_argument("--bare-flask", type=int, required=True, metavar="PORT")
    serve_bare(parser.parse_args().bare_flask)
