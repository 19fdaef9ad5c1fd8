"""What moves through the delivery path: a claimed `Job`, an attempt's `Result`, and the
`Notice` an account hears about. Plain, read-only records; this module does nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..wire.outgoing import RequestSpec


@dataclass(frozen=True)
class Job:
    """One claimed delivery with everything needed to send it, read when it was claimed.

    Jobs of one hook share its `spec` and `secrets`, jobs of one event its `envelope`:
    all of them are read-only.
    """

    id: str
    account_id: str
    subscription_id: str
    attempt: int  # the number this attempt will have (1 = first try)
    is_test: bool
    host: str
    spec: RequestSpec
    secrets: list[str]
    envelope: dict[str, Any]
    event_type: str
    rate_limit: float | None
    log_response_body: bool
    hook_description: str
    # The hook's own delivery rules: delays before each retry (None: the deployment's), and
    # whether a 3xx counts as delivered ("2xx-3xx") or not ("2xx").
    retry_schedule: tuple[float, ...] | None = None
    success: str = "2xx"
    fifo: bool = False  # the hook's ordering when claimed (`outbox`: FIFO queues)
    # The publish request's W3C `traceparent` (`connector.tracing`); None: not traced.
    trace_context: str | None = None


@dataclass(frozen=True)
class Result:
    """What one attempt did and what happens next."""

    job: Job
    at: float
    duration_ms: float
    response_code: int | None
    error: str | None
    response_body: str | None
    outcome: str  # delivered | retrying | failed | gone
    next_attempt_at: float | None = None
    # A 429/503 receiver's `Retry-After`, as a time: the worker eases off its host until then.
    slow_down_until: float | None = None


@dataclass
class Notice:
    """What the account hears about by e-mail: an exhausted delivery or a disabled hook."""

    kind: str  # delivery_failed | hook_disabled
    account_id: str
    subscription_id: str
    description: str
    target_url: str
    event_type: str
    delivery_id: str
    response_code: int | None
    error: str | None
    extra: dict[str, Any] = field(default_factory=dict)
