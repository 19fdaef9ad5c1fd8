"""hookkit as `scripts/serve` runs it, in processes of its own: `python -m connector serve`
(`Service`), `python -m connector worker` beside it, one account's API key from
`python -m connector keys create`, and the request bodies the benchmarks publish. Also a
fresh PostgreSQL schema for a run (`postgres_schema`).

The processes get this environment without the shell's HOOKKIT_* variables, plus what the
caller sets; every one is stopped by `Service.close()` (SIGTERM, then SIGKILL), which callers
run in a `finally`. Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from baselines import wait_healthy
from common import EVENT_TYPE, ROOT, free_port, progress, session, stop

POSTGRES_URL = os.environ.get(
    "HOOKKIT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def hermetic_env(**variables: str) -> dict[str, str]:
    """This environment without the shell's HOOKKIT_* settings, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKKIT_")}
    return {**env, **variables}


class Service:
    """`python -m connector serve` in a process of its own, with one account's API key."""

    def __init__(self, tmp: Path, name: str, database_url: str, **settings: str) -> None:
        self.tmp, self.name = tmp, name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = hermetic_env(
            HOOKKIT_DATABASE_URL=database_url,
            HOOKKIT_HOST="127.0.0.1",
            HOOKKIT_PORT=str(self.port),
            HOOKKIT_ALLOW_PRIVATE_TARGETS="true",
            HOOKKIT_API_RATE_LIMIT="off",
            **settings,
        )
        self.logs: list[Any] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.proc: subprocess.Popen[bytes] | None = self.spawn("serve")
        self.http = session()
        try:
            wait_healthy(self.base, self.proc, 90)
            key = self.cli("keys", "create", "bench").strip().splitlines()[-1]
        except BaseException:
            self.close()
            raise
        self.headers = {"Authorization": f"Bearer {key}"}
        self.http.headers.update(self.headers)

    def spawn(self, *args: str, extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{self.name}-{'-'.join(args)}-{len(self.logs)}.log").open("w+b")
        self.logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", "connector", *args],
            cwd=ROOT,
            env={**self.env, **(extra or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "connector", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"connector {' '.join(args)} failed: {done.stderr[-500:]}")
        return done.stdout

    def sample(self) -> dict[str, Any]:
        response = self.http.get(f"{self.base}/v1/event-types/{EVENT_TYPE}", timeout=30)
        response.raise_for_status()
        return dict(response.json()["sample"])

    def subscribe(self, url: str) -> str:
        body = {"event": EVENT_TYPE, "target_url": url}
        response = self.http.post(f"{self.base}/v1/hooks", json=body, timeout=30)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"subscribe answered {response.status_code}: {response.text}")
        return str(response.json()["id"])

    def unsubscribe(self, hook_id: str) -> None:
        self.http.delete(f"{self.base}/v1/hooks/{hook_id}", timeout=30).raise_for_status()

    def start_worker(self, **settings: str) -> subprocess.Popen[bytes]:
        """A `python -m connector worker` on this service's database; ready when it logged
        that it started."""
        proc = self.spawn("worker", extra=settings)
        self.workers.append(proc)
        log = self.logs[-1]
        end = time.monotonic() + 90
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"a worker exited ({proc.returncode}): {self.tail(log)}")
            log.seek(0)
            if b" started" in log.read():
                return proc
            progress.draw(" starting a worker")
            time.sleep(0.1)
        raise RuntimeError("a worker did not start within 90 s")

    def stop_workers(self) -> None:
        for proc in self.workers:
            stop(proc, grace=30)
        self.workers = []

    @staticmethod
    def tail(log: Any) -> str:
        log.seek(0)
        return log.read().decode(errors="replace")[-800:]

    def close(self) -> None:
        try:
            self.stop_workers()
            stop(self.proc, grace=30)
            self.proc = None
        finally:
            self.http.close()
            for log in self.logs:
                log.close()


def settings_of(service: Service) -> dict[str, str]:
    """The HOOKKIT_* variables a service runs with (no key material), for the JSON."""
    return {
        k: v
        for k, v in service.env.items()
        if k.startswith("HOOKKIT_") and k not in ("HOOKKIT_ENCRYPTION_KEYS", "HOOKKIT_PORT")
    }


def event_bodies(sample: dict[str, Any], n: int, event_type: str = EVENT_TYPE) -> list[bytes]:
    body = json.dumps({"type": event_type, "data": sample}, separators=(",", ":")).encode()
    return [body] * n


def batch_bodies(sample: dict[str, Any], n: int, size: int) -> list[bytes]:
    item = {"type": EVENT_TYPE, "data": sample}
    bodies = []
    for start in range(0, n, size):
        count = min(size, n - start)
        bodies.append(json.dumps({"events": [item] * count}, separators=(",", ":")).encode())
    return bodies


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema on the test PostgreSQL: yields a URL whose search_path is it; the
    schema is dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"bench_{secrets.token_hex(5)}"
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '20s'"))
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        engine.dispose()
