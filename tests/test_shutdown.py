"""Graceful shutdown of a real `python -m connector serve` (gunicorn, worker embedded) with a
slow receiver: on SIGTERM the API stops accepting, the worker stops claiming, the send in
flight finishes within HOOKKIT_SHUTDOWN_GRACE and is recorded, and the unsent claims are
handed back at once (long before their lease would end), so a next worker sends each of
them exactly once. A send outlasting the grace is cut off and sent again, same webhook-id.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from connector.service import Hookkit
from connector.store.tables import deliveries
from connector.testing import Receiver, Reply

from .conftest import SESSION, _key, all_delivered, free_port, hermetic_env, subscribe, wait_until

ROOT = Path(__file__).resolve().parent.parent


def _serve(database_url: str, log_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    variables = hermetic_env(
        HOOKKIT_DATABASE_URL=database_url,
        HOOKKIT_ALLOW_PRIVATE_TARGETS="true",
        HOOKKIT_PORT=str(port),
        HOOKKIT_LEASE="5m",  # released claims must not wait for it
        HOOKKIT_MAX_PER_HOST="1",  # one send in flight, the other claims queued behind it
        HOOKKIT_READ_TIMEOUT="30s",
        **env,
    )
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "connector", "serve", "--workers", "1"],
            cwd=ROOT,
            env=variables,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answer(base + "/healthz"), timeout=60)
    return server, base


def _answer(url: str, **kwargs: Any) -> requests.Response | None:
    try:
        return requests.request(kwargs.pop("method", "GET"), url, timeout=5, **kwargs)
    except requests.ConnectionError:
        return None


def _publish(base: str, key: str) -> requests.Response | None:
    return _answer(
        base + "/v1/events",
        method="POST",
        json={"type": "session", "data": SESSION},
        headers={"Authorization": f"Bearer {key}", "Connection": "close"},
    )


@pytest.mark.timeout(120)
def test_sigterm_finishes_the_send_in_flight_and_hands_back_the_rest(
    make_app, workers, database_url, tmp_path
):
    """SIGTERM mid-send: new requests are refused, the slow send completes and is recorded
    delivered, the queued claims are released, and a new worker sends each remaining
    delivery once: nothing lost, nothing sent twice."""
    app = make_app(embedded_worker=False)  # reads the log; never sends
    client, auth = app.test_client(), _key(app, "acme")
    key = auth["Authorization"].removeprefix("Bearer ")
    with Receiver(lambda _request: Reply(200, delay=2.0)) as receiver:
        hook = subscribe(client, auth, receiver.url)
        server, base = _serve(database_url, tmp_path / "serve.log", HOOKKIT_SHUTDOWN_GRACE="20s")
        try:
            for _ in range(4):
                assert _publish(base, key).status_code == 202
            (first,) = receiver.wait_for(1)
            server.send_signal(signal.SIGTERM)
            accepted = [4]

            def refused() -> bool:
                # Until the signal reaches the process, a request may still be accepted
                # (and then delivered like the others); soon none is.
                answer = _publish(base, key)
                if answer is not None:
                    assert answer.status_code == 202
                    accepted[0] += 1
                return answer is None

            wait_until(refused, timeout=30)
            assert server.wait(timeout=60) == 0
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(10)
        log = (tmp_path / "serve.log").read_text()
        # Claims it held but had not sent went back (the worker claims up to twice its
        # per-host limit); the rest were never claimed.
        stopped = re.search(r"stopped: 1 attempts recorded, (\d+) claims released", log)
        assert stopped and int(stopped.group(1)) >= 1, log
        (done,) = [d for d in _log(client, auth, hook) if d["status"] == "delivered"]
        assert done["id"] == first.header("webhook-id")  # finished in flight, recorded

        workers.start(database_url, lease_seconds="5m", read_timeout="30s")
        delivered = wait_until(
            lambda: all_delivered(client, auth, hook["id"], accepted[0]), timeout=40
        )
        seen = Counter(r.header("webhook-id") for r in receiver.requests)
    assert set(seen) == {d["id"] for d in delivered}
    assert set(seen.values()) == {1}


@pytest.mark.timeout(120)
def test_a_send_outlasting_the_grace_is_cut_off_and_sent_again(
    make_app, workers, database_url, tmp_path
):
    """With HOOKKIT_SHUTDOWN_GRACE shorter than the receiver, the send is abandoned at the
    end of the grace and released with the rest: the next worker sends it again with the
    same webhook-id, and every delivery arrives."""
    app = make_app(embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    key = auth["Authorization"].removeprefix("Bearer ")
    slow = {"delay": 8.0}
    with Receiver(lambda _request: Reply(200, delay=slow["delay"])) as receiver:
        hook = subscribe(client, auth, receiver.url)
        server, base = _serve(database_url, tmp_path / "serve.log", HOOKKIT_SHUTDOWN_GRACE="500ms")
        try:
            for _ in range(2):
                assert _publish(base, key).status_code == 202
            (cut,) = receiver.wait_for(1)
            # Both claimed (one being sent, one held) before the stop, whatever the load.
            wait_until(lambda: _claimed(app) == 2, timeout=20)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=60) == 0
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(10)
        assert "0 attempts recorded, 2 claims released" in (tmp_path / "serve.log").read_text()
        slow["delay"] = 0.0
        workers.start(database_url, lease_seconds="5m")
        delivered = wait_until(lambda: all_delivered(client, auth, hook["id"], 2), timeout=40)
        seen = Counter(r.header("webhook-id") for r in receiver.requests)
    assert set(seen) == {d["id"] for d in delivered}
    assert seen[cut.header("webhook-id")] == 2  # the abandoned send, again


def _log(client: Any, auth: dict[str, str], hook: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.get(f"/v1/hooks/{hook['id']}/deliveries?limit=100", headers=auth)
    assert response.status_code == 200
    return response.json["deliveries"]  # type: ignore[no-any-return]


def _claimed(app: Any) -> int:
    """Deliveries a worker holds a lease on now (read from the shared database)."""
    with Hookkit.of(app).store.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(deliveries)
                .where(deliveries.c.lease_owner.is_not(None), deliveries.c.status == "pending")
            ).scalar_one()
        )
