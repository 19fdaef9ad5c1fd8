"""`GET /metrics`: Prometheus text, read back with prometheus-client's own parser, after real
deliveries to real receivers; the queue gauges come from the database; counts add up over
several gunicorn processes and a separate worker process (multiprocess mode).

Counted metrics live for the whole test process, so in-process tests compare a scrape
before with one after what they did.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from connector.testing import Receiver, Reply

from .conftest import SESSION, _key, free_port, hermetic_env, publish, subscribe, wait_until
from .test_notify import Mailbox, _serve

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "metrics-test-token-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by sample name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(client: Any) -> Samples:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain; version=")
    return parse(response.get_data(as_text=True))


def test_metrics_are_off_without_a_token_and_want_it(make_app):
    """Unset HOOKKIT_METRICS_TOKEN: 404. Set: no or a wrong bearer token is 401, not an API key."""
    off = make_app().test_client().get("/metrics", headers=BEARER)
    assert off.status_code == 404 and off.json["code"] == "not_found"
    app = make_app(metrics_token=TOKEN)
    client, api_key = app.test_client(), _key(app, "acme")
    for headers in ({}, {"Authorization": "Bearer nope"}, api_key, {"Authorization": TOKEN}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.content_type == "application/problem+json"
        assert TOKEN not in refused.get_data(as_text=True)
    assert client.get("/metrics", headers=BEARER).status_code == 200


def test_deliveries_are_counted_by_outcome(make_app):
    """After real deliveries (one delivered, one retried then delivered, one gone, one
    exhausted) the counters, both latency histograms and claims moved by exactly that."""
    app = make_app(metrics_token=TOKEN, retry_schedule="50ms")
    client, auth = app.test_client(), _key(app, "acme")
    before = scrape(client)
    with (
        Receiver([Reply(200)]) as fine,
        Receiver([Reply(500), Reply(200)]) as flaky,
        Receiver([Reply(410)]) as gone,
        Receiver([Reply(503)]) as broken,
    ):
        for receiver in (fine, flaky, gone, broken):
            subscribe(client, auth, receiver.url)
        publish(client, auth)
        for receiver, count in ((fine, 1), (flaky, 2), (gone, 1), (broken, 2)):
            receiver.wait_for(count)

        def settled() -> Samples | None:
            now = scrape(client)
            done = (
                value(now, "hookkit_backlog", state="due")
                + value(now, "hookkit_backlog", state="scheduled")
                + value(now, "hookkit_backlog", state="claimed")
            )
            return now if done == 0 else None

        after = wait_until(settled)
    delta = {
        outcome: value(after, "hookkit_deliveries_total", outcome=outcome)
        - value(before, "hookkit_deliveries_total", outcome=outcome)
        for outcome in ("delivered", "failed_attempt", "exhausted", "gone", "not_sent")
    }
    assert delta == {
        "delivered": 2,
        "failed_attempt": 2,
        "exhausted": 1,
        "gone": 1,
        "not_sent": 0,
    }

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("hookkit_events_accepted_total", type="session") == 1
    assert moved("hookkit_attempt_duration_seconds_count") == 6
    assert moved("hookkit_attempt_duration_seconds_sum") > 0
    assert moved("hookkit_publish_duration_seconds_count") == 1
    assert moved("hookkit_worker_claims_total") == 6
    assert value(after, "hookkit_hooks", status="active") == 3  # the 410 unsubscribed one
    assert value(after, "hookkit_hooks", status="paused") == 0


def test_backlog_gauges_are_read_from_the_database(make_app, clock):
    """Due, scheduled and held deliveries and the age of the oldest due one are what the
    database holds now, whichever process answers (no worker runs here)."""
    app = make_app(metrics_token=TOKEN, clock=clock, embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    hook = subscribe(client, auth, "http://127.0.0.1:9/never")
    other = subscribe(client, auth, "http://127.0.0.1:9/paused", event="share")
    for _ in range(3):
        publish(client, auth)
    clock.advance(90)
    share = app.extensions["hookkit"].catalog.get("share").sample
    publish(client, auth, share, type="share")
    client.patch(f"/v1/hooks/{other['id']}", json={"status": "paused"}, headers=auth)
    samples = scrape(client)
    assert value(samples, "hookkit_backlog", state="due") == 3
    assert value(samples, "hookkit_backlog", state="held") == 1
    assert value(samples, "hookkit_backlog", state="scheduled") == 0
    assert value(samples, "hookkit_backlog", state="claimed") == 0
    assert value(samples, "hookkit_oldest_due_age_seconds") == pytest.approx(90)
    assert value(samples, "hookkit_hooks", status="active") == 1
    assert value(samples, "hookkit_hooks", status="paused") == 1
    assert value(samples, "hookkit_leases_expired") == 0
    clock.advance(30)
    assert value(scrape(client), "hookkit_oldest_due_age_seconds") == pytest.approx(120)
    assert hook["id"]


def test_a_host_asking_to_slow_down_shows_its_limit(make_app, clock):
    """A 429 with Retry-After halves the host's concurrency limit until then: both show."""
    app = make_app(metrics_token=TOKEN, clock=clock, max_per_host=4)
    client, auth = app.test_client(), _key(app, "acme")
    slow_down = Reply(429, b"slow down", headers={"Retry-After": "120"})
    with Receiver([slow_down]) as receiver:
        subscribe(client, auth, receiver.url)
        publish(client, auth)
        receiver.wait_for(1)
        host = receiver.url.removeprefix("http://").split("/")[0]

        def limited() -> Samples | None:
            now = scrape(client)
            return now if value(now, "hookkit_host_concurrency_limit", host=host) else None

        samples = wait_until(limited)
    assert value(samples, "hookkit_host_concurrency_limit", host=host) == 2
    until = value(samples, "hookkit_host_concurrency_limit_until_seconds", host=host)
    assert until == pytest.approx(clock() + 120, abs=2)


def test_expired_leases_show_until_claimed_again(make_app, workers, clock):
    """A worker killed mid-send leaves claims whose lease then runs out: the gauge counts
    them (and they are due again) once the lease time has passed."""
    app = make_app(metrics_token=TOKEN, clock=clock, embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    with Receiver(lambda _request: Reply(delay=30)) as receiver:
        subscribe(client, auth, receiver.url)
        for _ in range(2):
            publish(client, auth)
        db = app.extensions["hookkit"].settings.database_url
        worker = workers.start(db, lease_seconds="5m", read_timeout="60s", max_per_host=1)
        receiver.wait_for(1)
        worker.kill()
        worker.wait(10)
        held = scrape(client)
        claimed = value(held, "hookkit_backlog", state="claimed")
        assert claimed >= 1 and value(held, "hookkit_leases_expired") == 0
        clock.advance(600)  # past the 5 minute lease
        expired = scrape(client)
    assert value(expired, "hookkit_leases_expired") == claimed
    assert value(expired, "hookkit_backlog", state="claimed") == 0
    assert value(expired, "hookkit_backlog", state="due") == 2


def test_emails_are_counted(make_app):
    """A failure e-mail the SMTP server accepts counts as sent; one it cannot take (the
    server is gone) as failed."""
    box = Mailbox()
    controller = _serve(box)
    url = f"smtp://127.0.0.1:{controller.port}"
    app = make_app(metrics_token=TOKEN, smtp_url=url, retry_schedule="")
    client, auth = app.test_client(), _key(app, "acme")
    client.patch("/v1/account", json={"notification_email": "ops@example.com"}, headers=auth)
    before = scrape(client)

    def moved(result: str, by: int) -> bool:
        now = scrape(client)
        was = value(before, "hookkit_emails_total", result=result)
        return value(now, "hookkit_emails_total", result=result) - was == by

    with Receiver([Reply(500)]) as receiver:
        subscribe(client, auth, receiver.url + "/first")
        try:
            publish(client, auth, type="session")
            box.wait_for(1)
            wait_until(lambda: moved("sent", 1))
        finally:
            controller.stop()
        subscribe(client, auth, receiver.url + "/second")  # a hook not cooling down
        publish(client, auth)
        wait_until(lambda: moved("failed", 1))
    assert moved("sent", 1)


# -- several processes -----------------------------------------------------------------------


def _get(url: str, **kwargs: Any) -> requests.Response | None:
    try:
        return requests.get(url, timeout=5, **kwargs)
    except requests.RequestException:
        return None


@pytest.mark.timeout(180)
def test_counts_add_up_over_gunicorn_processes_and_a_separate_worker(
    cli, database_url, workers, tmp_path
):
    """`serve --workers 2` and a separate `worker` process share HOOKKIT_METRICS_DIR: every
    scrape, whichever gunicorn process answers it, counts every event accepted by either
    process and every delivery the worker made."""
    metrics_dir = tmp_path / "metrics"
    key = cli("keys", "create", "acme").stdout.strip().splitlines()[-1]
    port = free_port()
    env = hermetic_env(
        HOOKKIT_DATABASE_URL=database_url,
        HOOKKIT_ALLOW_PRIVATE_TARGETS="true",
        HOOKKIT_PORT=str(port),
        HOOKKIT_EMBEDDED_WORKER="false",
        HOOKKIT_METRICS_TOKEN=TOKEN,
        HOOKKIT_METRICS_DIR=str(metrics_dir),
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--workers", "2", "--threads", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    events = 40
    try:
        wait_until(lambda: _get(base + "/healthz"), timeout=60)
        with Receiver() as receiver:
            hook = requests.post(
                base + "/v1/hooks",
                json={"event": "session", "target_url": receiver.url},
                headers=headers,
                timeout=10,
            )
            assert hook.status_code == 201
            for _ in range(events):  # a new connection each: both processes take some
                answer = requests.post(
                    base + "/v1/events",
                    json={"type": "session", "data": SESSION},
                    headers={**headers, "Connection": "close"},
                    timeout=10,
                )
                assert answer.status_code == 202
            workers.start(database_url, metrics_dir=str(metrics_dir))
            receiver.wait_for(events, timeout=60)

            def counted() -> list[Samples] | None:
                scrapes = [_get(base + "/metrics", headers=BEARER) for _ in range(8)]
                parsed = [parse(s.text) for s in scrapes if s is not None and s.ok]
                done = all(
                    value(p, "hookkit_deliveries_total", outcome="delivered") == events
                    for p in parsed
                )
                return parsed if len(parsed) == 8 and done else None

            scrapes = wait_until(counted, timeout=30)
        for samples in scrapes:
            assert value(samples, "hookkit_events_accepted_total", type="session") == events
            assert value(samples, "hookkit_publish_duration_seconds_count") == events
            assert value(samples, "hookkit_attempt_duration_seconds_count") == events
            assert value(samples, "hookkit_worker_claims_total") == events
            assert value(samples, "hookkit_backlog", state="due") == 0
        # Counted in more than one process: the API's and the worker's files.
        writers = {path.name.rsplit("_", 1)[-1] for path in metrics_dir.glob("counter_*.db")}
        assert len(writers) >= 2, sorted(metrics_dir.iterdir())
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def test_a_batch_is_one_publish_of_many_events(make_app):
    """`POST /v1/events/batch`: one publish latency for the request, one accepted event each."""
    app = make_app(metrics_token=TOKEN, embedded_worker=False)
    client, auth = app.test_client(), _key(app, "acme")
    before = scrape(client)
    events = [{"type": "session", "data": SESSION} for _ in range(3)]
    answer = client.post("/v1/events/batch", json={"events": events}, headers=auth)
    assert answer.status_code == 200 and answer.json["accepted"] == 3
    after = scrape(client)
    assert (
        value(after, "hookkit_publish_duration_seconds_count")
        - value(before, "hookkit_publish_duration_seconds_count")
        == 1
    )
    assert (
        value(after, "hookkit_events_accepted_total", type="session")
        - value(before, "hookkit_events_accepted_total", type="session")
        == 3
    )
