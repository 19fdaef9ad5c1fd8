"""A local webhook receiver for the benchmarks: a separate process, so it never shares the
sender's GIL.

    python bench/receiver.py [--host 127.0.0.1] [--ports 1] [--max-seconds 1800]

It listens on 127.0.0.1 only, on ``--ports`` free ports (more than one lets a benchmark put
endpoints on different "hosts" -- hookkit counts per-host limits by host and port -- without
leaving 127.0.0.1), prints ``PORT <n> [<n>...]`` on stdout once it is ready, and exits when
its standard input closes (the parent died or closed the pipe), on SIGTERM, or after
``--max-seconds`` at the latest. The benchmarks start it with ``start()``, which needs only
the standard library.

Routes:

- ``POST /in/{run}/{delay_ms}[/{anything}][?record=event]``: answers 200 (after ``delay_ms``
  milliseconds when it is not 0) and records ``(webhook-id header, time.time() at arrival)``
  under ``run``; with ``?record=event`` also the ``id`` of the JSON body (the event id of
  hookkit's envelope), so a client can match a delivery to what it published. A
  ``delay_ms`` of ``hang`` never answers in time (it sleeps ``--hang-seconds``).
- ``GET /stats/{run}``: ``{"count", "distinct", "first", "last"}``.
- ``GET /arrivals/{run}``: ``{"ids": [...], "times": [...], "events": [...]}`` in arrival
  order (``events`` holds "" where the event id was not recorded).
- ``POST /reset/{run}``: forget what ``run`` recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

STARTUP_TIMEOUT = 20.0  # seconds `start` waits for the receiver's PORT line


def start(
    max_seconds: float, *, hang_seconds: float | None = None, ports: int | None = None
) -> tuple[subprocess.Popen[str], list[int]]:
    """Run this receiver in a process of its own (its own GIL) with these options; once it
    printed its ports, return the process (stdin and stdout piped) and the ports.

    Raises RuntimeError, the process killed, when it did not say ``PORT ...`` within
    `STARTUP_TIMEOUT` seconds. Standard library only: the benchmarks import it for this.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--max-seconds", str(max_seconds)]
    if hang_seconds is not None:
        command += ["--hang-seconds", str(hang_seconds)]
    if ports is not None:
        command += ["--ports", str(ports)]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], STARTUP_TIMEOUT)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("PORT "):
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        raise RuntimeError(f"the receiver did not start (said {line!r})")
    return proc, [int(word) for word in line.split()[1:]]


def build_app(hang_seconds: float) -> web.Application:
    from aiohttp import web

    ids: defaultdict[str, list[str]] = defaultdict(list)
    times: defaultdict[str, list[float]] = defaultdict(list)
    events: defaultdict[str, list[str]] = defaultdict(list)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.time()
        run = request.match_info["run"]
        ids[run].append(request.headers.get("webhook-id", ""))
        times[run].append(arrived)
        event = ""
        if request.query.get("record") == "event":
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                event = str(json.loads(body).get("id", ""))
        events[run].append(event)
        delay = request.match_info["delay"]
        if delay == "hang":
            await asyncio.sleep(hang_seconds)
        elif delay != "0":
            await asyncio.sleep(int(delay) / 1000)
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        run = request.match_info["run"]
        seen = times.get(run) or []
        return web.json_response(
            {
                "count": len(seen),
                "distinct": len(set(ids.get(run) or [])),
                "first": seen[0] if seen else None,
                "last": seen[-1] if seen else None,
            }
        )

    async def arrivals(request: web.Request) -> web.Response:
        run = request.match_info["run"]
        return web.json_response(
            {
                "ids": ids.get(run) or [],
                "times": times.get(run) or [],
                "events": events.get(run) or [],
            }
        )

    async def reset(request: web.Request) -> web.Response:
        run = request.match_info["run"]
        ids.pop(run, None)
        times.pop(run, None)
        events.pop(run, None)
        return web.json_response({"reset": run})

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post(r"/in/{run}/{delay:(\d+|hang)}", receive)
    app.router.add_post(r"/in/{run}/{delay:(\d+|hang)}/{tail:.*}", receive)
    app.router.add_get("/stats/{run}", stats)
    app.router.add_get("/arrivals/{run}", arrivals)
    app.router.add_post("/reset/{run}", reset)
    return app


async def serve(host: str, ports: int, max_seconds: float, hang_seconds: float) -> None:
    from aiohttp import web

    runner = web.AppRunner(build_app(hang_seconds), access_log=None, handle_signals=False)
    await runner.setup()
    bound = []
    for _ in range(ports):
        site = web.TCPSite(runner, host, 0, backlog=1024)
        await site.start()
        server = site._server  # aiohttp keeps the listening sockets here
        bound.append(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    print("PORT " + " ".join(map(str, bound)), flush=True)

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    # The parent holds our stdin: EOF means it is gone, so are we.
    stdin_closed = loop.run_in_executor(None, sys.stdin.buffer.read)
    stdin_closed.add_done_callback(lambda _f: done.set())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=max_seconds)
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"])
    parser.add_argument("--ports", type=int, default=1, choices=range(1, 17))
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.ports, args.max_seconds, args.hang_seconds))
    # The stdin reader thread may still block; do not wait for it.
    sys.stdout.flush()

    os._exit(0)


if __name__ == "__main__":
    main()
