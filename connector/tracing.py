"""Optional OpenTelemetry tracing (HOOKKIT_TRACING=true, the `tracing` extra installed).

One trace follows an event end to end: the publish request's server span (continuing the
product's incoming `traceparent`, if it sent one), then one client span per delivery
attempt, a child of the publish span whatever process sends it: the publish span's W3C
`traceparent` is stored with the event (`events.trace_context`, `current_traceparent`) and
read back with the claimed job (`attempt`). Each delivery carries its attempt span's
`traceparent` header, so the receiver can join the trace too.

This is the only module that imports OpenTelemetry, and only once tracing is on: with it
off (or not installed) nothing is imported and nothing changes on the wire. Spans carry
ids, the event type, the target host and the status, never a URL (its query often holds
the receiver's token), a header, a secret or a body.

Exporting is the operator's choice: if the process already has an OpenTelemetry SDK
tracer provider (e.g. from `opentelemetry-instrument`), hookkit uses it; otherwise it
installs one that exports over OTLP/HTTP when `opentelemetry-exporter-otlp-proto-http` is
installed (configured by the standard `OTEL_*` variables), and says so once when it is not.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("hookkit.tracing")
_lock = threading.Lock()
_tracer: Any = None  # None: not set up yet; False: OpenTelemetry is not installed
_QUERY = re.compile(r"\?[^\s)\]]+")  # URL queries in error texts (receivers' tokens)


def _get_tracer() -> Any:
    """The tracer, importing and setting up OpenTelemetry on first use (None: not installed)."""
    global _tracer
    if _tracer is None:
        with _lock:
            if _tracer is None:
                try:
                    from opentelemetry import trace
                except ImportError:
                    log.warning(
                        "HOOKKIT_TRACING=true but OpenTelemetry is not installed "
                        "(pip install 'hookkit[tracing]'): not tracing"
                    )
                    _tracer = False
                else:
                    _install_provider(trace)
                    _tracer = trace.get_tracer("hookkit")
    return _tracer or None


def _install_provider(trace: Any) -> None:
    """An SDK tracer provider, unless the process has one already."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES first
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "hookkit"}))
    provider = TracerProvider(resource=resource)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        log.warning(
            "tracing: no exporter installed (pip install opentelemetry-exporter-otlp-proto-http,"
            " or run under opentelemetry-instrument): spans are made and `traceparent` is sent,"
            " but no span leaves this process"
        )
    else:
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def _extract(traceparent: str | None, tracestate: str | None = None) -> Any:
    """An OpenTelemetry context whose parent is the W3C `traceparent` (None: a new trace)."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": traceparent or "", "tracestate": tracestate or ""}
    return TraceContextTextMapPropagator().extract({k: v for k, v in carrier.items() if v})


def _format(span: Any) -> str | None:
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


@contextmanager
def server_span(
    enabled: bool, name: str, headers: Mapping[str, str], **attributes: Any
) -> Iterator[None]:
    """The span of a request this process serves (current inside the block), continuing
    the caller's `traceparent` header; nothing at all when `enabled` is false."""
    tracer = _get_tracer() if enabled else None
    if tracer is None:
        yield
        return
    from opentelemetry.trace import SpanKind

    parent = _extract(headers.get("traceparent"), headers.get("tracestate"))
    with tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER, attributes=attributes
    ):
        yield


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the span current in this thread (what the event stores),
    or None: not tracing (and OpenTelemetry never imported for it)."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import trace

    return _format(trace.get_current_span())


class Attempt:
    """One delivery attempt's span: `traceparent` for its request, `end` with its result."""

    traceparent: str | None = None

    def end(self, status: int | None, error: str | None) -> None:
        """Not tracing: nothing to end."""


NOT_TRACED = Attempt()  # what `attempt` gives when not tracing


class _TracedAttempt(Attempt):
    def __init__(self, span: Any) -> None:
        self.span = span
        self.traceparent = _format(span)

    def end(self, status: int | None, error: str | None) -> None:
        from opentelemetry.trace import Status, StatusCode

        if status is not None:
            self.span.set_attribute("http.response.status_code", status)
        if error is not None:
            self.span.set_status(Status(StatusCode.ERROR, _QUERY.sub("?***", error)[:200]))
        self.span.end()


def attempt(enabled: bool, parent: str | None, **attributes: Any) -> Attempt:
    """Start an attempt's client span, a child of the stored publish `parent` (a new trace
    without one); end it with `Attempt.end`. Not tracing: a span-less `Attempt`."""
    tracer = _get_tracer() if enabled else None
    if tracer is None:
        return NOT_TRACED
    from opentelemetry.trace import SpanKind

    span = tracer.start_span(
        "webhook attempt",
        context=_extract(parent),
        kind=SpanKind.CLIENT,
        attributes={k: v for k, v in attributes.items() if v is not None},
    )
    return _TracedAttempt(span)
