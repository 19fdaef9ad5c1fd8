"""Worker heartbeats: an API process without an embedded worker is ready only while a
separate worker (a real `python -m connector worker` subprocess) is alive, as
HOOKKIT_EXPECT_WORKERS says, and `/metrics` shows `hookkit_workers_alive`."""

from __future__ import annotations

import re
import signal
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from connector.config import env_problems
from connector.service import Hookkit
from connector.store.tables import workers as workers_table

from .conftest import _key, publish, subscribe, wait_until

TOKEN = "metrics-token-for-heartbeat-tests"
# Short on purpose: a killed worker counts as gone after a second, so no test waits long.
BEATS = {"heartbeat": "200ms", "worker_timeout": "1s"}


def _alive(client: Any) -> float:
    """`hookkit_workers_alive` as a scrape of /metrics shows it."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        if family.name == "hookkit_workers_alive":
            return family.samples[0].value
    raise AssertionError("hookkit_workers_alive is missing from /metrics")


def _api(make_app: Any, **settings: Any) -> Any:
    return make_app(embedded_worker=False, metrics_token=TOKEN, **{**BEATS, **settings})


def test_ready_while_a_separate_worker_lives_and_not_after_it_is_killed(
    make_app, database_url, workers
):
    """EXPECT_WORKERS=always: 503 without a worker, 200 once one beats, 503 again once the
    SIGKILLed worker's heartbeat is older than HOOKKIT_WORKER_TIMEOUT."""
    client = _api(make_app, expect_workers="always").test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "no delivery worker is alive" in response.json["detail"]
    assert _alive(client) == 0

    proc = workers.start(database_url, **BEATS)
    ready = wait_until(lambda: client.get("/readyz").status_code == 200 and client.get("/readyz"))
    assert ready.json["checks"]["worker"] == "not embedded: 1 separate worker(s) alive"
    assert _alive(client) == 1

    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    gone = wait_until(lambda: client.get("/readyz").status_code == 503 and client.get("/readyz"))
    assert "no heartbeat within 1s" in gone.json["detail"]
    assert gone.headers["Retry-After"] == "5"
    assert _alive(client) == 0


def test_a_worker_stopping_cleanly_removes_its_heartbeat(make_app, database_url, workers):
    """SIGTERM: the worker deletes its row as it stops, so it stops counting at once, long
    before its heartbeat would go stale (a timeout of a minute here)."""
    client = _api(make_app, expect_workers="always", worker_timeout="60s").test_client()
    proc = workers.start(database_url, heartbeat="200ms", worker_timeout="60s")
    wait_until(lambda: _alive(client) == 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert _alive(client) == 0
    assert client.get("/readyz").status_code == 503


def test_when_due_a_worker_is_needed_only_while_deliveries_wait(
    make_app, database_url, workers, receiver
):
    """The default rule (when-due): ready with no worker while nothing is due; 503 once a
    delivery has waited past its due time for HOOKKIT_WORKER_TIMEOUT and no worker beats;
    ready again when a worker comes and sends it."""
    app = _api(make_app)
    client = app.test_client()
    auth = _key(app, "acme")
    idle = client.get("/readyz")
    assert idle.status_code == 200
    assert idle.json["checks"]["worker"] == (
        "not embedded: no separate worker alive, nothing overdue"
    )

    subscribe(client, auth, receiver.url + "/hook")
    publish(client, auth)
    waiting = wait_until(lambda: client.get("/readyz").status_code == 503 and client.get("/readyz"))
    assert re.search(
        r"deliveries have waited \d+s past their due time and no delivery worker is alive "
        r"\(no heartbeat within 1s\)",
        waiting.json["detail"],
    )

    workers.start(database_url, **BEATS)
    receiver.wait_for(1)
    assert wait_until(lambda: client.get("/readyz").status_code == 200)


def test_never_skips_the_worker_check(make_app, receiver):
    """EXPECT_WORKERS=never: the API is ready without any worker, even with work due."""
    app = _api(make_app, expect_workers="never")
    client = app.test_client()
    auth = _key(app, "acme")
    subscribe(client, auth, receiver.url + "/hook")
    publish(client, auth)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert "not checked" in response.json["checks"]["worker"]


def test_the_embedded_worker_beats_too(make_app):
    """An API with its embedded worker counts it in `hookkit_workers_alive`."""
    client = make_app(metrics_token=TOKEN, **BEATS).test_client()
    assert wait_until(lambda: _alive(client) == 1)


def test_a_killed_workers_row_is_pruned_after_a_few_minutes(make_app, database_url, workers, clock):
    """A SIGKILLed worker leaves its row; once it is older than 5 minutes the next heartbeat
    of any live worker (here an embedded one, on a clock moved 6 minutes on) deletes it."""
    api = _api(make_app, expect_workers="always")
    proc = workers.start(database_url, **BEATS)
    wait_until(lambda: _alive(api.test_client()) == 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    store = Hookkit.of(api).store
    with store.read() as conn:
        (killed,) = conn.execute(select(workers_table.c.id)).scalars().all()
    clock.advance(6 * 60)
    live = make_app(clock=clock, **BEATS)

    def rows() -> list[str]:
        with store.read() as conn:
            return list(conn.execute(select(workers_table.c.id)).scalars().all())

    remaining = wait_until(lambda: killed not in rows() and rows())
    assert remaining == [Hookkit.of(live).worker.owner]


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({"HOOKKIT_EXPECT_WORKERS": "sometimes"}, "HOOKKIT_EXPECT_WORKERS='sometimes'"),
        (
            {"HOOKKIT_HEARTBEAT": "10s", "HOOKKIT_WORKER_TIMEOUT": "5s"},
            "HOOKKIT_WORKER_TIMEOUT=5.0",
        ),
        ({"HOOKKIT_HEARTBEAT": "0s"}, "HOOKKIT_HEARTBEAT=0.0"),
    ],
)
def test_bad_heartbeat_settings_stop_start_up(variables, problem):
    """A rule that is not when-due/always/never, or a timeout no longer than the heartbeat,
    is refused with a line naming the variable."""
    (line,) = env_problems(variables)
    assert problem in line
