"""Tracing (HOOKKIT_TRACING=true, OpenTelemetry): one trace from the publish request, which
continues the product's `traceparent`, through every delivery attempt; each delivery carries
its attempt's `traceparent`. Spans are read with the SDK's in-memory exporter; with tracing
off, nothing changes on the wire and OpenTelemetry is never imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from connector.testing import Receiver, Reply

from .conftest import (
    FAST,
    SESSION,
    _key,
    all_delivered,
    hermetic_env,
    publish,
    subscribe,
    verify_both,
    wait_until,
)

ROOT = Path(__file__).resolve().parent.parent
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
INCOMING = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture(scope="module")
def provider() -> TracerProvider:
    """The process's SDK tracer provider (installed once; hookkit uses one already set)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    return provider


@pytest.fixture
def spans(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    """Every span ended during the test, in memory."""
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    yield exporter
    exporter.clear()
    processor.shutdown()  # it then drops what later tests' spans would add


def _parts(traceparent: str) -> tuple[str, str]:
    """(trace id, parent span id) of a W3C traceparent header."""
    version, trace_id, span_id, _flags = traceparent.split("-")
    assert version == "00"
    return trace_id, span_id


def _ended(exporter: InMemorySpanExporter, kind: SpanKind, count: int) -> list[Any]:
    """Wait until `count` spans of `kind` have ended; those spans."""
    return wait_until(  # type: ignore[no-any-return]
        lambda: (
            found
            if len(found := [s for s in exporter.get_finished_spans() if s.kind == kind]) >= count
            else None
        )
    )


def test_one_trace_from_the_publish_request_to_the_receiver(make_app, spans, receiver):
    """An incoming traceparent is continued by the publish span; the attempt span is its
    child with the hook, event, webhook-id and status; the receiver gets a traceparent of
    that attempt in the same trace, and the signature still verifies."""
    app = make_app(tracing=True)
    client = app.test_client()
    auth = _key(app, "acme")
    hook = subscribe(client, auth, receiver.url + "/hook")
    response = client.post(
        "/v1/events",
        json={"type": "session", "data": SESSION},
        headers={**auth, "traceparent": INCOMING},
    )
    assert response.status_code == 202
    event_id = response.json["id"]
    (got,) = receiver.wait_for(1)
    verify_both(hook["secret"], got.body.decode(), got)
    sent_trace, sent_parent = _parts(got.header("traceparent") or "")
    assert sent_trace == TRACE_ID

    (publish_span,) = _ended(spans, SpanKind.SERVER, 1)
    (attempt_span,) = _ended(spans, SpanKind.CLIENT, 1)
    assert publish_span.name == "POST /v1/events"
    assert format(publish_span.context.trace_id, "032x") == TRACE_ID
    assert format(publish_span.parent.span_id, "016x") == PARENT_ID
    assert attempt_span.context.trace_id == publish_span.context.trace_id
    assert attempt_span.parent.span_id == publish_span.context.span_id
    assert format(attempt_span.context.span_id, "016x") == sent_parent
    attributes = attempt_span.attributes
    assert attributes["hookkit.hook_id"] == hook["id"]
    assert attributes["hookkit.event_id"] == event_id
    assert attributes["hookkit.webhook_id"] == got.header("webhook-id")
    assert attributes["http.response.status_code"] == 200
    assert attributes["hookkit.attempt"] == 1


def test_every_attempt_of_a_retried_delivery_joins_the_publish_trace(make_app, spans):
    """A 500 then a 200: two attempt spans, both children of the one publish span, and the
    receiver saw a different traceparent (span) per attempt within the same trace."""
    with Receiver([Reply(500), Reply(200)]) as receiver:
        app = make_app(tracing=True)
        client = app.test_client()
        auth = _key(app, "acme")
        hook = subscribe(client, auth, receiver.url + "/hook")
        publish(client, auth)
        first, second = receiver.wait_for(2)
        wait_until(lambda: all_delivered(client, auth, hook["id"], 1))
    (publish_span,) = _ended(spans, SpanKind.SERVER, 1)
    attempts = sorted(
        _ended(spans, SpanKind.CLIENT, 2), key=lambda s: s.attributes["hookkit.attempt"]
    )
    assert [s.attributes["http.response.status_code"] for s in attempts] == [500, 200]
    assert not attempts[0].status.is_ok and attempts[1].status.is_ok
    assert {s.parent.span_id for s in attempts} == {publish_span.context.span_id}
    assert {s.context.trace_id for s in attempts} == {publish_span.context.trace_id}
    header_ids = [_parts(r.header("traceparent") or "") for r in (first, second)]
    assert header_ids == [
        (format(s.context.trace_id, "032x"), format(s.context.span_id, "016x")) for s in attempts
    ]


def test_a_separate_worker_continues_the_trace_stored_with_the_event(
    make_app, database_url, workers, spans, receiver
):
    """The publish span's context travels with the event: a `python -m connector worker`
    process sends the delivery with a traceparent in the publish request's trace."""
    app = make_app(tracing=True, embedded_worker=False)
    client = app.test_client()
    auth = _key(app, "acme")
    subscribe(client, auth, receiver.url + "/hook")
    response = client.post(
        "/v1/events",
        json={"type": "session", "data": SESSION},
        headers={**auth, "traceparent": INCOMING},
    )
    assert response.status_code == 202
    workers.start(database_url, tracing=True)
    (got,) = receiver.wait_for(1, timeout=20)
    trace_id, parent = _parts(got.header("traceparent") or "")
    (publish_span,) = _ended(spans, SpanKind.SERVER, 1)
    assert trace_id == TRACE_ID
    assert parent not in (PARENT_ID, format(publish_span.context.span_id, "016x"))


_UNTRACED = textwrap.dedent(
    """
    import json, sys
    from connector import create_app
    from connector.hooks.accounts import create_key, ensure_account
    from connector.service import Hookkit
    from connector.testing import Receiver

    settings = json.loads(sys.argv[1])
    with Receiver() as receiver:
        app = create_app(settings)
        hookkit = Hookkit.of(app)
        account = ensure_account(hookkit.store, "acme", clock=hookkit.clock)
        key = create_key(hookkit.store, account, clock=hookkit.clock)
        auth = {"Authorization": f"Bearer {key}", "traceparent": sys.argv[2]}
        client = app.test_client()
        hook = {"event": "session", "target_url": receiver.url}
        hook = client.post("/v1/hooks", json=hook, headers=auth)
        event = {"type": "session", "data": json.loads(sys.argv[3])}
        event = client.post("/v1/events", json=event, headers=auth)
        (got,) = receiver.wait_for(1)
        hookkit.close()
    print(json.dumps({
        "statuses": [hook.status_code, event.status_code],
        "headers": sorted(name.lower() for name in got.headers),
        "imported": sorted(m for m in sys.modules if m.startswith("opentelemetry")),
    }))
    """
)


def test_with_tracing_off_nothing_changes_and_opentelemetry_is_not_imported(database_url):
    """HOOKKIT_TRACING=false (the default), even with OpenTelemetry installed and a
    traceparent sent: no traceparent on the delivery and no OpenTelemetry module loaded."""
    import json

    settings = {**FAST, "database_url": database_url, "log_level": "ERROR"}
    run = subprocess.run(
        [sys.executable, "-c", _UNTRACED, json.dumps(settings), INCOMING, json.dumps(SESSION)],
        cwd=ROOT,
        env=hermetic_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["statuses"] == [201, 202]
    assert "webhook-id" in found["headers"]
    assert "traceparent" not in found["headers"]
    assert found["imported"] == []
