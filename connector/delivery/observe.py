"""What operators see of each recorded attempt: one log line (`hookkit.delivery`) and the
delivery metrics (`metrics.attempts_recorded`).

Called once results are committed (`recording.record`), so a line and a count mean the
attempt is in the delivery log too. A line names the hook, event, `webhook-id`, target host,
status, duration, attempt and account; it never holds the target URL (its query often
carries the receiver's token), a header, a secret or a body, and URL queries inside error
texts are masked.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence

from .. import metrics
from ..logs import emit
from .jobs import Result

log = logging.getLogger("hookkit.delivery")
_QUERY = re.compile(r"\?[^\s)\]]+")
_NOT_SENT = ("not sent", "refused")


def was_sent(result: Result) -> bool:
    """Whether a request left for the receiver (not refused before: a mapping that gives no
    object, an unsafe address, plain http in production)."""
    return result.response_code is not None or not (result.error or "").startswith(_NOT_SENT)


def outcome_of(result: Result) -> str:
    """The metric's outcome: delivered, failed_attempt (retried later), exhausted (failed
    for good), gone (410: unsubscribed) or not_sent (refused before any request left, and
    retried later)."""
    if result.outcome == "delivered":
        return "delivered"
    if result.outcome == "gone":
        return "gone"
    if result.outcome == "failed":
        return "exhausted"
    if not was_sent(result):
        return "not_sent"
    return "failed_attempt"


def recorded(results: Sequence[Result]) -> None:
    """Count (once per batch) and log each committed attempt."""
    outcomes: Counter[str] = Counter()
    durations: list[float] = []
    for result in results:
        job = result.job
        outcome = outcome_of(result)
        outcomes[outcome] += 1
        if outcome != "not_sent":
            durations.append(result.duration_ms / 1000)
        level = logging.INFO if outcome == "delivered" else logging.WARNING
        if not log.isEnabledFor(level):  # the line is built only when it is written
            continue
        error = _QUERY.sub("?***", result.error) if result.error else None
        emit(
            log,
            f"attempt {job.attempt} of {job.id} to {job.host}: {outcome}"
            + (f" ({error})" if error else ""),
            level=level,
            hook_id=job.subscription_id,
            event_id=job.envelope.get("id"),
            webhook_id=job.id,
            host=job.host,
            status=result.response_code,
            outcome=outcome,
            duration_ms=round(result.duration_ms, 2),
            attempt=job.attempt,
            account=job.account_id,
            test=job.is_test,
            error=error,
        )
    metrics.attempts_recorded(outcomes, durations)
