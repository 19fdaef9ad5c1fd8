"""One attempt from a claimed job to a `Result`: build and sign the request, send it, and
decide what happens next (delivered, gone, retried later, failed for good).

`attempt()` is the one path, used by the worker, test sends and redeliveries alike;
`RetryPolicy` says when a retry is due. Times come from the injected clock.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC
from email.utils import parsedate_to_datetime

from .. import tracing
from ..clock import Clock
from ..wire.mapping import MappingFailed
from ..wire.outgoing import build_request
from .jobs import Job, Result
from .sender import SLOW_DOWN_STATUSES, Outcome, Sender

# The longest a receiver's `Retry-After` may put off a retry, in seconds: a receiver asking
# for a day (or sending nonsense like 10**12) still gets its retry after an hour, if the
# hook's schedule has one left.
MAX_RETRY_AFTER = 3600.0

_DELAY_SECONDS = re.compile(r"[0-9]+")


def retry_after_delay(value: str | None, now: float) -> float | None:
    """Seconds from `now` that a `Retry-After` value asks to wait, at most `MAX_RETRY_AFTER`.

    Both forms of RFC 9110: delay-seconds (`120`) and an HTTP-date (`Wed, 21 Oct 2026
    07:28:00 GMT`, read against `now` on the injected clock). None when absent or unreadable;
    0 for a date in the past.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        return float(min(int(text), int(MAX_RETRY_AFTER)))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class RetryPolicy:
    """Delays before each retry (after the first try) with ± jitter, as a fraction."""

    schedule: tuple[float, ...]
    jitter: float = 0.1

    def next_at(
        self, attempt: int, now: float, rng: Callable[[], float] = random.random
    ) -> float | None:
        """When attempt number `attempt + 1` is due, or None when `attempt` was the last."""
        if attempt > len(self.schedule):
            return None
        delay = self.schedule[attempt - 1]
        return now + delay * (1 + self.jitter * (2 * rng() - 1))


async def attempt(
    job: Job,
    sender: Sender,
    policy: RetryPolicy,
    clock: Clock,
) -> Result:
    """Build, sign and send one attempt of `job`, and decide its fate."""
    now = clock()
    # HOOKKIT_TRACING: a span in the publish request's trace, named by the `traceparent`
    # header the request carries.
    span = _span(job) if sender.settings.tracing else tracing.NOT_TRACED
    outcome: Outcome | None = None
    try:
        try:
            request = build_request(
                job.spec, job.envelope, job.id, int(now), job.secrets, traceparent=span.traceparent
            )
        except MappingFailed as exc:
            outcome = Outcome(None, f"not sent: {exc}", 0.0, None)
        else:
            outcome = await sender.send(request.method, request.url, request.headers, request.body)
    finally:
        if outcome is None:
            span.end(None, "not finished")
        else:
            span.end(outcome.response_code, None if outcome.ok else outcome.error or "failed")
    return decide(job, outcome, policy, started=now, finished=clock())


def _span(job: Job) -> tracing.Attempt:
    return tracing.attempt(
        True,
        job.trace_context,
        **{
            "hookkit.hook_id": job.subscription_id,
            "hookkit.event_id": job.envelope.get("id"),
            "hookkit.event_type": job.event_type,
            "hookkit.webhook_id": job.id,
            "hookkit.attempt": job.attempt,
            "server.address": job.host,
        },
    )


def crashed(job: Job, exc: BaseException, policy: RetryPolicy, clock: Clock) -> Result:
    """The result of an attempt that failed inside hookkit: logged and retried like any other."""
    now = clock()
    outcome = Outcome(None, f"internal error: {type(exc).__name__}: {exc}", 0.0, None)
    return decide(job, outcome, policy, started=now, finished=now)


def decide(
    job: Job, outcome: Outcome, policy: RetryPolicy, *, started: float, finished: float
) -> Result:
    """What an attempt's outcome means: delivered, gone, retried later, or failed for good.

    The hook's own rules come first: its retry schedule over the deployment's `policy`, and
    its success rule ("2xx-3xx" counts a redirect as delivered; it is never followed).
    A 429 or 503 with `Retry-After` puts the next attempt no sooner than asked (capped at
    `MAX_RETRY_AFTER`); it is still one of the schedule's retries, so an exhausted schedule
    fails as usual. The result's `slow_down_until` tells the worker to ease off the host.
    """
    body = outcome.response_body if job.log_response_body else None
    code = outcome.response_code
    redirect_accepted = job.success == "2xx-3xx" and code is not None and 300 <= code < 400
    if outcome.ok or redirect_accepted:
        return Result(
            job, started, outcome.duration_ms, outcome.response_code, None, body, "delivered"
        )
    if outcome.response_code == 410:
        error = "410 Gone: the receiver asked to be unsubscribed; the hook was deleted"
        return Result(job, started, outcome.duration_ms, 410, error, body, "gone")
    if job.retry_schedule is not None:
        policy = replace(policy, schedule=job.retry_schedule)
    next_at = None if job.is_test else policy.next_at(job.attempt, finished)
    error = outcome.error
    slow_down_until = None
    asked = retry_after_delay(outcome.retry_after, finished) if code in SLOW_DOWN_STATUSES else None
    if asked:
        slow_down_until = finished + asked
        shown = (outcome.retry_after or "").strip()[:64]  # the receiver's words, bounded
        if next_at is None:
            error = f"{error} (Retry-After: {shown}; no retries left)"
        else:
            next_at = max(next_at, slow_down_until)
            capped = ", capped" if asked >= MAX_RETRY_AFTER else ""
            error = f"{error} (Retry-After: {shown}; waiting at least {asked:g}s{capped})"
    return Result(
        job,
        started,
        outcome.duration_ms,
        outcome.response_code,
        error,
        body,
        "retrying" if next_at is not None else "failed",
        next_at,
        slow_down_until,
    )
